import { fileURLToPath } from 'node:url';
import { jobStoreConformanceSuite } from './job-store.js';

jobStoreConformanceSuite({
  name: 'MemoryJobStore',
  module: fileURLToPath(new URL('./memory-job-store.ts', import.meta.url)),
  shared: false,
});
