import { InvalidOptionError } from '../errors.js';
import type { Chain, Context, Dispatcher } from './types.js';

/**
 * Turns either dispatcher form into a chain terminal. The context doubles as the options object of
 * `dispatch(message, { signal })`, so nothing is allocated per message. A function is used as is:
 * callers must await its result and catch what it throws synchronously (an extra async wrapper
 * would cost a promise per message on the hot path).
 */
export function toChain<M, C extends Context<M>>(dispatcher: Dispatcher<M>): Chain<M, C> {
  if (typeof dispatcher === 'function') return dispatcher as Chain<M, C>;
  if (dispatcher !== null && typeof dispatcher === 'object' && typeof dispatcher.dispatch === 'function') {
    return (message, context) => dispatcher.dispatch(message, context);
  }
  throw new InvalidOptionError('dispatcher', dispatcher, 'a function or an object with dispatch()');
}
