/**
 * `sluice/otel`: OpenTelemetry traces and metrics for sluice queues. Needs `@opentelemetry/api`
 * (an optional peer dependency of this entry only: `import 'sluice'` never loads it).
 * @module sluice/otel
 */
export { SEMCONV_VERSION } from './attributes.js';
export { SluiceInstrumentation, type SluiceInstrumentationConfig } from './instrumentation.js';
export type { InstrumentOptions } from './queue-telemetry.js';
