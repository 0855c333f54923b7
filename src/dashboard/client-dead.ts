/**
 * The client's dead-letter view (part of `/app.js`): one queue's dead letters a page at a time,
 * oldest first, each message shown as text, with redrive and discard.
 */
export const CLIENT_DEAD = `
const dead = { queue: null, after: undefined, next: null };

async function openDead(queue, after) {
  dead.queue = queue;
  dead.after = after;
  byId('dead-queue').textContent = queue;
  byId('dead').hidden = false;
  try {
    const query = after === undefined ? '' : '?after=' + encodeURIComponent(after);
    const page = await getJson('/api/queues/' + encodeURIComponent(queue) + '/dead-letters' + query);
    if (dead.queue !== queue) return;
    dead.next = page.next;
    byId('dead-list').replaceChildren(...page.letters.map((letter) => letterItem(queue, letter)));
    byId('dead-empty').hidden = page.letters.length > 0;
    byId('dead-next').disabled = page.next === null;
    byId('dead-first').disabled = after === undefined;
    byId('dead-redrive-all').disabled = page.letters.length === 0;
  } catch (error) {
    showStatus('reading the dead letters of ' + queue + ' failed: ' + error.message, true);
  }
}

function refreshDead() {
  return dead.queue === null ? undefined : openDead(dead.queue, dead.after);
}

function letterItem(queue, letter) {
  const head = el('div', { class: 'letter-head' }, [
    el('span', { class: 'id', text: letter.id }),
    el('span', { class: 'reason', text: letter.reason }),
    el('span', { class: 'meta', text: 'attempt ' + letter.attempt + ' · ' + formatTime(letter.deadAt) }),
  ]);
  if (!readOnly) {
    const ids = { ids: [letter.id] };
    head.appendChild(
      el('span', { class: 'buttons' }, [
        button('Redrive', () => act(queue, 'redrive', ids, 'Redrive dead letter ' + letter.id + ' to queue ' + queue + '?', refreshDead), 'action redrive'),
        button('Discard', () => act(queue, 'discard', ids, 'Delete dead letter ' + letter.id + ' of queue ' + queue + ' for good?', refreshDead), 'action danger discard'),
      ]),
    );
  }
  return el('li', { 'data-id': letter.id }, [head, el('pre', { class: 'message', text: letter.message })]);
}

function wireDead() {
  byId('dead-first').addEventListener('click', () => openDead(dead.queue, undefined));
  byId('dead-next').addEventListener('click', () => dead.next !== null && openDead(dead.queue, dead.next));
  byId('dead-refresh').addEventListener('click', refreshDead);
  byId('dead-close').addEventListener('click', () => {
    dead.queue = null;
    byId('dead').hidden = true;
  });
  const redriveAll = byId('dead-redrive-all');
  if (readOnly) redriveAll.remove();
  else
    redriveAll.addEventListener('click', () =>
      act(dead.queue, 'redrive', {}, 'Redrive every dead letter of queue ' + dead.queue + ' back to it?', () => openDead(dead.queue, undefined)),
    );
}
`;
