/** The client's jobs view (part of `/app.js`): a job by id, and the recently failed jobs. */
export const CLIENT_JOBS = `
const JOB_FIELDS = [
  ['id', 'Job'], ['task', 'Task'], ['status', 'Status'], ['attempt', 'Attempt'], ['error', 'Error'],
  ['args', 'Arguments'], ['result', 'Result'], ['progress', 'Progress'],
  ['createdAt', 'Created'], ['startedAt', 'Started'], ['endedAt', 'Ended'],
];

async function lookUpJob(id) {
  const found = byId('job-found');
  try {
    const { job } = await getJson('/api/jobs/' + encodeURIComponent(id));
    const list = el('dl', { class: 'job' });
    for (const [field, label] of JOB_FIELDS) {
      const value = job[field];
      if (value === null || value === undefined) continue;
      const shown = field.endsWith('At') ? formatTime(value) : String(value);
      const isBlock = field === 'args' || field === 'result' || field === 'progress';
      list.append(el('dt', { text: label }), el('dd', {}, [el(isBlock ? 'pre' : 'span', { text: shown })]));
    }
    found.replaceChildren(list);
  } catch (error) {
    found.replaceChildren(el('p', { class: 'error', text: error.message }));
  }
}

async function loadFailedJobs() {
  try {
    const { jobs } = await getJson('/api/failed-jobs');
    byId('failed-rows').replaceChildren(
      ...jobs.map((job) => {
        const open = button(job.id, () => {
          byId('job-id').value = job.id;
          lookUpJob(job.id);
        }, 'job-link');
        return el('tr', {}, [
          el('td', {}, [open]),
          el('td', { text: job.task }),
          el('td', { text: job.status }),
          el('td', { class: 'num', text: String(job.attempt) }),
          el('td', { text: job.error || '' }),
          el('td', { text: formatTime(job.endedAt) }),
        ]);
      }),
    );
  } catch (error) {
    showStatus('reading the failed jobs failed: ' + error.message, true);
  }
}

function wireJobs() {
  if (!hasJobs) return;
  byId('jobs').hidden = false;
  byId('job-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const id = byId('job-id').value.trim();
    if (id !== '') lookUpJob(id);
  });
  byId('failed-refresh').addEventListener('click', loadFailedJobs);
  loadFailedJobs();
}
`;
