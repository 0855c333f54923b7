import { takeNow } from '../queuing/hand-off.js';
import { drainingQueue, type MemoryDrainingOptions } from '../queuing/pump/draining-queue.js';
import type { PumpDispatcher } from '../queuing/pump/pump.js';
import type { Delivery, Queue } from '../queuing/types.js';
import type { QueueTelemetry } from './queue-telemetry.js';
import { TracedIterator } from './traced-iterator.js';

/**
 * The queue seen through an object that traces `send` and what the queue hands out. Every other
 * member (the operator face, `name`, `close`, an adapter's own methods, accessors and fields) is the
 * queue's, run on the queue itself (their private fields live there), so the result has the queue's
 * type and is `instanceof` its class. Neither a Proxy nor an object whose prototype is the queue: the
 * one slows every property access through it, the other every access to the queue itself (V8 turns
 * an object into a prototype).
 */
export function instrumentedQueue<Q extends Queue<any>>(
  queue: Q,
  telemetry: QueueTelemetry,
  closed: () => void,
): Q {
  // The forwarders sit one prototype up, so the object the user calls `send` on has a handful of
  // own properties, looked up as fast as a class instance's.
  const members = Object.create(Object.getPrototypeOf(queue));
  forwardMembers(members, queue);
  const instrumented = Object.create(members) as Q;
  const close = () => {
    closed();
    return queue.close();
  };
  const own: PropertyDescriptorMap = {
    send: { value: (message: unknown, options: never) => telemetry.send(message, options) },
    // Decided when a consumer starts: with nothing to record then, it runs on the queue's own
    // iterator and hand-off, at no cost per message (an SDK registered later traces later consumers).
    [Symbol.asyncIterator]: {
      value: () => {
        const iterator = queue[Symbol.asyncIterator]();
        return telemetry.idle ? iterator : new TracedIterator(iterator, telemetry);
      },
    },
    close: { value: close },
  };
  if (typeof (queue as Partial<AsyncDisposable>)[Symbol.asyncDispose] === 'function') {
    own[Symbol.asyncDispose] = { value: close }; // `await using` closes through here, leaving the metrics too
  }
  const take = (queue as { [takeNow]?: () => Delivery<unknown> | undefined })[takeNow];
  if (typeof take === 'function') {
    const traced = () => {
      const delivery = take.call(queue);
      return delivery === undefined ? undefined : telemetry.received(delivery);
    };
    const untraced = take.bind(queue);
    own[takeNow] = { get: () => (telemetry.idle ? untraced : traced) }; // read once, as a pump starts
  }
  if (typeof (queue as { draining?: unknown }).draining === 'function') {
    own.draining = {
      value: (dispatcher: PumpDispatcher<unknown>, options?: MemoryDrainingOptions<unknown>) =>
        drainingQueue(instrumented, dispatcher, options),
    };
  }
  for (const descriptor of Object.values(own)) descriptor.configurable = true;
  Object.defineProperties(instrumented, own);
  return instrumented;
}

/**
 * Gives `instrumented` (which shares the queue's prototype) an own forwarder for each field of the
 * queue and each method and accessor of its classes, so that they run on the queue.
 */
function forwardMembers(instrumented: object, queue: object): void {
  for (const key of Reflect.ownKeys(queue)) {
    Object.defineProperty(instrumented, key, {
      get: () => (queue as Record<PropertyKey, unknown>)[key],
      set: (next: unknown) => {
        (queue as Record<PropertyKey, unknown>)[key] = next;
      },
      configurable: true,
    });
  }
  for (let proto = Object.getPrototypeOf(queue); proto !== null && proto !== Object.prototype; ) {
    for (const key of Reflect.ownKeys(proto)) {
      if (key === 'constructor' || Object.hasOwn(instrumented, key)) continue;
      const { value, get, set } = Object.getOwnPropertyDescriptor(proto, key)!;
      if (typeof value === 'function') {
        Object.defineProperty(instrumented, key, {
          value: value.bind(queue),
          configurable: true,
          writable: true,
        });
      } else if (get !== undefined || set !== undefined) {
        Object.defineProperty(instrumented, key, {
          get: get && (() => get.call(queue)),
          set: set && ((next: unknown) => set.call(queue, next)),
          configurable: true,
        });
      }
    }
    proto = Object.getPrototypeOf(proto);
  }
}
