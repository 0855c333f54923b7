/**
 * The page's markup: a frame the client script fills. It holds no data (the script fetches it and
 * sets it as text), and only the two flags the script needs, as attributes.
 */
export function page(flags: { readOnly: boolean; jobs: boolean }): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>sluice dashboard</title>
<link rel="stylesheet" href="/app.css">
<script src="/app.js" defer></script>
</head>
<body data-read-only="${flags.readOnly}" data-jobs="${flags.jobs}">
<header>
  <h1>sluice</h1>
  <span id="mode" class="badge" hidden>read-only</span>
  <span id="live" class="badge off">connecting…</span>
</header>
<main>
  <section id="queues">
    <h2>Queues</h2>
    <table>
      <thead><tr>
        <th>Queue</th><th class="num">Ready</th><th class="num">Delayed</th><th class="num">In flight</th>
        <th class="num">Dead</th><th>State</th>
        <th title="Messages per second leaving the queue (acked, dead-lettered or purged) minus those arriving, per 10 s over the last 10 minutes">Net throughput</th>
        <th class="actions-col">Actions</th>
      </tr></thead>
      <tbody id="queue-rows"></tbody>
    </table>
    <p class="note">Net throughput: how fast the backlog (ready + delayed + in flight) shrinks, in messages per
    second; bars above the line: draining, below: growing. Sampled every second.</p>
  </section>
  <section id="dead" hidden>
    <h2>Dead letters of <span id="dead-queue"></span></h2>
    <div class="toolbar">
      <button type="button" id="dead-first">First page</button>
      <button type="button" id="dead-next">Next page</button>
      <button type="button" id="dead-refresh">Refresh</button>
      <button type="button" id="dead-redrive-all" class="action">Redrive all</button>
      <button type="button" id="dead-close">Close</button>
    </div>
    <p id="dead-empty" hidden>No dead letters.</p>
    <ol id="dead-list"></ol>
  </section>
  <section id="jobs" hidden>
    <h2>Jobs</h2>
    <form id="job-form">
      <label>Job id <input id="job-id" name="id" autocomplete="off" required></label>
      <button type="submit">Look up</button>
    </form>
    <div id="job-found"></div>
    <h3>Recently failed <button type="button" id="failed-refresh">Refresh</button></h3>
    <table>
      <thead><tr><th>Job</th><th>Task</th><th>Status</th><th class="num">Attempt</th><th>Error</th><th>Ended</th></tr></thead>
      <tbody id="failed-rows"></tbody>
    </table>
  </section>
  <p id="status" role="status"></p>
</main>
<dialog id="confirm">
  <p id="confirm-text"></p>
  <menu>
    <button type="button" id="confirm-cancel">Cancel</button>
    <button type="button" id="confirm-ok" class="danger">Confirm</button>
  </menu>
</dialog>
</body>
</html>
`;
}
