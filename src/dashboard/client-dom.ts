/**
 * The client script's helpers (plain browser JavaScript, served as part of `/app.js`): building
 * elements whose data is only ever set as text, the server calls, the confirmation dialog.
 */
export const CLIENT_DOM = `
const readOnly = document.body.dataset.readOnly === 'true';
const hasJobs = document.body.dataset.jobs === 'true';

function byId(id) {
  return document.getElementById(id);
}

/** An element; 'text' is set as textContent, never parsed as markup. */
function el(tag, attributes, children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (name === 'text') node.textContent = value;
    else if (name === 'class') node.className = value;
    else node.setAttribute(name, value);
  }
  for (const child of children || []) if (child) node.appendChild(child);
  return node;
}

function button(label, onClick, className) {
  const node = el('button', { type: 'button', text: label, class: className || '' });
  node.addEventListener('click', onClick);
  return node;
}

function showStatus(message, isError) {
  const status = byId('status');
  status.textContent = message;
  status.className = isError ? 'error' : '';
}

function formatTime(ms) {
  return ms === null || ms === undefined ? '' : new Date(ms).toLocaleString();
}

async function answer(response) {
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || response.status + ' ' + response.statusText);
  return body;
}

function getJson(path) {
  return fetch(path, { credentials: 'same-origin', headers: { Accept: 'application/json' } }).then(answer);
}

function postAction(queue, action, body) {
  return fetch('/api/queues/' + encodeURIComponent(queue) + '/' + action, {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify(body || {}),
  }).then(answer);
}

/** Asks in the page's own dialog; resolves true only on Confirm. */
function confirmAction(question) {
  const dialog = byId('confirm');
  byId('confirm-text').textContent = question;
  return new Promise((resolve) => {
    const ok = byId('confirm-ok');
    const cancel = byId('confirm-cancel');
    const finish = (confirmed) => {
      ok.removeEventListener('click', onOk);
      cancel.removeEventListener('click', onCancel);
      dialog.removeEventListener('close', onCancel);
      if (dialog.open) dialog.close();
      resolve(confirmed);
    };
    const onOk = () => finish(true);
    const onCancel = () => finish(false);
    ok.addEventListener('click', onOk);
    cancel.addEventListener('click', onCancel);
    dialog.addEventListener('close', onCancel);
    dialog.showModal();
    cancel.focus();
  });
}

/** Confirms, runs an action, reports it, then calls 'after' (to refresh what it changed). */
async function act(queue, action, body, question, after) {
  if (!(await confirmAction(question))) return;
  try {
    const result = await postAction(queue, action, body);
    const count = typeof result.count === 'number' ? ': ' + result.count + ' message(s)' : '';
    showStatus(action + ' ' + queue + ' done' + count, false);
    if (after) await after();
  } catch (error) {
    showStatus(action + ' ' + queue + ' failed: ' + error.message, true);
  }
}
`;
