/**
 * The dashboard's one page: a run picker, four tabs (training curves, the continual R matrix,
 * adaptation on the navigation plane, env counters) and the elements pageScript.ts fills in.
 * A string, so that the compiled package (dist/) carries it without a copy step.
 */
export const PAGE_HTML = String.raw`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>metarl dashboard</title>
<link rel="stylesheet" href="/uplot.css">
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #222; background: #fafafa; }
  header { display: flex; gap: 12px; align-items: center; flex-wrap: wrap; padding: 8px 16px; background: #263238; color: #eee; }
  header b { font-size: 16px; }
  header select { max-width: 420px; }
  nav button { background: #37474f; color: #eee; border: 0; padding: 6px 12px; cursor: pointer; border-radius: 3px; }
  nav button.active { background: #0072b2; }
  nav button:disabled { opacity: 0.4; cursor: default; }
  #status { font-size: 12px; color: #b0bec5; margin-left: auto; }
  main { padding: 12px 16px; }
  section[hidden], #token-box[hidden] { display: none; }
  .note { color: #555; font-size: 13px; max-width: 900px; }
  .row { display: flex; gap: 16px; flex-wrap: wrap; align-items: flex-start; }
  canvas { background: #fff; border: 1px solid #ccc; }
  #plane { cursor: crosshair; }
  #legend span { display: inline-block; margin-right: 14px; }
  #legend i { display: inline-block; width: 18px; height: 4px; vertical-align: middle; margin-right: 4px; }
  table { border-collapse: collapse; background: #fff; }
  td, th { border: 1px solid #ddd; padding: 4px 10px; text-align: right; }
  th { background: #eceff1; text-align: left; }
  #token-box { padding: 8px 16px; background: #fff3e0; }
  button.stop { background: #c62828; color: #fff; border: 0; padding: 8px 16px; border-radius: 3px; cursor: pointer; }
</style>
</head>
<body>
<header>
  <b>metarl</b>
  <label>run <select id="run"></select></label>
  <nav>
    <button data-tab="training">Training</button>
    <button data-tab="continual">Continual R matrix</button>
    <button data-tab="adapt">Adaptation</button>
    <button data-tab="env">Env counters</button>
  </nav>
  <span id="status">connecting…</span>
</header>
<div id="token-box" hidden>This dashboard needs its token: <input id="token" type="password" autocomplete="off"> <button id="token-ok">use</button></div>
<main>
  <section id="tab-training">
    <div class="row"><div id="chart-batch"></div><div id="chart-steps"></div></div>
    <p class="note" id="training-note">Mean return of the meta-batch's episodes before and after the inner adaptation step(s), one point per meta-batch, live from metrics.jsonl.</p>
  </section>
  <section id="tab-continual" hidden>
    <p><label>method <select id="method"></select></label> <label>seed <select id="seed"></select></label></p>
    <div class="row"><canvas id="rmatrix" width="620" height="560"></canvas>
    <p class="note" id="continual-note">R[i][j]: return on task j after training on tasks 0…i (evaluated with the run's adaptation steps). Rows fill in as tasks.jsonl grows; the colours span the values drawn.</p></div>
  </section>
  <section id="tab-adapt" hidden>
    <p class="note">Click a goal on the navigation plane: the server adapts the run's latest checkpoint θ toward it with
      <select id="steps"><option>1</option><option>2</option><option selected>3</option></select> policy-gradient step(s)
      (episodes sampled with exploration noise, as metarl eval) and draws the mean policy's path from the start before and after each step.</p>
    <div class="row"><canvas id="plane" width="560" height="560"></canvas><div><p id="adapt-status" class="note"></p><div id="legend"></div></div></div>
  </section>
  <section id="tab-env" hidden>
    <p class="note" id="env-note">Counters of an env behind the bridge (env/… keys of metrics.jsonl): the last meta-batch and the run's total.</p>
    <table id="env-table"></table>
    <p><button id="stop" class="stop" hidden>stop the run</button> <span id="stop-status" class="note"></span></p>
  </section>
</main>
<script src="/uplot.js"></script>
<script src="/app.js"></script>
</body>
</html>
`;
