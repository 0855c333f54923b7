import { describe, expect, it } from 'vitest';
import { InvalidOptionError, MiddlewareError } from '../../src/errors.js';
import type { ClassicMiddleware, Context } from '../../src/middleware/types.js';
import { defineCommand, defineEvent } from '../../src/routing/define.js';
import { EventBus } from '../../src/routing/event-bus.js';
import { CommandBus } from '../../src/routing/handler-bus.js';

const Echo = defineCommand<string, string>('echo');
type EchoMessage = ReturnType<typeof Echo>;

function busWith(log: string[], handler: (payload: string) => string = (payload) => payload) {
  return new CommandBus().register(Echo, ({ payload }) => {
    log.push(`handler ${payload}`);
    return handler(payload);
  });
}

function tracing(name: string, log: string[]): ClassicMiddleware {
  return async (message, next) => {
    log.push(`${name} in`);
    const result = await next(message);
    log.push(`${name} out`);
    return result;
  };
}

describe('middleware order', () => {
  it('runs a → b → c → handler → c → b → a after use(a, b); use(c)', async () => {
    const log: string[] = [];
    const bus = busWith(log);
    expect(bus.use(tracing('a', log), tracing('b', log))).toBe(bus);
    bus.use(tracing('c', log));
    await bus.dispatch(Echo('x'));
    expect(log).toEqual(['a in', 'b in', 'c in', 'handler x', 'c out', 'b out', 'a out']);
  });

  it('mixes both styles in registration order', async () => {
    const log: string[] = [];
    const bus = busWith(log).use(
      tracing('classic', log),
      async function* generator() {
        log.push('generator in');
        yield;
        log.push('generator out');
      },
      tracing('inner', log),
    );
    await bus.dispatch(Echo('x'));
    expect(log).toEqual([
      'classic in',
      'generator in',
      'inner in',
      'handler x',
      'inner out',
      'generator out',
      'classic out',
    ]);
  });

  it('applies a middleware added after earlier dispatches to the next ones', async () => {
    const log: string[] = [];
    const bus = busWith(log);
    await bus.dispatch(Echo('1'));
    bus.use(tracing('late', log));
    await bus.dispatch(Echo('2'));
    expect(log).toEqual(['handler 1', 'late in', 'handler 2', 'late out']);
  });

  it('rejects a middleware that is not a function', () => {
    expect(() => new CommandBus().use({} as never)).toThrow(InvalidOptionError);
    expect(() => new CommandBus().use({} as never)).toThrow('middleware');
  });

  it('works on an EventBus too', async () => {
    const log: string[] = [];
    const Happened = defineEvent<string>('happened');
    const bus = new EventBus().use(tracing('m', log));
    bus.subscribe(Happened, () => {
      log.push('handler');
    });
    await bus.dispatch(Happened('x'));
    expect(log).toEqual(['m in', 'handler', 'm out']);
  });
});

describe('classic middlewares', () => {
  it('may replace the message passed on and the result returned', async () => {
    const log: string[] = [];
    const exclaim: ClassicMiddleware<EchoMessage> = async (message, next) => {
      const result = await next(Echo(`${message.payload}!`));
      return `<${result}>`;
    };
    const bus = busWith(log, (payload) => payload.toUpperCase()).use(exclaim);
    await expect(bus.dispatch(Echo('hi'))).resolves.toBe('<HI!>');
    expect(log).toEqual(['handler hi!']);
  });

  it('pass the current message and context on when next() gets no arguments', async () => {
    const signals: AbortSignal[] = [];
    const bus = new CommandBus()
      .use(async (_message, next, context) => {
        signals.push(context.signal);
        return next();
      })
      .register(Echo, ({ payload }, context) => {
        signals.push(context.signal);
        return payload;
      });
    await expect(bus.dispatch(Echo('same'))).resolves.toBe('same');
    expect(signals[0]).toBe(signals[1]);
  });

  it('may short-circuit by not calling next', async () => {
    const log: string[] = [];
    const bus = busWith(log).use(async () => 'cached');
    await expect(bus.dispatch(Echo('x'))).resolves.toBe('cached');
    expect(log).toEqual([]);
  });

  it('see the handler error and may turn it into a result', async () => {
    const recover: ClassicMiddleware<EchoMessage> = async (message, next) => {
      try {
        return await next(message);
      } catch (error) {
        return `recovered from ${(error as Error).message}`;
      }
    };
    const bus = busWith([], () => {
      throw new Error('handler failed');
    }).use(recover);
    await expect(bus.dispatch(Echo('x'))).resolves.toBe('recovered from handler failed');
  });
});

