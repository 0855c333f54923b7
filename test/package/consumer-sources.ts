/** The files the consumer project of consumer.test.ts compiles and runs, written as users would. */

export const CORE_ROUND_TRIP = `import assert from 'node:assert/strict';
import { MemoryQueue, Pump } from 'sluice';

const queue = new MemoryQueue<{ n: number }>({ maxsize: 4 });
const seen: number[] = [];
const draining = new Pump(queue, async (message: { n: number }) => {
  seen.push(message.n);
}).draining({ concurrency: 2, graceful: true });

for (let n = 0; n < 10; n++) await queue.send({ n });
await queue.close();
await draining.stop();

assert.deepEqual(
  seen.sort((a, b) => a - b),
  [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
);
console.log(\`round trip: \${seen.length} messages\`);
`;

export const REDIS_ROUND_TRIP = `import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { Pump } from 'sluice';
import { RedisQueue } from 'sluice/redis';

const url = 'redis://127.0.0.1:6379';
const name = \`sluice-package-test-\${process.pid}-\${Date.now()}\`;
const queue = new RedisQueue<{ n: number }>(name, { url });
const seen: number[] = [];
try {
  for (let n = 0; n < 5; n++) await queue.send({ n });
  const draining = new Pump(queue, async (message: { n: number }) => {
    seen.push(message.n);
  }).draining({ concurrency: 2 });
  const deadline = Date.now() + 10_000;
  while (seen.length < 5 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  await draining.stop();
} finally {
  await queue.close();
  const redis = new Redis(url);
  for (const queueName of [name, \`\${name}.dead\`]) {
    const keys = await redis.keys(\`sluice:{\${queueName}}:*\`);
    if (keys.length > 0) await redis.del(...keys);
  }
  await redis.quit();
}

assert.deepEqual(
  seen.sort((a, b) => a - b),
  [0, 1, 2, 3, 4],
);
console.log(\`redis round trip: \${seen.length} messages\`);
`;
