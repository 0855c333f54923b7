import { dashboardBrowserSuite } from './browser-suite.js';
import { deadLetter, memoryQueue } from './queues.js';

let count = 0;
dashboardBrowserSuite({
  name: 'MemoryQueue',
  open: (label) => memoryQueue(`${label}-${++count}`),
  deadLetter,
  cleanup: async () => {},
});