describe('generator middlewares', () => {
  it('run the code before yield first; yield returns the result', async () => {
    const log: string[] = [];
    const bus = busWith(log, (payload) => `result of ${payload}`).use(async function* audit(
      message: EchoMessage,
    ): AsyncGenerator<undefined, void, string> {
      log.push(`before ${message.payload}`);
      const result = yield;
      log.push(`after ${result}`);
    });
    await expect(bus.dispatch(Echo('x'))).resolves.toBe('result of x');
    expect(log).toEqual(['before x', 'handler x', 'after result of x']);
  });

  it('have yield throw the handler error; it rejects the dispatch unless caught', async () => {
    const failure = new Error('handler failed');
    const log: string[] = [];
    const bus = busWith(log, () => {
      throw failure;
    }).use(async function* observe() {
      try {
        yield;
        log.push('not reached');
      } catch (error) {
        log.push(`saw ${(error as Error).message}`);
        throw error;
      } finally {
        log.push('finally');
      }
    });
    await expect(bus.dispatch(Echo('x'))).rejects.toBe(failure);
    expect(log).toEqual(['handler x', 'saw handler failed', 'finally']);
  });

  it('retry the rest of the chain when they catch the error and yield again', async () => {
    const log: string[] = [];
    let calls = 0;
    const bus = busWith(log, (payload) => {
      calls++;
      if (calls < 3) throw new Error(`fail ${calls}`);
      return `${payload} on try ${calls}`;
    }).use(async function* retryForever(): AsyncGenerator<undefined, void, string> {
      for (;;) {
        try {
          const result = yield;
          log.push(`got ${result}`);
          return;
        } catch (error) {
          log.push(`caught ${(error as Error).message}`);
        }
      }
    });
    await expect(bus.dispatch(Echo('x'))).resolves.toBe('x on try 3');
    expect(log).toEqual([
      'handler x',
      'caught fail 1',
      'handler x',
      'caught fail 2',
      'handler x',
      'got x on try 3',
    ]);
  });

  it('resolve undefined when they catch the error and return', async () => {
    const bus = busWith([], () => {
      throw new Error('handler failed');
    }).use(async function* swallow() {
      try {
        yield;
      } catch {
        return;
      }
    });
    await expect(bus.dispatch(Echo('x'))).resolves.toBeUndefined();
  });

  it('throw MiddlewareError when yielding twice after a success, and finish the generator', async () => {
    const log: string[] = [];
    const bus = busWith(log).use(async function* greedy() {
      try {
        yield;
        yield;
        log.push('not reached');
      } finally {
        log.push('finally');
      }
    });
    const error = await bus.dispatch(Echo('x')).catch((reason: unknown) => reason);
    expect(error).toBeInstanceOf(MiddlewareError);
    expect((error as MiddlewareError).code).toBe('MIDDLEWARE_MISUSE');
    expect((error as Error).message).toContain('greedy');
    expect(log).toEqual(['handler x', 'finally']);
  });

  it('short-circuit the chain when returning without yielding: the dispatch resolves undefined', async () => {
    const log: string[] = [];
    const bus = busWith(log)
      .use(tracing('outer', log))
      .use(async function* guard(message: EchoMessage) {
        log.push('guard');
        if (message.payload !== 'x') yield;
      })
      .use(tracing('inner', log));
    await expect(bus.dispatch(Echo('x'))).resolves.toBeUndefined();
    expect(log).toEqual(['outer in', 'guard', 'outer out']);
  });

  it('reject the dispatch when throwing before yield', async () => {
    const failure = new Error('refused');
    const log: string[] = [];
    const bus = busWith(log).use(async function* refuse(message: EchoMessage) {
      if (message.payload === 'x') throw failure;
      yield;
    });
    await expect(bus.dispatch(Echo('x'))).rejects.toBe(failure);
    expect(log).toEqual([]);
  });

  it('may be synchronous generator functions', async () => {
    const log: string[] = [];
    const bus = busWith(log).use(function* sync(): Generator<undefined, void, string> {
      log.push('before');
      const result = yield;
      log.push(`after ${result}`);
    });
    await expect(bus.dispatch(Echo('x'))).resolves.toBe('x');
    expect(log).toEqual(['before', 'handler x', 'after x']);
  });

  it('get the message and the context', async () => {
    const seen: unknown[] = [];
    const controller = new AbortController();
    const bus = busWith([]).use(async function* inspect(message: EchoMessage, context: Context<EchoMessage>) {
      seen.push(message.payload, context.message === message, context.signal === controller.signal);
      yield;
    });
    await bus.dispatch(Echo('x'), { signal: controller.signal });
    expect(seen).toEqual(['x', true, true]);
  });
});
