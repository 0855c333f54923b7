import { SpanStatusCode } from '@opentelemetry/api';
import type { JobContext, JobEnvelope, JobMiddleware } from '../jobs/types.js';
import { ERROR_TYPE, errorTypeOf, JOB_ATTEMPT, JOB_ID, JOB_TASK } from './attributes.js';
import type { TelemetrySource } from './queue-telemetry.js';

/**
 * A job middleware that runs each execution in an `execute <task>` span. Placed after the
 * QueueMiddleware, it runs in the worker, under the delivery's `process` span: a job that fails
 * is acked as a message (its retry is a new one), so its failure shows on this span.
 */
export function jobMiddleware(source: TelemetrySource): JobMiddleware {
  return (envelope: JobEnvelope, next, context: JobContext) => {
    const live = source.live;
    if (live === undefined) return next();
    const attributes = { [JOB_TASK]: envelope.task, [JOB_ID]: envelope.id, [JOB_ATTEMPT]: context.attempt };
    return live.tracer.startActiveSpan(`execute ${envelope.task}`, { attributes }, async (span) => {
      try {
        return await next();
      } catch (error) {
        span.setAttribute(ERROR_TYPE, errorTypeOf(error));
        span.recordException(error instanceof Error ? error : String(error));
        span.setStatus({
          code: SpanStatusCode.ERROR,
          message: error instanceof Error ? error.message : String(error),
        });
        throw error;
      } finally {
        span.end();
      }
    });
  };
}
