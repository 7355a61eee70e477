/* Customer value (margin/report/ltv.py's view-model): the value of a new customer per
 * acquisition channel, P(alive), the holdout check. Two hosts: the static report embeds
 * the whole report view in <script type="application/json" id="margin-view"> (its `ltv`
 * key) with the text already rendered; the dashboard page /value (pages/value.html)
 * fetches GET /api/ltv and fills the same ids here. Text is set as text, never as HTML.
 * No inline scripts: works under the dashboard's Content-Security-Policy.
 */
(function () {
  "use strict";
  var C = window.MarginCharts;
  var F = C.format;

  function $(id) { return document.getElementById(id); }

  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = text; }
    if (cls) { node.className = cls; }
    return node;
  }

  function show(id, visible) { var n = $(id); if (n) { n.classList.toggle("hidden", !visible); } }

  function fillTable(id, table) {
    var t = $(id);
    if (!t) { return; }
    t.textContent = "";
    if (!table) { return; }
    var head = el("thead"), tr = el("tr");
    table.headers.forEach(function (h) { tr.appendChild(el("th", h)); });
    head.appendChild(tr);
    t.appendChild(head);
    var body = el("tbody");
    table.rows.forEach(function (row) {
      var r = el("tr");
      row.forEach(function (cell) { r.appendChild(el("td", cell)); });
      body.appendChild(r);
    });
    t.appendChild(body);
  }

  function fillList(id, lines) {
    var ul = $(id);
    ul.textContent = "";
    lines.forEach(function (line) { ul.appendChild(el("li", line)); });
  }

  /* The text of the page (the static report has it already). */
  function fillText(view) {
    var m = view.meta;
    $("ltv-meta").textContent = "Run " + m.run_id + ": " + m.model + " and gamma_gamma fits (" +
      m.interval_method + "), calibration to " + m.calibration_end + ", money in " +
      (m.currency || "the workspace's currency") +
      ". Brackets are 90% intervals [5th, 95th percentile].";
    var cards = $("ltv-cards");
    cards.textContent = "";
    view.cards.forEach(function (card) {
      var box = el("div", null, "metric");
      box.appendChild(el("div", card.label, "label"));
      box.appendChild(el("div", card.value, "value"));
      box.appendChild(el("div", card.range, "range"));
      cards.appendChild(box);
    });
    fillTable("table-ltv-channels", view.tables.channels);
    fillList("ltv-notes", view.notes);
    fillTable("table-ltv-params", view.tables.params);
    if (view.p_alive) { $("ltv-alive-note").textContent = view.p_alive.note; }
    if (view.holdout) {
      $("ltv-holdout-note").textContent = "Customers grouped by their purchases in the " +
        "calibration period: their mean repeat purchases over the " +
        view.holdout.holdout_length + "-" + m.unit.replace(/s$/, "") + " holdout the model " +
        "did not see, actual against predicted (" + view.holdout.model + ", 90% interval).";
      fillTable("table-ltv-holdout", view.holdout.table);
    }
  }

  /* Error bars (p05–p95, with caps) on the bars of dataset 0; marks the canvas with
   * data-whiskers="<number drawn>". */
  var whiskers = {
    id: "ltvWhiskers",
    afterDatasetsDraw: function (chart) {
      var ranges = chart.options.plugins.ltvWhiskers.ranges;
      var y = chart.scales.y, bars = chart.getDatasetMeta(0).data, ctx = chart.ctx, n = 0;
      ctx.save();
      ctx.strokeStyle = "#0f172a";
      ctx.lineWidth = 1.5;
      ranges.forEach(function (r, i) {
        if (!bars[i]) { return; }
        var x = bars[i].x, top = y.getPixelForValue(r[1]), bottom = y.getPixelForValue(r[0]);
        var cap = Math.max(4, Math.min(12, (bars[i].width || 20) / 4));
        ctx.beginPath();
        ctx.moveTo(x, bottom); ctx.lineTo(x, top);
        ctx.moveTo(x - cap, top); ctx.lineTo(x + cap, top);
        ctx.moveTo(x - cap, bottom); ctx.lineTo(x + cap, bottom);
        ctx.stroke();
        n += 1;
      });
      ctx.restore();
      chart.canvas.setAttribute("data-whiskers", String(n));
    }
  };

  function fresh(canvas) {
    var existing = window.Chart.getChart(canvas);
    if (existing) { existing.destroy(); }
  }

  function done(canvas) { canvas.setAttribute("data-rendered", "1"); }

  /* Value of a new customer per channel: bars (mean) with 90% error bars, currency axis. */
  function valueChart(view) {
    var v = view.value, symbol = view.meta.symbol, canvas = $("chart-ltv-value");
    fresh(canvas);
    new window.Chart(canvas, {
      type: "bar",
      data: { labels: v.labels, datasets: [{
        label: "value of a new customer (mean)", data: v.mean,
        backgroundColor: v.labels.map(function (_, i) {
          return C.colour(i, v.pooled[i] ? 0.35 : 0.8); }),
        borderColor: v.labels.map(function (_, i) { return C.colour(i); }), borderWidth: 1 }] },
      options: {
        animation: false, responsive: true, maintainAspectRatio: false,
        plugins: {
          legend: { display: false },
          ltvWhiskers: { ranges: v.labels.map(function (_, i) { return [v.p05[i], v.p95[i]]; }) },
          tooltip: { callbacks: { label: function (ctx) {
            var i = ctx.dataIndex;
            return F.interval({ mean: v.mean[i], p05: v.p05[i], p95: v.p95[i] },
                              function (x) { return F.money(x, symbol); }) +
              (v.pooled[i] ? " (pooled fit)" : "");
          } } }
        },
        scales: { y: { beginAtZero: true,
                       suggestedMax: Math.max.apply(null, v.p95) * 1.05,
                       title: { display: true, text: v.y_title },
                       ticks: { callback: function (x) { return F.money(x, symbol); } } } }
      },
      plugins: [whiskers]
    });
    done(canvas);
  }

  /* Customers per P(alive) bin, stacked by acquisition channel. */
  function aliveChart(view) {
    var p = view.p_alive, canvas = $("chart-ltv-alive");
    fresh(canvas);
    var series = p.by_channel.length ? p.by_channel :
      [{ channel: "all customers", counts: p.counts }];
    new window.Chart(canvas, {
      type: "bar",
      data: { labels: p.labels, datasets: series.map(function (s, i) {
        return { label: s.channel, data: s.counts, backgroundColor: C.colour(i, 0.8) };
      }) },
      options: {
        animation: false, responsive: true, maintainAspectRatio: false,
        plugins: { legend: { position: "bottom" }, tooltip: { callbacks: { label: function (ctx) {
          return ctx.dataset.label + ": " + ctx.parsed.y.toLocaleString("en-US") + " customers";
        } } } },
        scales: { x: { stacked: true,
                       title: { display: true, text: "P(alive) at the calibration end" } },
                  y: { stacked: true, beginAtZero: true,
                       title: { display: true, text: "customers" } } }
      }
    });
    done(canvas);
  }

  /* Predicted (mean and 90% interval) against actual repeat purchases per bucket. */
  function holdoutChart(view) {
    var h = view.holdout, canvas = $("chart-ltv-holdout");
    fresh(canvas);
    var unit = view.meta.unit.replace(/s$/, "");
    new window.Chart(canvas, {
      type: "bar",
      data: { labels: h.labels, datasets: [
        { type: "bar", label: "predicted, 90% interval",
          data: h.labels.map(function (_, i) { return [h.p05[i], h.p95[i]]; }),
          backgroundColor: C.colour(0, 0.3), borderColor: C.colour(0), borderWidth: 1,
          barPercentage: 0.5, order: 3 },
        { type: "line", label: "predicted (mean)", data: h.mean, borderColor: C.colour(0),
          backgroundColor: C.colour(0), pointRadius: 4, borderWidth: 2, order: 2 },
        { type: "line", label: "actual", data: h.actual, borderColor: "#111827",
          backgroundColor: "#111827", borderDash: [6, 4], pointRadius: 4, borderWidth: 2,
          order: 1 }
      ] },
      options: {
        animation: false, responsive: true, maintainAspectRatio: false,
        plugins: { legend: { position: "bottom" } },
        scales: {
          x: { title: { display: true, text: "purchases in the calibration period" } },
          y: { beginAtZero: true, title: { display: true, text: "purchases per customer, " +
               h.holdout_length + "-" + unit + " holdout" } } }
      }
    });
    done(canvas);
  }

  function draw(view) {
    show("ltv-empty", !!view.empty);
    show("ltv-body", !view.empty);
    if (view.empty) {
      $("ltv-empty-reason").textContent = view.reason;
      $("ltv-start").textContent = view.start_command;
      return;
    }
    show("ltv-channels-block", !!view.value);
    show("ltv-no-channels", !view.value);
    show("ltv-alive", !!view.p_alive);
    show("ltv-holdout", !!view.holdout);
    if (view.value) { valueChart(view); }
    if (view.p_alive) { aliveChart(view); }
    if (view.holdout) { holdoutChart(view); }
  }

  var embedded = $("margin-view");
  if (embedded) {  // the static report: text is there, draw the charts (when it has a run)
    var ltv = JSON.parse(embedded.textContent).ltv;
    if (ltv) { draw(ltv); }
    return;
  }
  var App = window.MarginApp;
  var body = document.body;
  App.api("/api/ltv").then(function (run) {
    fillText(run.view);
    draw(run.view);
  }).catch(function (err) {
    if (err.status === 404) {
      var command = (/record one with (.*) \(W:/.exec(err.message) || [])[1];
      var reason = err.message.split(";")[0];
      draw({ empty: true, reason: reason.charAt(0).toUpperCase() + reason.slice(1) + ".",
             start_command: command || "margin ltv by-channel -w W --horizon-weeks 52" });
      return;
    }
    App.showError(err);
  }).then(function () {
    body.setAttribute("data-loaded", "1");
  });
})();
