import { afterAll, describe } from 'vitest';
import { flowSuite } from '../conformance/flow.js';
import { removeDatabase, sqliteHarness } from './sqlite-harness.js';

// SQLite needs no server: nothing to probe, the suite always runs.
describe('SqliteQueue flow control', () => {
  afterAll(() => removeDatabase());

  flowSuite(sqliteHarness);
});
