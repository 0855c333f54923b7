import { NatsJobStore } from '../../src/transports/nats/index.js';
import { jobBuckets } from '../../src/transports/nats/job-buckets.js';
import { subjectPrefix } from '../../src/transports/nats/names.js';
import { brokerAvailable } from '../support/broker.js';
import { lockNatsServer, NATS_URL, open, purge, withConnection } from '../transports/nats-harness.js';
import { cliScenarios } from './scenarios.js';

cliScenarios(
  {
    name: 'NATS',
    url: NATS_URL,
    open,
    async purge(name) {
      await purge(name);
      // The buckets of the job test's store, named after its queue.
      await withConnection(async (connection) => {
        for (const bucket of Object.values(jobBuckets(name))) {
          await connection.jsm.streams.delete(`KV_${bucket}`).catch(() => {}); // never created
        }
      });
    },
    // A bare publish: it is stored only if the stream and its consumer exist (declare made them).
    rawSend: (name, body) =>
      withConnection(async (connection) => {
        await connection.js.publish(`${subjectPrefix(name)}p0`, body);
      }),
    jobStore: (name) => new NatsJobStore({ url: NATS_URL, name }),
    setup: lockNatsServer,
  },
  await brokerAvailable('nats'),
);
