/* margin's charts on top of the vendored Chart.js 4 (global `Chart`).
 * Used by the static report (inlined) and the dashboard pages (served at /static).
 * Every function takes a <canvas> and plain data (see margin/report/views.py for shapes),
 * draws without animation, and marks the canvas with data-rendered="1" once drawn.
 * Intervals are {mean, p05, p95}: posterior mean and 90% interval.
 */
(function (root) {
  "use strict";

  var PALETTE = ["#2563eb", "#ea580c", "#16a34a", "#9333ea", "#dc2626", "#0891b2",
                 "#ca8a04", "#db2777", "#4b5563", "#65a30d"];

  function colour(i, alpha) {
    var hex = PALETTE[i % PALETTE.length];
    if (alpha === undefined) { return hex; }
    var n = parseInt(hex.slice(1), 16);
    return "rgba(" + (n >> 16) + "," + ((n >> 8) & 255) + "," + (n & 255) + "," + alpha + ")";
  }

  function number(x, digits) {
    if (x === null || x === undefined || !isFinite(x)) { return "–"; }
    var size = Math.abs(x);
    var units = [[1e9, "B"], [1e6, "M"], [1e3, "k"]];
    for (var i = 0; i < units.length; i++) {
      if (size >= units[i][0]) { return (x / units[i][0]).toFixed(2) + units[i][1]; }
    }
    return x.toFixed(digits === undefined ? 2 : digits);
  }

  function money(x, symbol) {
    if (x === null || x === undefined || !isFinite(x)) { return "–"; }
    return (x < 0 ? "-" : "") + (symbol || "") + number(Math.abs(x));
  }

  /* Units: the rules of margin.wording (currency_symbol, kpi_unit, kpi_span, gain_words,
   * per_money, minute); keep in step. `units` is {symbol, kpiType, kpiName}: symbol the
   * prefix of money ("$", "CHF "), kpiType "revenue" or "conversions". */
  var SYMBOLS = { USD: "$", EUR: "€", GBP: "£", JPY: "¥", INR: "₹", CNY: "¥" };

  function symbol(currency) {
    if (!currency) { return ""; }
    return SYMBOLS[currency] || currency + " ";
  }

  function kpiUnit(units) {
    if (!units || units.kpiType !== "conversions") { return ""; }
    return !units.kpiName || units.kpiName === "conversions" ? "conversions" : units.kpiName;
  }

  function kpi(x, units) {
    var unit = kpiUnit(units);
    return unit ? number(x) + " " + unit : money(x, units && units.symbol);
  }

  function kpiSpan(stat, units) {
    if (!stat) { return "–"; }
    var unit = kpiUnit(units);
    if (unit) { return interval(stat) + " " + unit; }
    return interval(stat, function (x) { return money(x, units && units.symbol); });
  }

  function gain(stat, units, kpiValue) {
    var text = kpiSpan(stat, units);
    if (!stat || !kpiUnit(units) || !(kpiValue > 0)) { return text; }
    var worth = interval({ mean: stat.mean * kpiValue, p05: stat.p05 * kpiValue,
                           p95: stat.p95 * kpiValue },
                         function (x) { return money(x, units.symbol); });
    return text + " (worth " + worth + " at " + money(kpiValue, units.symbol) + " a conversion)";
  }

  function perMoney(units) {
    var s = (units && units.symbol || "").trim();
    return s ? s + " per " + s : "×";
  }

  /* "2026-12-07 16:14 UTC" from ISO text (naive: UTC, as margin stores times). */
  function minute(text) {
    if (!text) { return ""; }
    var iso = String(text).replace(" ", "T");
    if (!/([zZ]|[+-]\d\d:?\d\d)$/.test(iso)) { iso += "Z"; }
    var d = new Date(iso);
    if (isNaN(d.getTime())) { return String(text); }
    function two(n) { return (n < 10 ? "0" : "") + n; }
    return d.getUTCFullYear() + "-" + two(d.getUTCMonth() + 1) + "-" + two(d.getUTCDate()) +
      " " + two(d.getUTCHours()) + ":" + two(d.getUTCMinutes()) + " UTC";
  }

  function interval(stat, format) {
    var f = format || number;
    if (!stat) { return "–"; }
    return f(stat.mean) + " [" + f(stat.p05) + ", " + f(stat.p95) + "]";
  }

  function ratio(stat) {
    if (!stat) { return "–"; }
    return stat.mean.toFixed(2) + "× [" + stat.p05.toFixed(2) + ", " + stat.p95.toFixed(2) + "]";
  }

  function pct(stat) {
    var f = function (x) { return (100 * x).toFixed(1) + "%"; };
    return interval(stat, f);
  }

  function base(extra) {
    var options = {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      plugins: { legend: { position: "bottom" } }
    };
    return Object.assign(options, extra || {});
  }

  function draw(canvas, config) {
    if (typeof root.Chart !== "function") {
      throw new Error("Chart.js is not loaded: the page cannot draw its charts");
    }
    var existing = root.Chart.getChart(canvas);
    if (existing) { existing.destroy(); }
    var chart = new root.Chart(canvas, config);
    canvas.setAttribute("data-rendered", "1");
    return chart;
  }

  /* Error bars: a vertical p05–p95 line with caps on each bar of dataset 0, from
   * options.plugins.whiskers.ranges ([[low, high] per bar, null for none]). The canvas gets
   * data-whiskers="<number drawn>". */
  var whiskerPlugin = {
    id: "whiskers",
    afterDatasetsDraw: function (chart, args, options) {
      var ranges = (options && options.ranges) || [];
      var y = chart.scales.y, bars = chart.getDatasetMeta(0).data, ctx = chart.ctx, n = 0;
      ctx.save();
      ctx.strokeStyle = options.colour || "#0f172a";
      ctx.lineWidth = 1.5;
      ranges.forEach(function (r, i) {
        if (!r || !bars[i]) { return; }
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

  /* Waterfall: baseline, each channel stacked on it, predicted KPI; each step's 90%
   * interval (p05–p95) as an error bar around where the step ends.
   * data: {kpi, steps: [{label, kind, start, end, value: I}]}, opts: {units} */
  function waterfall(canvas, data, opts) {
    var o = opts || {};
    var show = function (v) { return kpi(v, o.units); };
    /* the axis title carries the unit, so ticks show plain numbers (money keeps its sign) */
    var tick = kpiUnit(o.units) ? number : show;
    var labels = data.steps.map(function (s) { return s.label; });
    var bars = data.steps.map(function (s) { return [s.start, s.end]; });
    var ranges = data.steps.map(function (s) {
      var offset = s.kind === "channel" ? s.start : 0;
      return [offset + s.value.p05, offset + s.value.p95];
    });
    var colours = data.steps.map(function (s, i) {
      return s.kind === "channel" ? colour(i - 1) : "#94a3b8";
    });
    var baseline = data.steps[0].end, total = data.steps[data.steps.length - 1].end;
    var media = Math.abs(total - baseline), floor = 0;
    var lowest = Math.min.apply(null, ranges.map(function (r) { return r[0]; }));
    var highest = Math.max.apply(null, ranges.map(function (r) { return r[1]; }));
    if (baseline > 0 && media < 0.3 * total) {
      var raw = Math.max(0, Math.min(baseline - 2 * media, lowest));
      var unit = Math.pow(10, Math.floor(Math.log10(raw || 1)) - 1);
      floor = Math.floor(raw / unit) * unit;
    }
    var unitText = kpiUnit(o.units) || (o.units && o.units.symbol ? o.units.symbol.trim() : "");
    return draw(canvas, {
      type: "bar",
      plugins: [whiskerPlugin],
      data: {
        labels: labels,
        datasets: [
          { label: data.kpi + " (mean)", data: bars, backgroundColor: colours, grouped: false },
          { type: "line", label: "90% interval (p05–p95)", data: [], borderColor: "#0f172a",
            backgroundColor: "#0f172a", borderWidth: 1.5 }
        ]
      },
      options: base({
        plugins: {
          legend: { position: "bottom" },
          whiskers: { ranges: ranges },
          tooltip: { callbacks: { label: function (ctx) {
            return ctx.label + ": " + kpiSpan(data.steps[ctx.dataIndex].value, o.units);
          } } },
          subtitle: { display: floor > 0, text: "axis starts at " + show(floor) +
                      ", not zero, so that the channels show" }
        },
        scales: { y: { min: floor > 0 ? floor : undefined, suggestedMax: highest,
                       title: { display: !!unitText, text: data.kpi + (unitText ? " (" +
                                unitText + ")" : "") },
                       ticks: { callback: function (v) { return tick(v); } } } }
      })
    });
  }

  /* Weekly contribution per channel as stacked areas.
   * data: {labels: [...], series: [{channel, mean, p05, p95}]} */
  function overTime(canvas, data, opts) {
    var o = opts || {};
    var datasets = data.series.map(function (s, i) {
      return { label: s.channel, data: s.mean, fill: i === 0 ? "origin" : "-1",
               backgroundColor: colour(i, 0.45), borderColor: colour(i), borderWidth: 1,
               pointRadius: 0, interval: s };
    });
    return draw(canvas, {
      type: "line",
      data: { labels: data.labels, datasets: datasets },
      options: base({
        interaction: { mode: "index", intersect: false },
        plugins: {
          legend: { position: "bottom" },
          tooltip: { callbacks: { label: function (ctx) {
            var s = ctx.dataset.interval, k = ctx.dataIndex;
            return s.channel + ": " + kpiSpan({ mean: s.mean[k], p05: s.p05[k], p95: s.p95[k] },
                                              o.units);
          } } }
        },
        scales: { y: { stacked: true, ticks: { callback: function (v) { return kpi(v, o.units); } } } }
      })
    });
  }

  /* Means with 90% intervals per label (error bars drawn as floating bars), a reference line.
   * rows: [{label, stat: I}], options: {title, reference (e.g. 1 = break-even), colour} */
  function intervals(canvas, rows, opts) {
    var o = opts || {};
    var labels = rows.map(function (r) { return r.label; });
    var datasets = [
      { type: "bar", label: "90% interval", data: rows.map(function (r) {
          return [r.stat.p05, r.stat.p95]; }),
        backgroundColor: colour(o.colour || 0, 0.35), borderColor: colour(o.colour || 0),
        borderWidth: 1, barPercentage: 0.35, order: 2 },
      { type: "line", label: (o.title || "mean"), data: rows.map(function (r) {
          return r.stat.mean; }),
        showLine: false, pointRadius: 6, pointStyle: "rectRot",
        backgroundColor: colour(o.colour || 0), borderColor: "#0f172a", order: 1 }
    ];
    if (o.reference !== undefined) {
      datasets.push({ type: "line", label: o.referenceLabel || "break-even",
        data: rows.map(function () { return o.reference; }), borderColor: "#64748b",
        borderDash: [6, 4], borderWidth: 1.5, pointRadius: 0, order: 0 });
    }
    return draw(canvas, {
      type: "bar",
      data: { labels: labels, datasets: datasets },
      options: base({
        plugins: {
          legend: { position: "bottom" },
          tooltip: { callbacks: { label: function (ctx) {
            return labels[ctx.dataIndex] + ": " + interval(rows[ctx.dataIndex].stat, o.format);
          } } }
        },
        scales: { y: { beginAtZero: o.zero !== false,
                       title: { display: !!o.yTitle, text: o.yTitle },
                       ticks: { callback: function (v) { return (o.tick || o.format || number)(v); } } } }
      })
    });
  }

  function interpolate(xs, ys, x) {
    if (x <= xs[0]) { return ys[0]; }
    for (var i = 1; i < xs.length; i++) {
      if (x <= xs[i]) {
        var t = (x - xs[i - 1]) / (xs[i] - xs[i - 1]);
        return ys[i - 1] + t * (ys[i] - ys[i - 1]);
      }
    }
    return ys[ys.length - 1];
  }

  /* One channel's response curve with its 90% band, current and recommended spend marked.
   * curve: {channel, spend: [...], kpi: {mean, p05, p95}, current_weekly_spend,
   *         recommended_weekly_spend (or null)}, opts: {symbol, horizon, units, kpiName} */
  function responseCurve(canvas, curve, opts) {
    var o = opts || {};
    var sym = o.symbol !== undefined ? o.symbol : (o.units && o.units.symbol);
    var unitText = kpiUnit(o.units) || (sym ? sym.trim() : "");
    function points(ys) {
      return curve.spend.map(function (x, i) { return { x: x, y: ys[i] }; });
    }
    var datasets = [
      { label: "95th percentile", data: points(curve.kpi.p95), borderWidth: 0, pointRadius: 0,
        fill: false },
      { label: "90% interval", data: points(curve.kpi.p05), borderWidth: 0, pointRadius: 0,
        fill: "-1", backgroundColor: colour(0, 0.18) },
      { label: "incremental KPI (mean)", data: points(curve.kpi.mean), borderColor: colour(0),
        borderWidth: 2, pointRadius: 0, fill: false }
    ];
    var marks = [["current spend", curve.current_weekly_spend, "#0f172a", "circle"],
                 ["recommended spend", curve.recommended_weekly_spend, colour(2), "triangle"]];
    marks.forEach(function (m) {
      if (m[1] === null || m[1] === undefined) { return; }
      datasets.push({ type: "scatter", label: m[0], pointStyle: m[3], pointRadius: 8,
        backgroundColor: m[2], borderColor: m[2],
        data: [{ x: m[1], y: interpolate(curve.spend, curve.kpi.mean, m[1]) }] });
    });
    return draw(canvas, {
      type: "line",
      data: { datasets: datasets },
      options: base({
        plugins: {
          legend: { position: "bottom", labels: { filter: function (item) {
            return item.text !== "95th percentile"; } } },
          title: { display: true, text: curve.channel }
        },
        scales: {
          x: { type: "linear", title: { display: true, text: "weekly spend" +
               (sym ? " (" + sym.trim() + ")" : "") +
               (o.horizon ? ", every week for " + o.horizon + " weeks" : "") },
               ticks: { callback: function (v) { return money(v, sym); } } },
          y: { title: { display: true, text: "incremental " + (o.kpiName || "KPI") +
                        (unitText ? " (" + unitText + ")" : "") },
               ticks: { callback: function (v) {
                 return kpiUnit(o.units) ? number(v) : kpi(v, o.units); } } }
        }
      })
    });
  }

  /* A line with a 90% band over labels (weekly forecast, frontier).
   * data: {labels, mean, p05, p95}, opts: {label, xTitle, yTitle, linearX} */
  function band(canvas, data, opts) {
    var o = opts || {};
    function series(ys) {
      return o.linearX ? data.labels.map(function (x, i) { return { x: x, y: ys[i] }; }) : ys;
    }
    return draw(canvas, {
      type: "line",
      data: {
        labels: o.linearX ? undefined : data.labels,
        datasets: [
          { label: "95th percentile", data: series(data.p95), borderWidth: 0, pointRadius: 0,
            fill: false },
          { label: "90% interval", data: series(data.p05), borderWidth: 0, pointRadius: 0,
            fill: "-1", backgroundColor: colour(o.colour || 0, 0.18) },
          { label: o.label || "mean", data: series(data.mean), borderColor: colour(o.colour || 0),
            borderWidth: 2, pointRadius: o.linearX ? 3 : 0, fill: false }
        ]
      },
      options: base({
        plugins: { legend: { position: "bottom", labels: { filter: function (item) {
          return item.text !== "95th percentile"; } } } },
        scales: {
          x: o.linearX ? { type: "linear", title: { display: !!o.xTitle, text: o.xTitle },
                           ticks: { callback: function (v) { return number(v); } } }
                       : { title: { display: !!o.xTitle, text: o.xTitle } },
          y: { title: { display: !!o.yTitle, text: o.yTitle },
               ticks: { callback: function (v) { return number(v); } } }
        }
      })
    });
  }

  /* Efficient frontier: expected KPI (with band) against budget.
   * points: [{budget, kpi: I}] */
  function frontier(canvas, points, opts) {
    var sorted = points.slice().sort(function (a, b) { return a.budget - b.budget; });
    return band(canvas, {
      labels: sorted.map(function (p) { return p.budget; }),
      mean: sorted.map(function (p) { return p.kpi.mean; }),
      p05: sorted.map(function (p) { return p.kpi.p05; }),
      p95: sorted.map(function (p) { return p.kpi.p95; })
    }, Object.assign({ linearX: true, label: "expected KPI", xTitle: "budget",
                       yTitle: "KPI" }, opts || {}));
  }

  /* A difference (scenario − reference) with its 90% interval against zero (no change).
   * stat: I, opts: {label, units} */
  function difference(canvas, stat, opts) {
    var o = opts || {};
    return intervals(canvas, [{ label: o.label || "scenario − current plan", stat: stat }], {
      title: "difference (mean)", reference: 0, referenceLabel: "no difference", colour: 2,
      format: function (v) { return kpi(v, o.units); },
      tick: kpiUnit(o.units) ? number : function (v) { return kpi(v, o.units); },
      yTitle: "difference in " + (o.kpiName || "KPI") + (kpiUnit(o.units) ? " (" +
              kpiUnit(o.units) + ")" : o.units && o.units.symbol ? " (" + o.units.symbol.trim() + ")" : "")
    });
  }

  /* Grouped bars: current against recommended spend per channel.
   * rows: [{channel, current_spend, spend}] */
  function allocation(canvas, rows, opts) {
    var o = opts || {};
    return draw(canvas, {
      type: "bar",
      data: {
        labels: rows.map(function (r) { return r.channel; }),
        datasets: [
          { label: "current", data: rows.map(function (r) { return r.current_spend; }),
            backgroundColor: "#94a3b8" },
          { label: "recommended", data: rows.map(function (r) { return r.spend; }),
            backgroundColor: colour(2) }
        ]
      },
      options: base({ scales: { y: { beginAtZero: true,
        title: { display: !!o.symbol, text: "spend over the horizon (" + (o.symbol || "").trim() + ")" },
        ticks: { callback: function (v) { return money(v, o.symbol); } } } } })
    });
  }

  /* Plain bars (counts, ratios). rows: [{label, value}] */
  function bars(canvas, rows, opts) {
    var o = opts || {};
    return draw(canvas, {
      type: "bar",
      data: {
        labels: rows.map(function (r) { return r.label; }),
        datasets: [{ label: o.label || "", data: rows.map(function (r) { return r.value; }),
                     backgroundColor: rows.map(function (r, i) {
                       return r.colour || colour(o.colour === undefined ? i : o.colour); }) }]
      },
      options: base({ plugins: { legend: { display: false },
                                 title: { display: !!o.title, text: o.title } },
                      scales: { y: { beginAtZero: true } } })
    });
  }

  /* Grouped bars: one dataset per series over shared labels.
   * labels: [...], series: [{label, values: [...]}], opts: {percent} */
  function grouped(canvas, labels, series, opts) {
    var o = opts || {};
    var fmt = o.percent ? function (v) { return (100 * v).toFixed(0) + "%"; } : number;
    return draw(canvas, {
      type: "bar",
      data: { labels: labels, datasets: series.map(function (s, i) {
        return { label: s.label, data: s.values, backgroundColor: colour(i) };
      }) },
      options: base({
        plugins: { legend: { position: "bottom" }, tooltip: { callbacks: { label: function (ctx) {
          return ctx.dataset.label + ": " + fmt(ctx.parsed.y); } } } },
        scales: { y: { beginAtZero: true, ticks: { callback: function (v) { return fmt(v); } } } }
      })
    });
  }

  /* Actual against fitted: the 90% predictive band, the predictive mean and the actual KPI
   * per week (holdout weeks, if any, at the end). data: views.fit_view's
   * {labels, actual, mean, p05, p95, holdout_weeks} */
  function fitted(canvas, data, opts) {
    var o = opts || {};
    var held = data.holdout_weeks || 0;
    var first = data.labels.length - held;
    return draw(canvas, {
      type: "line",
      data: {
        labels: data.labels,
        datasets: [
          { label: "95th percentile", data: data.p95, borderWidth: 0, pointRadius: 0, fill: false },
          { label: "90% predictive band", data: data.p05, borderWidth: 0, pointRadius: 0,
            fill: "-1", backgroundColor: colour(0, 0.18) },
          { label: "fitted (mean)", data: data.mean, borderColor: colour(0), borderWidth: 2,
            pointRadius: 0, fill: false },
          { label: "actual", data: data.actual, borderColor: "#111827", backgroundColor: "#111827",
            showLine: false, pointRadius: 2,
            pointStyle: data.actual.map(function (_, i) { return i >= first ? "triangle" : "circle"; }),
            fill: false }
        ]
      },
      options: base({
        plugins: {
          legend: { position: "bottom", labels: { filter: function (item) {
            return item.text !== "95th percentile"; } } },
          title: { display: !!held, text: held ? "triangles: the " + held +
            " holdout week(s) the model did not see" : "" }
        },
        scales: { y: { title: { display: !!o.yTitle, text: o.yTitle },
                       ticks: { callback: function (v) { return number(v); } } } }
      })
    });
  }

  /* Residuals (actual − fitted mean) per week as bars, holdout weeks in another colour.
   * data: {labels, residuals, holdout_weeks} */
  function residuals(canvas, data) {
    var first = data.labels.length - (data.holdout_weeks || 0);
    return draw(canvas, {
      type: "bar",
      data: {
        labels: data.labels,
        datasets: [{ label: "actual − fitted", data: data.residuals,
                     backgroundColor: data.residuals.map(function (_, i) {
                       return i >= first ? colour(1, 0.8) : colour(0, 0.6); }) }]
      },
      options: base({
        plugins: { legend: { display: false },
                   title: { display: true, text: "residuals: actual − fitted (look for runs and spikes)" } },
        scales: { y: { ticks: { callback: function (v) { return number(v); } } } }
      })
    });
  }

  root.MarginCharts = {
    allocation: allocation,
    band: band,
    bars: bars,
    colour: colour,
    difference: difference,
    fitted: fitted,
    frontier: frontier,
    grouped: grouped,
    format: { gain: gain, interval: interval, kpi: kpi, kpiSpan: kpiSpan, kpiUnit: kpiUnit,
              minute: minute, money: money, number: number, pct: pct, perMoney: perMoney,
              ratio: ratio, symbol: symbol },
    intervals: intervals,
    overTime: overTime,
    residuals: residuals,
    responseCurve: responseCurve,
    waterfall: waterfall
  };
})(typeof window !== "undefined" ? window : this);
