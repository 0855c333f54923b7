import { takeNow } from '../queuing/hand-off.js';
import { drainingQueue, type MemoryDrainingOptions } from '../queuing/pump/draining-queue.js';
import type { PumpDispatcher } from '../queuing/pump/pump.js';
import type { Delivery, Queue } from '../queuing/types.js';
import type { QueueTelemetry } from './queue-telemetry.js';
import { TracedIterator } from './traced-iterator.js';

/**
 * The queue seen through an object that traces `send` and what the queue hands out. Every other
 * member (the operator face, `name`, `close`, an adapter's own methods and accessors) is the queue's,
 * run on the queue itself (their private fields live there), so the result has the queue's type and
 * is `instanceof` its class. Not a Proxy: `send` stays a plain property on the hot path.
 */
export function instrumentedQueue<Q extends Queue<any>>(
  queue: Q,
  telemetry: QueueTelemetry,
  closed: () => void,
): Q {
  const instrumented = Object.create(queue) as Q;
  forwardMembers(instrumented, queue);
  const close = () => {
    closed();
    return queue.close();
  };
  const own: PropertyDescriptorMap = {
    send: { value: (message: unknown, options: never) => telemetry.send(message, options) },
    [Symbol.asyncIterator]: { value: () => new TracedIterator(queue[Symbol.asyncIterator](), telemetry) },
    close: { value: close },
  };
  if (typeof (queue as Partial<AsyncDisposable>)[Symbol.asyncDispose] === 'function') {
    own[Symbol.asyncDispose] = { value: close }; // `await using` closes through here, leaving the metrics too
  }
  const take = (queue as { [takeNow]?: () => Delivery<unknown> | undefined })[takeNow];
  if (typeof take === 'function') {
    own[takeNow] = {
      value: () => {
        const delivery = take.call(queue);
        return delivery === undefined ? undefined : telemetry.received(delivery);
      },
    };
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
 * Gives `instrumented` (whose prototype is `queue`) an own forwarder for each method and accessor of
 * the queue's classes, so that they run with `this` the queue. Plain fields are read through the
 * prototype as they are.
 */
function forwardMembers(instrumented: object, queue: object): void {
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
