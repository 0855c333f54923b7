/**
 * `sluice/dashboard`: the operator's web page for any queues with the operator's methods
 * (SPEC § 5), served by the process itself. See docs/dashboard.md.
 * @module sluice/dashboard
 */
export type { DashboardJobStore, DashboardOptions } from './options.js';
export { type Dashboard, serveDashboard } from './serve.js';
