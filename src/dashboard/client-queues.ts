/**
 * The client's queue table (part of `/app.js`): the live feed of counts, and each queue's net
 * throughput chart drawn from the backlog samples the server keeps and streams.
 */
export const CLIENT_QUEUES = `
const KEPT = 600;
const BUCKET = 10;
const CHART_WIDTH = 180;
const CHART_HEIGHT = 36;
const SVG = 'http://www.w3.org/2000/svg';
const rows = new Map();
let times = [];
let backlog = {};

function connect() {
  const source = new EventSource('/events');
  source.addEventListener('open', () => setLive(true));
  source.addEventListener('error', () => setLive(false));
  source.addEventListener('history', (event) => {
    const history = JSON.parse(event.data);
    times = history.at.slice();
    backlog = {};
    for (const [name, series] of Object.entries(history.backlog)) backlog[name] = series.slice();
  });
  source.addEventListener('stats', (event) => update(JSON.parse(event.data)));
}

function setLive(live) {
  const badge = byId('live');
  badge.textContent = live ? 'live' : 'disconnected';
  badge.className = 'badge ' + (live ? 'on' : 'off');
}

function update(snapshot) {
  if (times.length === 0 || snapshot.at > times[times.length - 1]) {
    times.push(snapshot.at);
    for (const queue of snapshot.queues) {
      const series = backlog[queue.name] || (backlog[queue.name] = []);
      series.push(queue.error === undefined ? queue.ready + queue.delayed + queue.inFlight : null);
      if (series.length > KEPT) series.shift();
    }
    if (times.length > KEPT) times.shift();
  }
  for (const queue of snapshot.queues) renderRow(queue);
}

function rowFor(name) {
  let row = rows.get(name);
  if (row) return row;
  const cell = (className) => el('td', { class: className });
  row = {
    tr: el('tr', { 'data-queue': name }),
    ready: cell('num ready'),
    delayed: cell('num delayed'),
    inFlight: cell('num in-flight'),
    dead: cell('num dead'),
    state: cell('state'),
    chart: cell('chart'),
    actions: cell('actions'),
    deadButton: button('0', () => openDead(name, undefined), 'dead-link'),
  };
  row.dead.appendChild(row.deadButton);
  row.tr.append(el('td', { class: 'name', text: name }), row.ready, row.delayed, row.inFlight, row.dead, row.state, row.chart);
  if (!readOnly) {
    row.pause = button('Pause', () => act(name, 'pause', {}, 'Pause queue ' + name + '? Its consumers stop taking messages.'), 'action pause');
    row.resume = button('Resume', () => act(name, 'resume', {}, 'Resume queue ' + name + '?'), 'action resume');
    const purge = button('Purge', () => act(name, 'purge', {}, 'Delete every waiting message of queue ' + name + '? This cannot be undone.'), 'action danger purge');
    row.actions.append(row.pause, row.resume, purge);
    row.tr.appendChild(row.actions);
  }
  byId('queue-rows').appendChild(row.tr);
  rows.set(name, row);
  return row;
}

function renderRow(queue) {
  const row = rowFor(queue.name);
  if (queue.error !== undefined) {
    for (const cell of [row.ready, row.delayed, row.inFlight]) cell.textContent = '?';
    row.state.textContent = 'error: ' + queue.error;
    row.state.className = 'state error';
  } else {
    row.ready.textContent = queue.ready.toLocaleString();
    row.delayed.textContent = queue.delayed.toLocaleString();
    row.inFlight.textContent = queue.inFlight.toLocaleString();
    row.deadButton.textContent = queue.dead.toLocaleString();
    row.state.textContent = queue.paused ? 'paused' : 'running';
    row.state.className = 'state' + (queue.paused ? ' paused' : '');
    if (row.pause) {
      row.pause.disabled = queue.paused;
      row.resume.disabled = !queue.paused;
    }
  }
  drawChart(row.chart, backlog[queue.name] || []);
}

/** Net messages per second leaving the backlog, per bucket of samples, newest last (series align with times). */
function netRates(series) {
  const rates = [];
  const last = series.length - 1;
  for (let end = last; end - BUCKET >= 0 && rates.length < KEPT / BUCKET; end -= BUCKET) {
    const from = series[end - BUCKET];
    const to = series[end];
    const seconds = (times[end] - times[end - BUCKET]) / 1000;
    rates.unshift(from === null || to === null || !(seconds > 0) ? null : (from - to) / seconds);
  }
  return rates;
}

function drawChart(cell, series) {
  const rates = netRates(series);
  const width = CHART_WIDTH / (KEPT / BUCKET);
  const middle = CHART_HEIGHT / 2;
  const scale = Math.max(1, ...rates.map((rate) => Math.abs(rate || 0)));
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('width', CHART_WIDTH);
  svg.setAttribute('height', CHART_HEIGHT);
  svg.setAttribute('viewBox', '0 0 ' + CHART_WIDTH + ' ' + CHART_HEIGHT);
  const axis = document.createElementNS(SVG, 'line');
  for (const [name, value] of [['x1', 0], ['x2', CHART_WIDTH], ['y1', middle], ['y2', middle]]) axis.setAttribute(name, value);
  axis.setAttribute('class', 'axis');
  svg.appendChild(axis);
  const offset = CHART_WIDTH - rates.length * width;
  rates.forEach((rate, index) => {
    if (rate === null || rate === 0) return;
    const height = Math.max(1, (Math.abs(rate) / scale) * (middle - 1));
    const bar = document.createElementNS(SVG, 'rect');
    bar.setAttribute('x', offset + index * width);
    bar.setAttribute('width', Math.max(1, width - 1));
    bar.setAttribute('y', rate > 0 ? middle - height : middle);
    bar.setAttribute('height', height);
    bar.setAttribute('class', rate > 0 ? 'bar-out' : 'bar-in');
    svg.appendChild(bar);
  });
  const latest = rates.length > 0 ? rates[rates.length - 1] : null;
  cell.replaceChildren(svg, el('span', { class: 'rate', text: describeRate(latest) }));
}

function describeRate(rate) {
  if (rate === null) return '—';
  if (Math.abs(rate) < 0.05) return 'steady';
  const figure = Math.abs(rate) >= 10 ? Math.round(Math.abs(rate)).toLocaleString() : Math.abs(rate).toFixed(1);
  return (rate > 0 ? 'draining ' : 'growing ') + figure + '/s';
}
`;
