/**
 * The dashboard's own browser script (served as /assets/dashboard.js): draws the device
 * page's charts with uPlot, asks before forms marked data-confirm, and reloads the page when
 * a pending command changes state. Plain ES5-ish JavaScript, kept as text so no bundler or
 * transpiler touches it.
 */
export const DASHBOARD_JS = String.raw`(function () {
  'use strict';
  document.addEventListener('submit', function (event) {
    var text = event.target.getAttribute && event.target.getAttribute('data-confirm');
    if (text && !window.confirm(text)) event.preventDefault();
  });

  function drawCharts() {
    var holder = document.getElementById('charts');
    var source = document.getElementById('series');
    if (!holder || !source) return;
    if (typeof uPlot === 'undefined') {
      holder.setAttribute('data-drawn', 'error: uPlot did not load');
      return;
    }
    var data = JSON.parse(source.textContent);
    var drawn = 0;
    holder.querySelectorAll('[data-series]').forEach(function (el) {
      var key = el.getAttribute('data-series');
      var options = {
        width: Math.max(300, el.clientWidth || 500),
        height: 180,
        scales: { x: { time: true } },
        series: [{}, { label: el.getAttribute('data-label'), stroke: '#0969da', width: 1.5 }],
        legend: { show: true },
      };
      new uPlot(options, [data.t, data[key]], el);
      drawn++;
    });
    holder.setAttribute('data-drawn', String(drawn));
  }

  function watchCommands() {
    var rows = Array.prototype.slice.call(document.querySelectorAll('[data-poll]'));
    if (rows.length === 0) return;
    var started = Date.now();
    var reloading = false;
    function check() {
      if (reloading || Date.now() - started > 10 * 60 * 1000) return;
      Promise.all(
        rows.map(function (row) {
          return fetch(row.getAttribute('data-poll'), {
            credentials: 'same-origin',
            headers: { accept: 'application/json' },
          })
            .then(function (r) {
              return r.ok ? r.json() : null;
            })
            .then(function (body) {
              if (!body) return false;
              var c = body.command;
              var status =
                c.finishedAt !== undefined ? 'finished' : c.deliveredAt !== undefined ? 'delivered' : 'queued';
              return status !== row.getAttribute('data-status');
            })
            .catch(function () {
              return false;
            });
        }),
      ).then(function (changed) {
        if (changed.indexOf(true) >= 0) {
          reloading = true;
          location.reload();
        } else {
          setTimeout(check, 1500);
        }
      });
    }
    setTimeout(check, 1000);
  }

  drawCharts();
  watchCommands();
})();
`;
