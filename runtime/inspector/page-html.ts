/** The inspector page's HTML and CSS (its script is page/app.ts, compiled by tsconfig.page.json). */
export const INSPECTOR_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>mip4 inspector</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<style>
  body { font: 14px system-ui, sans-serif; margin: 0; color: #1d2533; background: #fbfcfe; }
  header { padding: 10px 16px; background: #24324a; color: #fff; display: flex; gap: 16px; align-items: center; flex-wrap: wrap; }
  header h1 { font-size: 17px; margin: 0; }
  header .status { opacity: .8; font-size: 13px; }
  main { display: grid; grid-template-columns: minmax(0, 3fr) minmax(320px, 1.2fr); gap: 14px; padding: 14px; }
  section { background: #fff; border: 1px solid #d8dee8; border-radius: 8px; padding: 10px; margin-bottom: 14px; }
  h2 { font-size: 15px; margin: 0 0 8px; }
  .chart-box { overflow: auto; max-height: 520px; }
  .chart-box svg { max-width: none; }
  .state.occupied > rect { fill: #fff3e0; stroke: #b0411e; }
  .state.current > rect { fill: #d9f2e0; stroke: #1e7b3c; stroke-width: 3; }
  table { width: 100%; border-collapse: collapse; font-size: 12px; }
  th, td { text-align: left; padding: 4px 6px; border-bottom: 1px solid #eef1f5; vertical-align: top; }
  tr.actor { cursor: pointer; }
  tr.actor:hover { background: #f1f5fb; }
  tr.actor.selected { background: #d9f2e0; }
  input[type=search] { width: 100%; box-sizing: border-box; padding: 6px; margin-bottom: 8px; }
  #transitions { font: 12px ui-monospace, monospace; max-height: 260px; overflow: auto; margin: 0; padding-left: 18px; }
  #transitions li.new { animation: flash 1s; }
  @keyframes flash { from { background: #ffe9a8; } to { background: transparent; } }
  .controls button { margin-right: 4px; padding: 4px 10px; }
  .controls button.active { background: #1e7b3c; color: #fff; border-color: #1e7b3c; }
  #topology { display: flex; gap: 10px; flex-wrap: wrap; }
  .segment { border: 1px solid #c6cfdd; border-radius: 6px; padding: 6px 8px; min-width: 150px; }
  .segment.attached { border: 2px solid #1e7b3c; background: #eefaf1; }
  .segment .host { font-size: 12px; }
  .segment .host.node { font-weight: bold; color: #1e7b3c; }
  .muted { color: #6b7a90; font-size: 12px; }
</style>
</head>
<body>
<header><h1>mip4 inspector</h1><span class="status" id="status">connecting…</span></header>
<main>
  <div>
    <section id="demo" hidden>
      <h2>Simulated clock and topology</h2>
      <div class="controls">
        <button data-speed="0" id="pause">Pause</button><button id="step">Step</button><button data-speed="1">1×</button><button data-speed="10">10×</button>
        <span id="clock" class="muted"></span>
      </div>
      <p id="attachment"></p>
      <div id="topology"></div>
    </section>
    <div id="charts"></div>
  </div>
  <div>
    <section>
      <h2>Actors</h2>
      <input type="search" id="search" placeholder="search: address, state, identification…">
      <table><thead><tr><th>agent</th><th>kind</th><th>id</th><th>state</th><th>context</th></tr></thead><tbody id="actors"></tbody></table>
    </section>
    <section>
      <h2>Transitions of <span id="selected">(select an actor)</span></h2>
      <ol id="transitions"></ol>
    </section>
  </div>
</main>
<script type="module" src="/app.js"></script>
</body>
</html>
`;
