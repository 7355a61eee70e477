/* The learning loop's page: draws the view-model of margin/report/learning.py.
 * Two hosts: the static report (learning_report.html) embeds the view in
 * <script type="application/json" id="margin-learning-view"> and has its text rendered
 * already; the dashboard page /learning (pages/learning.html) fetches it from
 * GET /api/loop/cycles and fills the same ids here. Text cells are set as text, never
 * as HTML. No inline scripts: works under the dashboard's Content-Security-Policy.
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

  function fillList(id, lines, prefix) {
    var ul = $(id);
    ul.textContent = "";
    lines.forEach(function (line) { ul.appendChild(el("li", (prefix || "") + line)); });
  }

  function show(id, visible) { $(id).classList.toggle("hidden", !visible); }

  /* The text of the page (the static report has it already). */
  function fillText(view) {
    var m = view.meta;
    $("learning-meta").textContent = "Loop " + m.loop_id + ", policy " + m.policy + ", KPI " +
      m.kpi + ", money in " + m.currency + ". Brackets are 90% intervals [5th, 95th percentile].";
    var cards = $("learning-cards");
    cards.textContent = "";
    view.cards.forEach(function (card) {
      var box = el("div", null, "metric");
      box.appendChild(el("div", card.label, "label"));
      box.appendChild(el("div", card.value, "value"));
      box.appendChild(el("div", card.range, "range"));
      cards.appendChild(box);
    });
    fillList("learning-headline", view.headline);
    $("budget-unit").textContent = "Spend over each cycle's weeks (the plan executed, tests " +
      "folded in), " + m.currency + ".";
    fillList("tests-taught", view.tests.rows.map(function (r) {
      return "Cycle " + r.cycle + ": " + r.taught;
    }));
    $("cumulative-method").textContent = view.cumulative.method;
    ["cycles", "tests", "cumulative", "plan", "calendar", "truth", "reconciliation"]
      .forEach(function (name) { fillTable("table-" + name, view.tables[name]); });
    if (view.next) {
      $("next-title").textContent = "Cycle " + view.next.cycle + "'s plan and test calendar (" +
        view.next.start + " → " + view.next.end + ")";
      fillList("next-guardrails", view.next.guardrails, "Guardrail: ");
      $("calendar-note").textContent = view.next.calendar_note;
    }
    if (view.truth) { $("truth-note").textContent = view.truth.note; }
    if (view.reconciliation) {
      $("reconciliation-title").textContent = "Reconciliation of cycle " +
        view.reconciliation.cycle;
      fillList("reconciliation-flags", view.reconciliation.flags);
      fillList("reconciliation-notes", view.reconciliation.notes);
      $("reconciliation-unit").textContent = view.reconciliation.unit;
    }
    show("truth", !!view.truth);
    show("reconciliation", !!view.reconciliation);
  }

  function moneyTick(symbol) { return function (v) { return F.money(v, symbol); }; }

  /* Spend per channel per cycle, stacked (currency). */
  function budgetChart(view) {
    var symbol = view.meta.symbol;
    var canvas = $("chart-budget");
    var existing = window.Chart.getChart(canvas);
    if (existing) { existing.destroy(); }
    new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: view.budget.labels,
        datasets: view.budget.series.map(function (s, i) {
          return { label: s.channel, data: s.values, backgroundColor: C.colour(i, 0.8),
                   borderColor: C.colour(i), borderWidth: 1 };
        })
      },
      options: {
        animation: false, responsive: true, maintainAspectRatio: false,
        plugins: {
          legend: { position: "bottom" },
          tooltip: { callbacks: { label: function (ctx) {
            return ctx.dataset.label + ": " + F.money(ctx.parsed.y, symbol);
          } } }
        },
        scales: { x: { stacked: true },
                  y: { stacked: true, beginAtZero: true,
                       title: { display: true, text: "spend over the cycle (" + view.meta.currency + ")" },
                       ticks: { callback: moneyTick(symbol) } } }
      }
    });
    canvas.setAttribute("data-rendered", "1");
  }

  /* One chart per channel: the ROI band over cycles, triangles where a test landed. */
  function roiCharts(view) {
    var box = $("roi-charts");
    box.textContent = "";
    var labels = view.cycles.map(function (c) { return c.label; });
    view.roi.forEach(function (r, i) {
      var holder = el("div", null, "chart small");
      var canvas = el("canvas");
      canvas.id = "chart-roi-" + i;
      canvas.setAttribute("aria-label", r.channel + " ROI per cycle");
      holder.appendChild(canvas);
      box.appendChild(holder);
      var chart = C.band(canvas, { labels: labels, mean: r.mean, p05: r.p05, p95: r.p95 },
                         { label: r.channel + " ROI (mean, ×)", colour: i,
                           yTitle: "ROI (× spend)" });
      chart.data.datasets.push({
        type: "line", label: "test analysed", showLine: false, pointStyle: "triangle",
        pointRadius: 9, backgroundColor: "#0f172a", borderColor: "#0f172a",
        data: r.tested.map(function (t, k) { return t ? r.mean[k] : null; })
      });
      chart.options.plugins.title = { display: true, text: r.channel };
      chart.update();
    });
  }

  /* The cumulative expected gain with its band (independent cycles) and the widest case. */
  function cumulativeChart(view) {
    var rows = view.cumulative.per_cycle;
    var symbol = view.meta.symbol;
    function pick(key, q) {
      return rows.map(function (r) { return r[key] ? r[key][q] : null; });
    }
    var chart = C.band($("chart-cumulative"), {
      labels: rows.map(function (r) { return "cycle " + r.cycle; }),
      mean: pick("cumulative", "mean"), p05: pick("cumulative", "p05"),
      p95: pick("cumulative", "p95")
    }, { label: "cumulative expected gain (mean)", colour: 2,
         yTitle: "gain vs status quo (" + view.meta.currency + ")" });
    ["p05", "p95"].forEach(function (q) {
      chart.data.datasets.push({ label: q === "p05" ? "widest case (cycles fully dependent)" :
        "widest case, 95th", data: pick("cumulative_dependent", q), borderColor: "#64748b",
        borderDash: [6, 4], borderWidth: 1.5, pointRadius: 0, fill: false });
    });
    chart.options.plugins.legend.labels.filter = function (item) {
      return item.text !== "95th percentile" && item.text !== "widest case, 95th";
    };
    chart.options.scales.y.ticks.callback = moneyTick(symbol);
    chart.update();
  }

  function truthChart(view) {
    if (!view.truth) { return; }
    C.grouped($("chart-truth"), view.truth.labels, [{
      label: "share of the oracle's gain (known only in simulation)",
      values: view.truth.rows.map(function (r) { return r.share_of_oracle; })
    }], { percent: true });
  }

  function draw(view) {
    show("learning-empty", !!view.empty);
    show("learning-body", !view.empty);
    if (view.empty) {
      $("learning-empty-reason").textContent = view.reason;
      $("learning-start").textContent = view.start_command;
      return;
    }
    budgetChart(view);
    roiCharts(view);
    cumulativeChart(view);
    truthChart(view);
  }

  var embedded = $("margin-learning-view");
  if (embedded) {  // the static report: text is there, draw the charts
    draw(JSON.parse(embedded.textContent));
    return;
  }
  var App = window.MarginApp;
  var body = document.body;
  App.api("/api/loop/cycles").then(function (view) {
    if (!view.empty) { fillText(view); }
    draw(view);
  }).catch(function (err) { App.showError(err); }).then(function () {
    body.setAttribute("data-loaded", "1");
  });
})();
