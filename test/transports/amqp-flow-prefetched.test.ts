/**
 * How an AmqpQueue consumer picks what it hands out among what RabbitMQ pushed to it (SPEC § 7):
 * the groups in turn, each group's messages in their order, and a group at its cap skipped. No
 * broker is needed: these are the consumer's own structures.
 */
import { describe, expect, it } from 'vitest';
import { GroupSlots } from '../../src/transports/amqp/group-slots.js';
import { Prefetched } from '../../src/transports/amqp/prefetched.js';

interface Held {
  readonly n: number;
  readonly group?: string | undefined;
}

function held(...deliveries: Held[]): { prefetched: Prefetched<Held>; putBack: Held[] } {
  const putBack: Held[] = [];
  const prefetched = new Prefetched<Held>((delivery) => putBack.push(delivery));
  for (const delivery of deliveries) prefetched.hold(delivery);
  return { prefetched, putBack };
}

function takeAll(prefetched: Prefetched<Held>, admits?: (group: string | undefined) => boolean): number[] {
  const taken: number[] = [];
  for (let delivery = prefetched.take(admits); delivery !== undefined; delivery = prefetched.take(admits)) {
    taken.push(delivery.n);
  }
  return taken;
}

describe('an AmqpQueue consumer choosing what to hand out', () => {
  it('takes the groups in turn, the default group among them, each group in its order', () => {
    const { prefetched } = held(
      { n: 1 },
      { n: 2, group: 'a' },
      { n: 3, group: 'a' },
      { n: 4, group: 'a' },
      { n: 5, group: 'b' },
      { n: 6 },
      { n: 7, group: 'b' },
    );
    expect(prefetched.size).toBe(7);
    expect(takeAll(prefetched)).toEqual([1, 2, 5, 6, 3, 7, 4]);
    expect(prefetched.size).toBe(0);
  });

  it('a group arriving while another has a backlog is served at the next turn', () => {
    const { prefetched } = held({ n: 1, group: 'big' }, { n: 2, group: 'big' }, { n: 3, group: 'big' });
    expect(prefetched.take()?.n).toBe(1);
    prefetched.hold({ n: 10, group: 'small' });
    expect(takeAll(prefetched)).toEqual([2, 10, 3]);
  });

  it('with no grouped message, hands out in arrival order', () => {
    const { prefetched } = held({ n: 1 }, { n: 2 }, { n: 3 });
    expect(takeAll(prefetched)).toEqual([1, 2, 3]);
  });

  it('skips a group at its cap until one of its deliveries is settled', () => {
    const slots = new GroupSlots<Held>();
    slots.cap = 1;
    const { prefetched } = held({ n: 1, group: 'a' }, { n: 2, group: 'a' }, { n: 3 }, { n: 4 });
    const taken: Held[] = [];
    for (let delivery = prefetched.take(slots.admits); delivery !== undefined; ) {
      slots.taken(delivery);
      taken.push(delivery);
      delivery = prefetched.take(slots.admits);
    }
    expect(taken.map((delivery) => delivery.n)).toEqual([1, 3]);
    expect(slots.given(taken[0]!)).toBe(true);
    expect(prefetched.take(slots.admits)?.n).toBe(2);
    expect(slots.given({ n: 99, group: 'a' })).toBe(false); // never counted
  });

  it('hands nothing out after a resume until opened, and puts everything back once cancelled', async () => {
    const { prefetched, putBack } = held({ n: 1, group: 'a' }, { n: 2 });
    prefetched.resume();
    expect(prefetched.take()).toBeUndefined();
    prefetched.opened();
    expect(prefetched.take()?.n).toBe(1);
    await prefetched.cancelledAfter(Promise.resolve());
    expect(putBack.map((delivery) => delivery.n)).toEqual([2]);
    prefetched.hold({ n: 3, group: 'b' });
    expect(putBack.map((delivery) => delivery.n)).toEqual([2, 3]);
  });
});
