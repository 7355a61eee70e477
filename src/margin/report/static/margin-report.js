/* Draws the static report's charts from its embedded view-model (<script id="margin-view">). */
(function () {
  "use strict";
  var C = window.MarginCharts;
  var view = JSON.parse(document.getElementById("margin-view").textContent);
  var symbol = view.meta.currency_symbol;
  var units = { symbol: symbol, kpiType: view.units.kpi_type, kpiName: view.units.kpi_name };
  var roiTitle = "ROI (" + view.units.roi_unit + ")";

  function canvas(id) { return document.getElementById(id); }

  C.waterfall(canvas("chart-waterfall"), view.waterfall, { units: units });
  C.overTime(canvas("chart-over-time"), view.over_time, { units: units });
  C.intervals(canvas("chart-roi"), view.channels.map(function (r) {
    return { label: r.channel, stat: r.roi };
  }), { title: "ROI (mean)", reference: 1, colour: 0, yTitle: roiTitle });
  C.intervals(canvas("chart-mroi"), view.channels.map(function (r) {
    return { label: r.channel, stat: r.mroi };
  }), { title: "marginal ROI (mean)", reference: 1, colour: 1,
        yTitle: "marginal " + roiTitle });
  if (view.health.fit) {
    C.fitted(canvas("chart-fit"), view.health.fit, { yTitle: view.meta.kpi_name + " (" +
                                                     view.units.kpi_unit + ")" });
    C.residuals(canvas("chart-residuals"), view.health.fit);
  }
  if (view.plan) {
    C.allocation(canvas("chart-allocation"), view.plan.rows, { symbol: symbol });
  }
  if (view.curves) {
    view.curves.channels.forEach(function (curve, i) {
      C.responseCurve(canvas("chart-curve-" + i), curve,
                      { symbol: symbol, horizon: view.curves.horizon_weeks, units: units,
                        kpiName: view.meta.kpi_name });
    });
    Object.keys(view.curves.adstock || {}).forEach(function (name, i) {
      var a = view.curves.adstock[name];
      C.band(canvas("chart-adstock-" + i),
             { labels: a.lag.map(function (k) { return "+" + k; }), mean: a.weight.mean,
               p05: a.weight.p05, p95: a.weight.p95 },
             { label: name + ": share of the effect", xTitle: "weeks after the spend",
               colour: i });
    });
  }
})();
