/**
 * The page's one script (served as /static/charts.js): draws each `data-chart` element with uPlot
 * from the page's JSON island, then writes how many points and what sums it drew into data
 * attributes, so the browser test compares what is drawn with the ledger. It never puts data into
 * innerHTML: series names are constants of ./views.ts.
 */
export const CHARTS_JS = String.raw`(function () {
  var island = document.getElementById('page-data');
  if (!island) return;
  var charts = (JSON.parse(island.textContent) || {}).charts || {};
  var nodes = document.querySelectorAll('[data-chart]');
  for (var i = 0; i < nodes.length; i++) draw(nodes[i], charts[nodes[i].getAttribute('data-chart')]);
  function draw(div, c) {
    if (!c) return;
    var names = Object.keys(c.series);
    if (c.x.length === 0) { div.textContent = 'no data yet'; div.setAttribute('data-points', '0'); return; }
    var axes = c.axes || {};
    var y2 = names.some(function (k) { return axes[k] === 'y2'; });
    var opts = {
      width: Math.max(320, Math.min(900, window.innerWidth - 60)), height: 240,
      scales: { x: c.range ? { time: !!c.time, range: c.range } : { time: !!c.time } },
      series: [{}].concat(names.map(function (k) { return { label: k, stroke: c.colors[k], width: 2, scale: axes[k] || 'y', points: { show: c.x.length < 40 } }; })),
      axes: [{}, { scale: 'y', size: 80 }].concat(y2 ? [{ scale: 'y2', side: 1, size: 60, grid: { show: false } }] : []),
    };
    new uPlot(opts, [c.x].concat(names.map(function (k) { return c.series[k]; })), div);
    div.setAttribute('data-points', String(c.x.length));
    div.setAttribute('data-series', names.join(','));
    div.setAttribute('data-sums', JSON.stringify(names.map(function (k) { return c.series[k].reduce(function (a, b) { return a + b; }, 0); })));
  }
})();
`;
