import { describe, expect, it, vi } from 'vitest';
import { uniqueId } from '../../src/queuing/unique-id.js';

describe('uniqueId', () => {
  it('never repeats within a process, and needs no escaping in JSON', () => {
    const ids = Array.from({ length: 100_000 }, uniqueId);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.every((id) => /^[\w-]+$/.test(id) && id.length <= 20)).toBe(true);
  });

  it('draws a fresh random prefix in every process (each loads its own copy of the module)', async () => {
    const prefixes = new Set<string>();
    for (let copy = 0; copy < 5; copy++) {
      vi.resetModules();
      const fresh = await import('../../src/queuing/unique-id.js');
      prefixes.add(fresh.uniqueId().slice(0, 16));
    }
    expect(prefixes.size).toBe(5);
  });
});
