import { CLIENT_DEAD } from './client-dead.js';
import { CLIENT_DOM } from './client-dom.js';
import { CLIENT_JOBS } from './client-jobs.js';
import { CLIENT_QUEUES } from './client-queues.js';

/**
 * The page's script, served as `/app.js`: plain browser JavaScript, no build step, no dependency.
 * It sets every piece of data as text (`textContent`), never as markup.
 */
export const CLIENT_SCRIPT = `'use strict';
(() => {
${CLIENT_DOM}
${CLIENT_QUEUES}
${CLIENT_DEAD}
${CLIENT_JOBS}
if (readOnly) byId('mode').hidden = false;
wireDead();
wireJobs();
connect();
})();
`;
