/* The breakdown of a run: the baseline in parts, immediate vs carry-over, results by geo.
 * Shapes: margin/report/breakdown.py (decomposition_view, geos_view). Used by the static
 * report (inlined after margin-report.js: draws from <script id="margin-view">) and by the
 * dashboard's contributions and geos pages (served at /static, after margin-app.js:
 * fetches /api/runs/{id}/decomposition and /geos). Every number carries its unit; brackets
 * are 90% intervals. Text is set as text, never as HTML.
 */
(function (root) {
  "use strict";
  var C = root.MarginCharts;
  var F = C.format;

  function $(id) { return document.getElementById(id); }

  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = text; }
    if (cls) { node.className = cls; }
    return node;
  }

  function fill(id, headers, rows) {
    var t = $(id);
    if (!t) { return; }
    t.textContent = "";
    var head = el("thead"), tr = el("tr");
    headers.forEach(function (h) { tr.appendChild(el("th", h)); });
    head.appendChild(tr);
    t.appendChild(head);
    var body = el("tbody");
    rows.forEach(function (row) {
      var r = el("tr");
      row.forEach(function (cell) { r.appendChild(el("td", cell)); });
      body.appendChild(r);
    });
    t.appendChild(body);
  }

  function say(id, text) { var n = $(id); if (n) { n.textContent = text; } }

  function show(id, visible) {
    var n = $(id);
    if (n) { n.classList[visible ? "remove" : "add"]("hidden"); }
  }

  /* The baseline in parts and each channel: table, chart of KPI with 90% intervals,
   * immediate vs carry-over per channel. view: decomposition_view. */
  function decomposition(view, symbol) {
    var I = amount(view.kpi_type, symbol);
    show("breakdown-parts", view.available);
    show("breakdown-carryover", view.carryover.length > 0);
    say("breakdown-note", view.message);
    if (view.available) {
      var unit = " (" + view.kpi + ")";
      fill("table-parts", ["component", "kind", view.kpi + " over the fitted weeks",
                           "share of predicted"],
        view.rows.map(function (r) {
          return [r.label, r.kind, I(r.kpi) + " " + view.kpi, F.pct(r.share)];
        }).concat([["predicted total", "", I(view.predicted) + " " + view.kpi, "100%"]]));
      var canvas = $("chart-parts");
      if (canvas) {
        C.intervals(canvas, view.rows.map(function (r) { return { label: r.label, stat: r.kpi }; }),
                    { title: "contribution" + unit + ", mean", zero: false, colour: 0 });
      }
    }
    if (view.carryover.length) {
      fill("table-carryover", ["channel", "contribution (" + view.kpi + ")",
                               "immediate: same week (" + view.kpi + ")",
                               "carry-over: later weeks (" + view.kpi + ")", "carry-over share"],
        view.carryover.map(function (r) {
          return [r.channel, I(r.contribution), I(r.immediate), I(r.carryover),
                  r.carryover_share === null ? "–" : (100 * r.carryover_share).toFixed(1) + "%"];
        }));
      var bars = $("chart-carryover");
      if (bars) {
        C.grouped(bars, view.carryover.map(function (r) { return r.channel; }), [
          { label: "immediate (same week), " + view.kpi,
            values: view.carryover.map(function (r) { return r.immediate.mean; }) },
          { label: "carry-over (later weeks), " + view.kpi,
            values: view.carryover.map(function (r) { return r.carryover.mean; }) }
        ]);
      }
    }
  }

  /* An interval in the KPI's unit: money for a revenue KPI, else the plain number. */
  function amount(kpiType, symbol) {
    if (kpiType !== "revenue" || !symbol) { return F.interval; }
    return function (stat) { return F.interval(stat, function (x) { return F.money(x, symbol); }); };
  }

  function roiText(stat, symbol) {
    return stat ? F.ratio(stat) + " revenue per " + (symbol || "") + "1 spent" : "– (no spend)";
  }

  /* ROI and contribution by geo × channel. view: geos_view. */
  function geos(view, symbol) {
    var I = amount(view.kpi_type, symbol);
    var one = (view.kpi_type === "revenue" && symbol)
      ? function (x) { return F.money(x, symbol); } : F.number;
    say("geos-note", view.message);
    show("geos-block", view.available);
    if (!view.available) { return; }
    fill("table-geo-totals", ["geo", "predicted " + view.kpi, "observed " + view.kpi,
                              "from media (" + view.kpi + ")"],
      view.geos.map(function (g) {
        return [g.geo, I(g.kpi_predicted), one(g.kpi_observed), I(g.media)];
      }));
    fill("table-geos", ["geo", "channel", "spend (" + (symbol || "currency") + ")",
                        "contribution (" + view.kpi + ")", "share of the geo's " + view.kpi,
                        "ROI"],
      view.rows.map(function (r) {
        return [r.geo, r.channel, F.money(r.spend, symbol), I(r.contribution),
                F.pct(r.contribution_share), roiText(r.roi, symbol)];
      }));
    var withRoi = view.rows.filter(function (r) { return !!r.roi; });
    var roiCanvas = $("chart-geo-roi");
    if (roiCanvas) {
      C.intervals(roiCanvas, withRoi.map(function (r) {
        return { label: r.geo + " · " + r.channel, stat: r.roi };
      }), { title: "ROI (revenue per " + (symbol || "") + "1 spent), mean", reference: 1,
          colour: 1 });
    }
    var contribution = $("chart-geo-contribution");
    if (contribution) {
      C.intervals(contribution, view.rows.map(function (r) {
        return { label: r.geo + " · " + r.channel, stat: r.contribution };
      }), { title: "contribution (" + view.kpi + "), mean", colour: 2 });
    }
  }

  function dashboard(page) {
    var app = root.MarginApp;
    var run = encodeURIComponent(document.body.getAttribute("data-run") || "latest");
    var currency = document.body.getAttribute("data-currency") || "";
    var symbol = F.symbol ? F.symbol(currency) : "";
    if (page === "contributions") {
      return app.api("/api/runs/" + run + "/decomposition").then(function (view) {
        decomposition(view, symbol);
      });
    }
    return app.api("/api/runs/" + run + "/geos").then(function (view) { geos(view, symbol); });
  }

  function start() {
    var page = document.body.getAttribute("data-page");
    var embedded = $("margin-view");
    if (page === "report" && embedded) {
      var view = JSON.parse(embedded.textContent);
      if (view.breakdown) { decomposition(view.breakdown, view.meta.currency_symbol); }
      if (view.geos) { geos(view.geos, view.meta.currency_symbol); }
      return;
    }
    if (page !== "contributions" && page !== "geos") { return; }
    var done = function () {
      if (page === "geos") { document.body.setAttribute("data-loaded", "1"); }
      document.body.setAttribute("data-breakdown-loaded", "1");
    };
    dashboard(page).then(done, function (err) {
      root.MarginApp.showError(err, "breakdown-error");
      done();
    });
  }

  root.MarginBreakdown = { decomposition: decomposition, geos: geos };
  start();
})(window);
