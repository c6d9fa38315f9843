/**
 * The page's script (served as /app.js; plain browser JavaScript, no build step): the run picker,
 * the event stream of the chosen run (EventSource, which reconnects by itself and sends
 * Last-Event-ID), the token, the tabs, the training charts (uPlot) and the env counters. The
 * R-matrix and adaptation drawings are in pageViews.ts; both strings make one script.
 * `window.metarl` exposes what was drawn and when, for the browser test.
 */
import { PAGE_VIEWS } from './pageViews.ts';

const CORE = String.raw`'use strict';
var S = window.metarl = { runId: null, records: 0, drawn: {}, lastDrawnBatch: -1, tasks: 0, adaptPaths: 0, adaptDrawnAt: 0 };
var TOKEN = takeToken();
var es = null, runs = [], runsText = '', currentRun = null, tab = 'training', charts = null, redrawPending = false;
var T = freshTraining(), C = freshContinual();

function $(id) { return document.getElementById(id); }
function setStatus(text) { $('status').textContent = text; }
function freshTraining() { return { batch: [], before: [], after: [], steps: [], cum: 0, env: {}, envTotal: {} }; }
function num(v) { return typeof v === 'number' && isFinite(v) ? v : null; }

/** The token from the URL fragment (#token=…), kept for this tab only and removed from the address bar. */
function takeToken() {
  var m = /(?:^#|&)token=([^&]*)/.exec(location.hash);
  if (m) {
    sessionStorage.setItem('metarl-token', decodeURIComponent(m[1]));
    history.replaceState(null, '', location.pathname + location.search);
  }
  return sessionStorage.getItem('metarl-token') || '';
}

function api(path, opts) {
  opts = opts || {};
  opts.headers = opts.headers || {};
  if (TOKEN) opts.headers.authorization = 'Bearer ' + TOKEN;
  return fetch(path, opts).then(function (r) {
    if (r.status === 401) $('token-box').hidden = false;
    return r;
  });
}

function loadRuns() {
  return api('/api/runs').then(function (r) { return r.ok ? r.json() : null; }).then(function (body) {
    if (!body) { setStatus('no access: enter the token'); return; }
    var text = JSON.stringify(body.runs);
    if (text === runsText && currentRun !== null) return; // unchanged: leave the picker alone
    runsText = text;
    runs = body.runs;
    var sel = $('run'), before = sel.value;
    sel.textContent = '';
    runs.forEach(function (run) {
      var o = document.createElement('option');
      o.value = String(run.id);
      o.textContent = run.name + ' (' + run.kind + (run.env ? ', ' + run.env : '') + ')';
      sel.appendChild(o);
    });
    if (runs.length === 0) { setStatus('waiting for the run folder…'); return; }
    if (before !== '' && runs.some(function (r) { return String(r.id) === before; })) sel.value = before;
    var chosen = runs.filter(function (r) { return String(r.id) === sel.value; })[0];
    // A new run, or one whose first log file just appeared (pending → training | continual): (re)connect.
    if (currentRun === null || currentRun.id !== chosen.id || currentRun.kind !== chosen.kind) selectRun(chosen, true);
    else { currentRun = chosen; updateTabs(); }
  }).catch(function () { setStatus('server unreachable; retrying'); });
}

function selectRun(run, pickTab) {
  currentRun = run;
  S.runId = run.id;
  clearAll();
  if (pickTab) showTab(run.kind === 'continual' ? 'continual' : 'training');
  updateTabs();
  connect();
}

function connect() {
  if (es) es.close();
  var run = currentRun;
  es = new EventSource('/api/runs/' + run.id + '/events' + (TOKEN ? '?token=' + encodeURIComponent(TOKEN) : ''));
  es.onopen = function () { setStatus('live · ' + S.records + ' records'); };
  es.onmessage = function (e) {
    var rec;
    try { rec = JSON.parse(e.data); } catch (x) { return; }
    S.records++;
    if (typeof rec.evalRow !== 'undefined' && typeof rec.method !== 'undefined') continualRecord(rec); else trainingRecord(rec);
    setStatus('live · ' + S.records + ' records · last ' + new Date().toLocaleTimeString());
  };
  es.addEventListener('reset', function () { clearAll(); });
  es.onerror = function () {
    setStatus('reconnecting…');
    // A refused stream (401, 503) is not retried by EventSource itself.
    if (es.readyState === 2 && currentRun === run) setTimeout(function () { if (currentRun === run) connect(); }, 3000);
  };
}

function clearAll() {
  T = freshTraining();
  C = freshContinual();
  S.records = 0; S.drawn = {}; S.lastDrawnBatch = -1; S.tasks = 0;
  $('method').textContent = ''; $('seed').textContent = '';
  scheduleRedraw();
}

function trainingRecord(rec) {
  var b = num(rec.batch);
  if (b === null) return;
  T.batch.push(b);
  T.before.push(num(rec['charts/return_before']));
  T.after.push(num(rec['charts/return_after']));
  var total = num(rec['charts/env_steps_total']);
  T.cum = total !== null ? total : T.cum + (num(rec['charts/env_steps']) || 0); // runs logged before totals existed
  T.steps.push(T.cum);
  Object.keys(rec).forEach(function (k) {
    var v = num(rec[k]);
    if (k.indexOf('env/') !== 0 || v === null) return;
    T.env[k] = v;
    T.envTotal[k] = (T.envTotal[k] || 0) + v;
  });
  scheduleRedraw();
}

function scheduleRedraw() {
  if (redrawPending) return;
  redrawPending = true;
  requestAnimationFrame(function () { redrawPending = false; redraw(); });
}

function redraw() {
  if (!charts) charts = makeCharts();
  charts.batch.setData([T.batch, T.before, T.after]);
  charts.steps.setData([T.steps, T.before, T.after]);
  drawMatrix();
  renderEnv();
}

function chartOptions(title, xLabel, width) {
  return {
    title: title, width: width, height: 320,
    scales: { x: { time: false } },
    series: [
      { label: xLabel },
      { label: 'before adaptation', stroke: '#0072B2', width: 2, spanGaps: true, points: { show: false } },
      { label: 'after adaptation', stroke: '#D55E00', width: 2, spanGaps: true, points: { show: false } },
    ],
    axes: [{ label: xLabel, values: function (u, vals) { return vals.map(shortNumber); } }, { label: 'mean return', size: 60 }],
  };
}

/** 1500000 → 1.5M, 25000 → 25k: axis labels that do not run into each other. */
function shortNumber(v) {
  if (v === null) return '';
  var a = Math.abs(v);
  if (a >= 1e6) return +(v / 1e6).toFixed(2) + 'M';
  if (a >= 1e4) return +(v / 1e3).toFixed(1) + 'k';
  return String(+v.toFixed(6));
}

function makeCharts() {
  var w = Math.max(360, Math.min(640, Math.floor((window.innerWidth - 60) / 2)));
  var byBatch = chartOptions('Return vs meta-batch', 'meta-batch', w);
  byBatch.hooks = { draw: [function () {
    var last = T.batch.length ? T.batch[T.batch.length - 1] : -1;
    S.lastDrawnBatch = last;
    if (last >= 0 && S.drawn[last] === undefined) S.drawn[last] = Date.now();
  }] };
  return {
    batch: new uPlot(byBatch, [[], [], []], $('chart-batch')),
    steps: new uPlot(chartOptions('Return vs environment steps', 'env steps', w), [[], [], []], $('chart-steps')),
  };
}

function renderEnv() {
  var keys = Object.keys(T.env).sort(), table = $('env-table');
  table.textContent = '';
  if (keys.length === 0) {
    $('env-note').textContent = 'No env/… counters in this run: they come from envs behind the bridge (robots, remote simulators).';
    return;
  }
  var head = table.insertRow();
  ['counter', 'last meta-batch', 'run total'].forEach(function (h) { var th = document.createElement('th'); th.textContent = h; head.appendChild(th); });
  keys.forEach(function (k) {
    var row = table.insertRow();
    [k, String(T.env[k]), String(T.envTotal[k])].forEach(function (v, i) { var c = row.insertCell(); c.textContent = v; if (i === 0) c.style.textAlign = 'left'; });
  });
}

function showTab(name) {
  tab = name;
  ['training', 'continual', 'adapt', 'env'].forEach(function (t) { $('tab-' + t).hidden = t !== name; });
  document.querySelectorAll('nav button').forEach(function (b) { b.classList.toggle('active', b.getAttribute('data-tab') === name); });
  if (name === 'adapt') drawPlane(null);
}

function updateTabs() {
  var run = currentRun || { kind: 'pending', adaptable: false, stoppable: false };
  document.querySelectorAll('nav button').forEach(function (b) {
    var t = b.getAttribute('data-tab');
    b.disabled = (t === 'continual' && run.kind !== 'continual') || (t === 'adapt' && !run.adaptable) || (t !== 'continual' && run.kind === 'continual');
    b.title = t === 'adapt' && !run.adaptable ? 'needs a navigation run with a checkpoint, and a dashboard of its own (metarl dashboard RUN)' : '';
  });
  $('stop').hidden = !run.stoppable;
}

function stopRun() {
  if (!currentRun) return;
  api('/api/runs/' + currentRun.id + '/stop', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
    .then(function (r) { return r.json().then(function (b) { $('stop-status').textContent = r.ok ? 'stopping: the run finishes this meta-batch and writes a checkpoint' : b.error; }); });
}

document.querySelectorAll('nav button').forEach(function (b) { b.addEventListener('click', function () { showTab(b.getAttribute('data-tab')); }); });
$('run').addEventListener('change', function () {
  var id = Number($('run').value);
  selectRun(runs.filter(function (r) { return r.id === id; })[0], true);
});
$('token-ok').addEventListener('click', function () {
  TOKEN = $('token').value.trim();
  sessionStorage.setItem('metarl-token', TOKEN);
  $('token-box').hidden = true;
  currentRun = null;
  runsText = '';
  loadRuns();
});
$('stop').addEventListener('click', stopRun);
$('plane').addEventListener('click', onPlaneClick);
$('method').addEventListener('change', drawMatrix);
$('seed').addEventListener('change', drawMatrix);
window.addEventListener('resize', function () { if (charts) { var w = Math.max(360, Math.min(640, Math.floor((window.innerWidth - 60) / 2))); charts.batch.setSize({ width: w, height: 320 }); charts.steps.setSize({ width: w, height: 320 }); } });
showTab('training');
loadRuns();
setInterval(loadRuns, 3000);
`;

export const PAGE_SCRIPT = `${CORE}\n${PAGE_VIEWS}`;
