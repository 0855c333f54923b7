/** The page's stylesheet, served as `/app.css` (the policy allows no inline style). */
export const STYLE = `
:root { color-scheme: light dark; --accent: #2f6fdf; --good: #2e9d57; --bad: #d2453a; --muted: #888; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, sans-serif; }
header { display: flex; gap: 12px; align-items: center; padding: 10px 20px; border-bottom: 1px solid #8884; }
h1 { font-size: 20px; margin: 0 12px 0 0; }
h2 { font-size: 16px; margin: 24px 0 8px; }
h3 { font-size: 14px; margin: 16px 0 8px; }
main { padding: 0 20px 40px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid #8883; vertical-align: middle; }
th { font-weight: 600; font-size: 12px; text-transform: uppercase; color: var(--muted); }
.num { text-align: right; font-variant-numeric: tabular-nums; }
.badge { font-size: 12px; padding: 2px 8px; border-radius: 10px; background: #8882; }
.badge.on { background: #2e9d5733; color: var(--good); }
.badge.off { background: #d2453a33; color: var(--bad); }
.paused { color: var(--bad); font-weight: 600; }
.error { color: var(--bad); }
.note { color: var(--muted); font-size: 12px; }
button { font: inherit; padding: 3px 10px; border-radius: 4px; border: 1px solid #8886; background: #8881; cursor: pointer; }
button:hover { background: #8883; }
button.danger { border-color: var(--bad); color: var(--bad); }
button:disabled { opacity: .4; cursor: default; }
td.actions { white-space: nowrap; }
td.actions button { margin-right: 4px; }
.toolbar { display: flex; gap: 6px; flex-wrap: wrap; margin-bottom: 8px; }
.chart { display: flex; align-items: center; gap: 8px; white-space: nowrap; }
.chart svg { display: block; }
.chart .rate { font-variant-numeric: tabular-nums; min-width: 70px; }
.bar-out { fill: var(--good); }
.bar-in { fill: var(--bad); }
.axis { stroke: #8888; stroke-width: 1; }
#dead-list { list-style: none; padding: 0; margin: 0; }
#dead-list li { border: 1px solid #8884; border-radius: 6px; padding: 8px 12px; margin-bottom: 8px; }
.letter-head { display: flex; gap: 16px; flex-wrap: wrap; align-items: baseline; }
.letter-head .id { font-family: ui-monospace, monospace; font-weight: 600; }
.letter-head .reason { color: var(--bad); }
.letter-head .meta { color: var(--muted); }
.letter-head .buttons { margin-left: auto; display: flex; gap: 6px; }
pre { margin: 8px 0 0; padding: 8px; background: #8881; border-radius: 4px; overflow: auto; max-height: 300px;
  font: 12px/1.4 ui-monospace, monospace; white-space: pre-wrap; word-break: break-word; }
dl.job { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; }
dl.job dt { color: var(--muted); }
dl.job dd { margin: 0; }
#status { min-height: 1.4em; color: var(--muted); }
#status.error { color: var(--bad); }
dialog { border: 1px solid #8886; border-radius: 8px; padding: 16px 20px; max-width: 480px; }
dialog menu { display: flex; justify-content: flex-end; gap: 8px; padding: 0; margin: 16px 0 0; }
[hidden] { display: none !important; }
`;
