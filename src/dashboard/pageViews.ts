/**
 * The page's two canvas drawings (plain browser JavaScript, part of /app.js with pageScript.ts):
 * the continual R matrix as a heatmap whose colours span the values drawn, one row per task
 * finished; and the navigation plane of the adaptation tab, where a click asks the server to adapt
 * toward that goal and the returned mean-policy paths are drawn, one colour per adaptation step.
 */
export const PAGE_VIEWS = String.raw`
var VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
var PLANE = 0.6; // the plane drawn spans [-PLANE, PLANE]² (tasks are drawn in ±0.5)

function viridis(t) {
  t = Math.max(0, Math.min(1, t)) * (VIRIDIS.length - 1);
  var i = Math.min(VIRIDIS.length - 2, Math.floor(t)), f = t - i, a = VIRIDIS[i], b = VIRIDIS[i + 1];
  return 'rgb(' + [0, 1, 2].map(function (k) { return Math.round(a[k] + f * (b[k] - a[k])); }).join(',') + ')';
}

function freshContinual() { return { rows: {}, methods: [], seeds: [], size: 0 }; }

function addOption(sel, list, value) {
  if (list.indexOf(value) >= 0) return;
  list.push(value);
  var o = document.createElement('option');
  o.value = o.textContent = String(value);
  sel.appendChild(o);
}

function continualRecord(rec) {
  var row = rec.evalRow;
  if (typeof row === 'string') { try { row = JSON.parse(row); } catch (x) { return; } }
  var task = num(rec.task);
  if (!Array.isArray(row) || task === null) return;
  addOption($('method'), C.methods, String(rec.method));
  addOption($('seed'), C.seeds, String(rec.seed));
  var key = rec.method + '|' + rec.seed;
  (C.rows[key] = C.rows[key] || [])[task] = row;
  C.size = Math.max(C.size, row.length, task + 1);
  S.tasks++;
  scheduleRedraw();
}

function drawMatrix() {
  var cv = $('rmatrix'), g = cv.getContext('2d');
  g.clearRect(0, 0, cv.width, cv.height);
  var key = $('method').value + '|' + $('seed').value, rows = C.rows[key] || [], n = C.size;
  if (n === 0) { g.fillStyle = '#555'; g.font = '14px sans-serif'; g.fillText('waiting for tasks.jsonl lines…', 20, 30); return; }
  var lo = Infinity, hi = -Infinity, done = 0;
  rows.forEach(function (r) { if (!r) return; done++; r.forEach(function (v) { if (isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); } }); });
  if (hi <= lo) { hi = lo + 1e-9; }
  var left = 90, top = 50, bar = 100, cell = Math.floor(Math.min((cv.width - left - bar) / n, (cv.height - top - 10) / n));
  g.font = '12px sans-serif'; g.fillStyle = '#222';
  g.fillText($('method').value + ', seed ' + $('seed').value + ': ' + done + ' of ' + n + ' tasks done', left, 18);
  g.textAlign = 'center';
  for (var j = 0; j < n; j++) if (cell >= 18 || j % 5 === 0) g.fillText('task ' + j, left + (j + 0.5) * cell, top - 8);
  for (var i = 0; i < n; i++) {
    g.textAlign = 'right'; g.fillStyle = '#222';
    if (cell >= 14 || i % 5 === 0) g.fillText('after ' + i, left - 6, top + (i + 0.5) * cell + 4);
    for (j = 0; j < n; j++) {
      var v = rows[i] ? rows[i][j] : undefined, t = (v - lo) / (hi - lo);
      g.fillStyle = isFinite(v) ? viridis(t) : '#eceff1';
      g.fillRect(left + j * cell, top + i * cell, cell - 1, cell - 1);
      if (isFinite(v) && cell >= 34) {
        g.textAlign = 'center'; g.fillStyle = t < 0.6 ? '#fff' : '#111';
        g.fillText(Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(3), left + (j + 0.5) * cell, top + (i + 0.5) * cell + 4);
      }
    }
  }
  var bx = left + n * cell + 20, bh = n * cell;
  for (var k = 0; k < bh; k++) { g.fillStyle = viridis(1 - k / bh); g.fillRect(bx, top + k, 14, 1); }
  g.textAlign = 'left'; g.fillStyle = '#222';
  if (isFinite(hi)) { g.fillText(hi.toPrecision(3), bx + 18, top + 10); g.fillText(lo.toPrecision(3), bx + 18, top + bh); }
}

function toPx(x, y) {
  var cv = $('plane'), m = 30, size = cv.width - 2 * m;
  return [m + (x + PLANE) / (2 * PLANE) * size, m + (PLANE - y) / (2 * PLANE) * size];
}

function fromPx(px, py) {
  var cv = $('plane'), m = 30, size = cv.width - 2 * m;
  return [(px - m) / size * 2 * PLANE - PLANE, PLANE - (py - m) / size * 2 * PLANE];
}

var lastAdapt = null, pendingGoal = null;

function drawPlane() {
  var cv = $('plane'), g = cv.getContext('2d');
  g.clearRect(0, 0, cv.width, cv.height);
  g.strokeStyle = '#eee'; g.lineWidth = 1; g.font = '11px sans-serif'; g.fillStyle = '#777'; g.textAlign = 'center';
  for (var v = -0.6; v <= 0.6001; v += 0.2) {
    var a = toPx(v, -PLANE), b = toPx(v, PLANE), c = toPx(-PLANE, v), d = toPx(PLANE, v);
    g.strokeStyle = Math.abs(v) < 1e-9 ? '#bbb' : '#eee';
    g.beginPath(); g.moveTo(a[0], a[1]); g.lineTo(b[0], b[1]); g.moveTo(c[0], c[1]); g.lineTo(d[0], d[1]); g.stroke();
    g.fillText(v.toFixed(1), a[0], a[1] + 14);
  }
  var s = toPx(0, 0);
  g.strokeStyle = '#222'; g.lineWidth = 1.5; g.beginPath(); g.arc(s[0], s[1], 6, 0, 2 * Math.PI); g.stroke();
  var legend = $('legend');
  legend.textContent = '';
  if (lastAdapt) {
    var n = lastAdapt.paths.length;
    // The last step first, so that earlier (often shorter) paths stay visible on top of it.
    for (var k = n - 1; k >= 0; k--) {
      var col = viridis(n === 1 ? 0 : k / (n - 1)), pts = lastAdapt.paths[k].points;
      g.strokeStyle = col; g.lineWidth = 2.5; g.beginPath();
      pts.forEach(function (q, t) { var z = toPx(q[0], q[1]); if (t === 0) g.moveTo(z[0], z[1]); else g.lineTo(z[0], z[1]); });
      g.stroke();
      var e = toPx(pts[pts.length - 1][0], pts[pts.length - 1][1]);
      g.fillStyle = col; g.beginPath(); g.arc(e[0], e[1], 4.5, 0, 2 * Math.PI); g.fill(); g.strokeStyle = '#222'; g.lineWidth = 1; g.stroke();
    }
    lastAdapt.paths.forEach(function (p, k) {
      var col = viridis(n === 1 ? 0 : k / (n - 1));
      var end = p.points[p.points.length - 1], dist = Math.hypot(end[0] - lastAdapt.goal[0], end[1] - lastAdapt.goal[1]);
      var item = document.createElement('div'), sw = document.createElement('i');
      sw.style.background = col;
      item.appendChild(sw);
      item.appendChild(document.createTextNode(p.step + ': ends ' + dist.toFixed(3) + ' from the goal'));
      legend.appendChild(item);
    });
  }
  var goal = pendingGoal || (lastAdapt && lastAdapt.goal);
  if (goal) {
    var z = toPx(goal[0], goal[1]);
    g.fillStyle = '#D55E00'; g.beginPath(); g.moveTo(z[0], z[1] - 8); g.lineTo(z[0] + 8, z[1]); g.lineTo(z[0], z[1] + 8); g.lineTo(z[0] - 8, z[1]); g.closePath(); g.fill();
  }
}

function onPlaneClick(e) {
  if (!currentRun || !currentRun.adaptable) return;
  var cv = $('plane'), r = cv.getBoundingClientRect();
  var goal = fromPx((e.clientX - r.left) * cv.width / r.width, (e.clientY - r.top) * cv.height / r.height);
  goal = goal.map(function (v) { return Math.round(Math.max(-PLANE, Math.min(PLANE, v)) * 1000) / 1000; });
  var steps = Number($('steps').value);
  pendingGoal = goal;
  drawPlane();
  $('adapt-status').textContent = 'adapting toward (' + goal.join(', ') + ') with ' + steps + ' step(s)…';
  api('/api/runs/' + currentRun.id + '/adapt', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ goal: goal, steps: steps }) })
    .then(function (res) {
      return res.json().then(function (body) {
        if (res.status === 429) { $('adapt-status').textContent = 'busy: another adaptation is running; click again in a moment'; return; }
        if (!res.ok) { $('adapt-status').textContent = 'error: ' + body.error; return; }
        pendingGoal = null;
        lastAdapt = body;
        drawPlane();
        S.adaptPaths = body.paths.length;
        S.adaptDrawnAt = Date.now();
        $('adapt-status').textContent = 'θ of meta-batch ' + body.batch + ', adapted toward (' + body.goal.join(', ') + ') in ' + body.seconds.toFixed(1) + ' s. The diamond is the goal, the ring the start, a dot the end of a path.';
      });
    })
    .catch(function (x) { $('adapt-status').textContent = 'error: ' + x; });
}
`;
