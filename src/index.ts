/**
 * `sluice`: typed command, query and event buses, the queue contract with the in-memory queue, the
 * pump that drains any queue into any handler, and jobs. Broker adapters live in their own entries
 * (`sluice/redis`, `sluice/postgres`, `sluice/amqp`, `sluice/nats`, `sluice/sqlite`).
 * @module sluice
 */
export {
  BrokerUnavailableError,
  DeliverySettledError,
  HandlerAlreadyRegisteredError,
  InvalidOptionError,
  InvalidStateError,
  MessageTooLargeError,
  MiddlewareError,
  NoHandlerError,
  QueueClosedError,
  SerializationError,
  SluiceError,
  TimeoutError,
  ValidationError,
} from './errors.js';
export * from './jobs/index.js';
export { type CaptureErrorsOptions, captureErrors } from './middleware/capture-errors.js';
export { type RetryOptions, retry } from './middleware/retry.js';
export { timeout } from './middleware/timeout.js';
export type {
  AnyMiddleware,
  ClassicMiddleware,
  Context,
  Dispatcher,
  DispatcherObject,
  DispatchFunction,
  DispatchOptions,
  GeneratorMiddleware,
  InlineGeneratorMiddleware,
  Middleware,
  Next,
} from './middleware/types.js';
export { MemoryQueue } from './queuing/memory/memory-queue.js';
export type { MemoryQueueOptions } from './queuing/memory/options.js';
export type {
  DeadLetter,
  DeadLettersOptions,
  OperableQueue,
  QueueStats,
  RedriveOptions,
} from './queuing/operations.js';
export type { Draining, PumpStats } from './queuing/pump/draining.js';
export type { DrainingOptions } from './queuing/pump/draining-options.js';
export type { DrainingQueue, MemoryDrainingOptions } from './queuing/pump/draining-queue.js';
export { Pump, type PumpContext, type PumpDispatcher, type PumpOptions } from './queuing/pump/pump.js';
export type {
  Backoff,
  Consumer,
  Delivery,
  FlowIterator,
  FlowLimits,
  NackOptions,
  Producer,
  Queue,
  RateLimit,
  RetryPolicy,
  SendOptions,
} from './queuing/types.js';
export type { Handler } from './routing/bus.js';
export { defineCommand, defineEvent, defineQuery } from './routing/define.js';
export { EventBus } from './routing/event-bus.js';
export { CommandBus, QueryBus } from './routing/handler-bus.js';
export type {
  Command,
  CommandDefinition,
  Event,
  EventDefinition,
  Message,
  MessageDefinition,
  Query,
  QueryDefinition,
  ResultOf,
} from './routing/message.js';
