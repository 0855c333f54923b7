/**
 * Finished spans as JSON lines in a file: how a child process hands the spans it ended to the test
 * that spawned it. Each span is appended as it is exported, so a process that exits right after
 * its provider's shutdown leaves every span in the file.
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import type { Attributes } from '@opentelemetry/api';
import { type ExportResult, ExportResultCode } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';

/** What a test asserts about a span, the same whichever process ended it. */
export interface SpanRecord {
  readonly name: string;
  readonly kind: number;
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string | undefined;
  readonly attributes: Attributes;
  readonly status: { readonly code: number; readonly message?: string };
  readonly events: readonly { readonly name: string; readonly attributes?: Attributes }[];
}

export function spanRecord(span: ReadableSpan): SpanRecord {
  const { traceId, spanId } = span.spanContext();
  return {
    name: span.name,
    kind: span.kind,
    traceId,
    spanId,
    parentSpanId: span.parentSpanContext?.spanId,
    attributes: span.attributes,
    status: span.status,
    events: span.events.map(({ name, attributes }) => ({ name, attributes })),
  };
}

export class FileSpanExporter implements SpanExporter {
  readonly #path: string;

  constructor(path: string) {
    this.#path = path;
  }

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    try {
      const lines = spans.map((span) => `${JSON.stringify(spanRecord(span))}\n`).join('');
      appendFileSync(this.#path, lines);
      done({ code: ExportResultCode.SUCCESS });
    } catch (error) {
      done({ code: ExportResultCode.FAILED, error: error as Error });
    }
  }

  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/** The spans a FileSpanExporter wrote to `path` (none when it wrote nothing). */
export function readSpanFile(path: string): SpanRecord[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as SpanRecord);
}
