import { InvalidOptionError, MiddlewareError } from '../errors.js';
import type { AnyMiddleware, Chain, ClassicMiddleware, GeneratorMiddleware } from './types.js';

const generatorTags = new Set(['[object AsyncGeneratorFunction]', '[object GeneratorFunction]']);

export function isGeneratorMiddleware<M, C>(
  middleware: AnyMiddleware<M, C>,
): middleware is GeneratorMiddleware<M, C> {
  return generatorTags.has(Object.prototype.toString.call(middleware));
}

export function assertMiddlewares(middlewares: readonly unknown[]): void {
  for (const middleware of middlewares) {
    if (typeof middleware !== 'function')
      throw new InvalidOptionError('middleware', middleware, 'a function');
  }
}

/**
 * Builds the chain once, outer middleware first, so a dispatch walks prebuilt closures instead of
 * re-resolving the stack. Callers rebuild it when the stack changes.
 */
export function compose<M, C>(
  middlewares: readonly AnyMiddleware<M, C>[],
  terminal: Chain<M, C>,
): Chain<M, C> {
  let chain = terminal;
  for (let i = middlewares.length - 1; i >= 0; i--) {
    const middleware = middlewares[i]!;
    chain = isGeneratorMiddleware(middleware)
      ? wrapGenerator(middleware, chain)
      : wrapClassic(middleware, chain);
  }
  return chain;
}

function wrapClassic<M, C>(middleware: ClassicMiddleware<M, C>, inner: Chain<M, C>): Chain<M, C> {
  return async (message, context) =>
    middleware(
      message,
      (nextMessage = message, nextContext = context) => inner(nextMessage, nextContext),
      context,
    );
}

function wrapGenerator<M, C>(middleware: GeneratorMiddleware<M, C>, inner: Chain<M, C>): Chain<M, C> {
  return async (message, context) => {
    const generator = middleware(message, context);
    let step = await generator.next();
    if (step.done) return undefined; // returned before yielding: short-circuit
    for (;;) {
      let result: unknown;
      try {
        result = await inner(message, context);
      } catch (error) {
        step = await generator.throw(error); // rethrows unless the generator caught it
        if (step.done) return undefined; // caught and returned: the error is swallowed
        continue; // caught and yielded again: run the rest of the chain again
      }
      step = await generator.next(result);
      if (step.done) return result;
      await generator.return(undefined);
      throw new MiddlewareError(
        `generator middleware ${middleware.name || '(anonymous)'} yielded again after a successful result`,
      );
    }
  };
}
