/** The tables bench/postgres.ts prints: PostgresQueue against pg-boss, and each pg-boss configuration tried. */
import { printTable } from './publish.js';

export interface BossResult {
  config: string;
  rate: number;
}

export interface PostgresResults {
  messages: number;
  concurrency: number;
  processing: number;
  enqueue: number;
  latency: { p50: number; p99: number };
  bossRuns: BossResult[];
  insert: number;
  bossLatency: { p50: number; p99: number };
  /** Claims per second with 10,000 (small) and 1,000,000 (large) rows queued. */
  claimRates: { small: number; large: number };
}

export function printPostgresResults(results: PostgresResults): void {
  const { messages, concurrency, processing, enqueue, latency, bossRuns, insert, bossLatency } = results;
  const { small, large } = results.claimRates;
  const bossBest = bossRuns.reduce((best, run) => (run.rate > best.rate ? run : best));
  const rate = (value: number) => `${Math.round(value).toLocaleString('en-US')}/s`;
  const ms = (value: number) => `${value.toFixed(2)} ms`;
  printTable(
    'PostgresQueue vs pg-boss 10',
    ['PostgreSQL', 'sluice PostgresQueue', 'pg-boss 10', 'ratio', 'target'],
    [
      [
        `process ${messages.toLocaleString('en-US')} no-op (sluice: Pump ×${concurrency}; pg-boss: best below)`,
        rate(processing),
        rate(bossBest.rate),
        `${(processing / bossBest.rate).toFixed(2)}×`,
        '≥ 3×',
      ],
      [
        `enqueue ${messages.toLocaleString('en-US')} (sluice: concurrent send; pg-boss: insert)`,
        rate(enqueue),
        rate(insert),
        `${(enqueue / insert).toFixed(2)}×`,
        '≥ 1×',
      ],
      [
        'send → handled p50, idle queue',
        ms(latency.p50),
        ms(bossLatency.p50),
        `${(bossLatency.p50 / latency.p50).toFixed(0)}× faster`,
        '≤ 3 ms',
      ],
      ['send → handled p99, idle queue', ms(latency.p99), ms(bossLatency.p99), '', ''],
      ['claim rate, 10,000 rows queued', rate(small), '', '', ''],
      [
        'claim rate, 1,000,000 rows queued',
        rate(large),
        '',
        `${(large / small).toFixed(2)}× of 10k`,
        '≥ 0.5×',
      ],
    ],
  );
  console.log('');
  printTable(
    'pg-boss processing configurations',
    ['pg-boss processing configuration', 'rate'],
    bossRuns.map((run) => [`${run.config}${run === bossBest ? ' (best)' : ''}`, rate(run.rate)]),
  );
}
