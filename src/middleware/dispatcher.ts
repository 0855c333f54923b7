import { InvalidOptionError } from '../errors.js';
import type { Chain, Context, Dispatcher } from './types.js';

/**
 * Turns either dispatcher form into a chain terminal. The context doubles as the options object of
 * `dispatch(message, { signal })`, so nothing is allocated per message.
 */
export function toChain<M, C extends Context<M>>(dispatcher: Dispatcher<M>): Chain<M, C> {
  if (typeof dispatcher === 'function') return async (message, context) => dispatcher(message, context);
  if (dispatcher !== null && typeof dispatcher === 'object' && typeof dispatcher.dispatch === 'function') {
    return (message, context) => dispatcher.dispatch(message, context);
  }
  throw new InvalidOptionError('dispatcher', dispatcher, 'a function or an object with dispatch()');
}
