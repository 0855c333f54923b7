import { describe, expect, it } from 'vitest';
import { brokersOf, extractBlocks } from './extract-blocks.js';

const page = [
  '# A page', // 1
  '```ts', // 2
  "import { MemoryQueue } from 'sluice';", // 3
  '```', // 4
  '```sh', // 5
  'npm test', // 6
  '```', // 7
  '- a list item:', // 8
  '', // 9
  '  ```typescript run', // 10
  '  const answer = 42;', // 11
  '    console.log(answer);', // 12
  '  ```', // 13
  '~~~ts fragment', // 14
  'readonly size: number;', // 15
  '~~~', // 16
  '````ts', // 17
  '```', // 18
  '````', // 19
].join('\n');

describe('extractBlocks', () => {
  const blocks = extractBlocks(page, 'page.md');

  it('finds ts and typescript blocks only, with their kind and first code line', () => {
    expect(blocks.map(({ kind, line }) => [kind, line])).toEqual([
      ['check', 3],
      ['run', 11],
      ['fragment', 15],
      ['check', 18],
    ]);
  });

  it("removes the opening fence's indentation, and only that much", () => {
    expect(blocks[1]?.code).toBe('const answer = 42;\n  console.log(answer);');
  });

  it('ends a block only at a fence of its own kind, at least as long', () => {
    expect(blocks[3]?.code).toBe('```');
  });

  it('refuses an unknown word after ts, which would otherwise switch a check off', () => {
    expect(() => extractBlocks('```ts runnable\n```', 'typo.md')).toThrow(
      'typo.md:1: unknown code block info',
    );
  });
});

describe('brokersOf', () => {
  it('names the broker a block imports, by entry point or client', () => {
    expect(brokersOf("import { RedisQueue } from 'sluice/redis';")).toEqual(['redis']);
    expect(brokersOf("import { Pool } from 'pg';\nimport { connect } from 'amqplib';")).toEqual([
      'postgres',
      'rabbitmq',
    ]);
    expect(brokersOf("import { connect } from '@nats-io/transport-node';")).toEqual(['nats']);
    expect(brokersOf("import { MemoryQueue } from 'sluice';")).toEqual([]);
  });
});
