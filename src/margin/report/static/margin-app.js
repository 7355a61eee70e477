/* margin dashboard pages: fetch the REST API (session cookie + CSRF header), render tables
 * and charts (MarginCharts), show API errors in the page. One entry point per page, picked
 * by <body data-page>. No inline scripts: pages work under a strict Content-Security-Policy.
 */
(function () {
  "use strict";
  var C = window.MarginCharts;
  var F = C.format;
  var body = document.body;
  var PAGE = body.getAttribute("data-page");
  var ROLE = body.getAttribute("data-role") || "";
  var RUN = encodeURIComponent(body.getAttribute("data-run") || "latest");
  var RANK = { viewer: 1, analyst: 2, admin: 3 };
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var CSRF = csrfMeta ? csrfMeta.getAttribute("content") : "";

  function $(id) { return document.getElementById(id); }

  function detailOf(payload, response) {
    var d = payload && payload.detail;
    if (typeof d === "string") { return d; }
    if (Array.isArray(d)) {
      return d.map(function (item) {
        var where = (item.loc || []).filter(function (p) { return p !== "body"; }).join(".");
        return (where ? where + ": " : "") + (item.msg || JSON.stringify(item));
      }).join("; ");
    }
    if (d) { return JSON.stringify(d); }
    return "HTTP " + response.status + " " + response.statusText;
  }

  function api(path, options) {
    var o = options || {};
    var init = { method: o.method || "GET", credentials: "same-origin",
                 headers: { "Accept": "application/json" } };
    if (o.body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(o.body);
    }
    if (init.method !== "GET") { init.headers["X-CSRF-Token"] = CSRF; }
    return fetch(path, init).then(function (response) {
      return response.text().then(function (text) {
        var payload = null;
        try { payload = text ? JSON.parse(text) : null; } catch (e) { payload = null; }
        if (!response.ok) {
          var message = detailOf(payload, response);
          if (response.status === 401) { message += " (log in again at /login)"; }
          var err = new Error(message);
          err.status = response.status;
          throw err;
        }
        return payload;
      });
    });
  }

  function showError(err, where) {
    var box = (where && $(where)) || $("page-error");
    box.textContent = (err && err.message) ? err.message : String(err);
    box.classList.remove("hidden");
  }

  function clearError(where) {
    var box = (where && $(where)) || $("page-error");
    box.textContent = "";
    box.classList.add("hidden");
  }

  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = text; }
    if (cls) { node.className = cls; }
    return node;
  }

  /* Fill <table id> with a header row and rows of strings (set as text, never as HTML). */
  function table(id, headers, rows) {
    var t = $(id);
    t.textContent = "";
    var head = el("thead"), tr = el("tr");
    headers.forEach(function (h) { tr.appendChild(el("th", h)); });
    head.appendChild(tr);
    t.appendChild(head);
    var tbody = el("tbody");
    rows.forEach(function (row) {
      var r = el("tr");
      row.forEach(function (cell) {
        if (cell && cell.nodeType) { var td = el("td"); td.appendChild(cell); r.appendChild(td); }
        else { r.appendChild(el("td", cell)); }
      });
      tbody.appendChild(r);
    });
    t.appendChild(tbody);
  }

  function metric(container, label, value, range) {
    var box = el("div", null, "metric");
    box.appendChild(el("div", label, "label"));
    box.appendChild(el("div", value, "value"));
    box.appendChild(el("div", range, "range"));
    $(container).appendChild(box);
  }

  function list(id, lines) {
    var ul = $(id);
    ul.textContent = "";
    lines.forEach(function (line) { ul.appendChild(el("li", line)); });
  }

  function mayAct(role) { return (RANK[ROLE] || 0) >= RANK[role]; }

  function gateControls() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-min-role]"), function (node) {
      if (mayAct(node.getAttribute("data-min-role"))) { return; }
      Array.prototype.forEach.call(node.querySelectorAll("input, select, button"), function (c) {
        c.disabled = true;
      });
    });
  }

  function scale(stat, factor) {
    return { mean: stat.mean * factor, p05: stat.p05 * factor, p95: stat.p95 * factor };
  }

  /* The summary.json → chart shapes of margin/report/views.py (waterfall, over time). */
  function waterfallOf(summary) {
    var level = summary.baseline.kpi.mean;
    var steps = [{ label: "baseline", kind: "baseline", start: 0, end: level,
                   value: summary.baseline.kpi }];
    summary.channels_order.forEach(function (name) {
      var stat = summary.channels[name].contribution;
      steps.push({ label: name, kind: "channel", start: level, end: level + stat.mean,
                   value: stat });
      level += stat.mean;
    });
    steps.push({ label: "predicted", kind: "total", start: 0,
                 end: summary.totals.kpi_predicted.mean, value: summary.totals.kpi_predicted });
    return { kpi: summary.kpi.name, steps: steps };
  }

  function overTimeOf(summary) {
    var series = summary.channels_order.filter(function (name) {
      return !!summary.channels[name].weekly_contribution;
    }).map(function (name) {
      var w = summary.channels[name].weekly_contribution;
      return { channel: name, mean: w.mean, p05: w.p05, p95: w.p95 };
    });
    var n = series.length ? series[0].mean.length : 0;
    var labels = (summary.dates && summary.dates.length === n) ? summary.dates
      : series.length ? series[0].mean.map(function (_, i) { return "week " + (i + 1); }) : [];
    return { labels: labels, series: series };
  }

  function channelRows(summary, key) {
    return summary.channels_order.map(function (name) {
      return { label: name, stat: summary.channels[name][key] };
    });
  }

  /* The words of margin.wording.return_words (same classes, same WIDE = 2): keep in step. */
  function roiWord(stat) {
    if (stat.p05 > 1) { return "paid back"; }
    if (stat.p95 < 1) { return "did not pay back"; }
    if (stat.p05 < 0.5 && stat.p95 > 2) {
      return "may or may not have paid back (too uncertain to say: test it)";
    }
    return stat.mean >= 1 ? "probably paid back (could have fallen short)"
      : "probably did not pay back (could have)";
  }

  /* The words of margin.wording.marginal_words: keep in step. */
  function mroiWord(stat) {
    if (stat.p05 > 1) { return "worth spending more"; }
    if (stat.p95 < 1) { return "spending less loses little"; }
    if (stat.p05 < 0.5 && stat.p95 > 2) { return "too uncertain to say: test it"; }
    return stat.mean >= 1 ? "probably above break-even (could be below)"
      : "probably below break-even (could be above)";
  }

  function runQuery(path) { return "/api/runs/" + RUN + path; }

  /* ---------------------------------------------------------------- pages */

  function overview() {
    return api(runQuery("/summary")).then(function (s) {
      var revenue = scale(s.totals.roi, s.totals.spend);
      $("run-info").textContent = "Run " + s.run.id + " (" + s.method + "), fitted " +
        s.run.created + "; KPI " + s.kpi.name + ". Brackets: 90% interval.";
      metric("metrics", "Incremental revenue from marketing", F.money(revenue.mean),
             "[" + F.money(revenue.p05) + ", " + F.money(revenue.p95) + "]");
      metric("metrics", "Marketing spend", F.money(s.totals.spend), "as recorded");
      metric("metrics", "Return on marketing (ROI)", s.totals.roi.mean.toFixed(2) + "×",
             "[" + s.totals.roi.p05.toFixed(2) + ", " + s.totals.roi.p95.toFixed(2) + "]");
      metric("metrics", "Baseline share", (100 * s.baseline.share.mean).toFixed(1) + "%",
             "[" + (100 * s.baseline.share.p05).toFixed(1) + "%, " +
             (100 * s.baseline.share.p95).toFixed(1) + "%]");
      list("verdicts", s.channels_order.map(function (name) {
        var c = s.channels[name];
        return name + " " + roiWord(c.roi) + ": " + F.ratio(c.roi) + "; each 1 spent returned " +
          c.roi.mean.toFixed(2) + ". The next 1 returns " + F.ratio(c.mroi) + ": " +
          mroiWord(c.mroi) + ".";
      }));
      C.waterfall($("chart-waterfall"), waterfallOf(s));
      C.intervals($("chart-roi"), channelRows(s, "roi"), { title: "ROI (mean)", reference: 1 });
    });
  }

  function contributions() {
    return api(runQuery("/summary")).then(function (s) {
      C.waterfall($("chart-waterfall"), waterfallOf(s));
      C.overTime($("chart-over-time"), overTimeOf(s));
      var rows = [["baseline", F.interval(s.baseline.kpi), F.pct(s.baseline.share)]];
      s.channels_order.forEach(function (name) {
        var c = s.channels[name];
        rows.push([name, F.interval(c.contribution), F.pct(c.contribution_share)]);
      });
      rows.push(["predicted total", F.interval(s.totals.kpi_predicted), "observed: " +
                 F.number(s.totals.kpi_observed)]);
      table("table-contributions", ["component", s.kpi.name, "share of predicted"], rows);
    });
  }

  function roi() {
    return api(runQuery("/channels")).then(function (body) {
      var rows = body.channels;
      C.intervals($("chart-roi"), rows.map(function (r) { return { label: r.channel, stat: r.roi }; }),
                  { title: "ROI (mean)", reference: 1, colour: 0 });
      C.intervals($("chart-mroi"), rows.map(function (r) { return { label: r.channel, stat: r.mroi }; }),
                  { title: "marginal ROI (mean)", reference: 1, colour: 1 });
      table("table-roi", ["channel", "spend", "ROI", "marginal ROI", "contribution", "share of KPI"],
        rows.map(function (r) {
          return [r.channel, F.money(r.spend), F.ratio(r.roi), F.ratio(r.mroi),
                  F.interval(r.contribution), F.pct(r.contribution_share)];
        }));
    });
  }

  function curves() {
    return api(runQuery("/curves")).then(function (body) {
      var grid = $("curve-grid");
      grid.textContent = "";
      $("curve-note").textContent = "Incremental KPI from spending a given amount every week for " +
        body.horizon_weeks + " weeks (carry-over included), 90% band; ● current weekly spend.";
      Object.keys(body.channels).forEach(function (name, i) {
        var holder = el("div", null, "chart small");
        var canvas = el("canvas");
        canvas.id = "chart-curve-" + i;
        holder.appendChild(canvas);
        grid.appendChild(holder);
        var c = body.channels[name];
        C.responseCurve(canvas, { channel: name, spend: c.spend, kpi: c.kpi,
                                  current_weekly_spend: c.current_weekly_spend,
                                  recommended_weekly_spend: null },
                        { horizon: body.horizon_weeks });
      });
      var lags = $("adstock-grid");
      lags.textContent = "";
      if (body.adstock) {
        Object.keys(body.adstock).forEach(function (name, i) {
          var holder = el("div", null, "chart small");
          var canvas = el("canvas");
          canvas.id = "chart-adstock-" + i;
          holder.appendChild(canvas);
          lags.appendChild(holder);
          var a = body.adstock[name];
          C.band(canvas, { labels: a.lag.map(function (k) { return "+" + k; }),
                           mean: a.weight.mean, p05: a.weight.p05, p95: a.weight.p95 },
                 { label: name + ": share of the effect", xTitle: "weeks after the spend",
                   colour: i });
        });
      } else {
        $("adstock-block").classList.add("hidden");
      }
    });
  }

  function boundsInputs(container, channels) {
    var holder = $(container);
    holder.textContent = "";
    holder.className = "bounds";
    channels.forEach(function (r) {
      var row = holder;
      row.appendChild(el("strong", r.channel));
      ["low", "high"].forEach(function (side) {
        var label = el("label", side === "low" ? "at least × current" : "at most × current");
        var input = el("input");
        input.type = "number"; input.step = "0.05"; input.min = "0";
        input.name = "bound-" + side + "-" + r.channel;
        input.setAttribute("data-channel", r.channel);
        input.setAttribute("data-side", side);
        input.placeholder = side === "low" ? "0" : "no limit";
        label.appendChild(input);
        row.appendChild(label);
      });
    });
  }

  function readBounds() {
    var bounds = {};
    Array.prototype.forEach.call(document.querySelectorAll("input[data-side]"), function (input) {
      if (input.value === "") { return; }
      var name = input.getAttribute("data-channel");
      bounds[name] = bounds[name] || [0, 1e6];
      bounds[name][input.getAttribute("data-side") === "low" ? 0 : 1] = Number(input.value);
    });
    return bounds;
  }

  function notes(id, texts) {
    var list = $(id);
    list.textContent = "";
    (texts || []).forEach(function (text) {
      var item = document.createElement("li");
      item.textContent = text;
      list.appendChild(item);
    });
  }

  function renderPlan(plan) {
    var cards = $("plan-metrics");
    cards.textContent = "";
    metric("plan-metrics", "Expected KPI over " + plan.weeks + " weeks",
           F.number(plan.expected_kpi.mean),
           "[" + F.number(plan.expected_kpi.p05) + ", " + F.number(plan.expected_kpi.p95) + "]");
    metric("plan-metrics", "Expected gain over the current plan", F.number(plan.expected_gain.mean),
           "[" + F.number(plan.expected_gain.p05) + ", " + F.number(plan.expected_gain.p95) + "]");
    metric("plan-metrics", "Chance it beats the current plan",
           plan.p_beats_current === null || plan.p_beats_current === undefined ? "–"
             : (100 * plan.p_beats_current).toFixed(0) + "%", "share of posterior draws");
    notes("plan-headline", plan.headline);
    notes("plan-caveats", plan.caveats);
    var rows = Object.keys(plan.allocation).map(function (name) {
      var a = plan.allocation[name];
      return { channel: name, spend: a.spend, current_spend: a.current_spend, mroi: a.mroi,
               gain: a.gain };
    });
    table("table-allocation", ["channel", "current spend", "recommended", "change",
                               "marginal ROI at the plan", "KPI from this move alone"],
      rows.map(function (r) {
        var pctChange = r.current_spend > 0
          ? " (" + (100 * (r.spend - r.current_spend) / r.current_spend).toFixed(0) + "%)" : "";
        return [r.channel, F.money(r.current_spend), F.money(r.spend),
                F.money(r.spend - r.current_spend) + pctChange, r.mroi ? F.ratio(r.mroi) : "–",
                F.interval(r.gain)];
      }));
    renderInformation(plan.value_of_information);
    $("plan-result").classList.remove("hidden");
    C.allocation($("chart-allocation"), rows);
    var weekly = plan.weekly_kpi;
    if (weekly && weekly.mean && weekly.mean.length) {
      var labels = (weekly.dates && weekly.dates.length === weekly.mean.length) ? weekly.dates
        : weekly.mean.map(function (_, i) { return "week " + (i + 1); });
      C.band($("chart-weekly"), { labels: labels, mean: weekly.mean, p05: weekly.p05,
                                  p95: weekly.p95 }, { label: "planned KPI per week" });
    }
  }

  function renderInformation(info) {
    var block = $("plan-information");
    if (!info) { block.classList.add("hidden"); return; }
    var names = Object.keys(info.channels);
    var tested = names.filter(function (name) { return info.channels[name].test_value; });
    var headers = ["channel", "value of learning it (90% Monte Carlo)", "above noise",
                   "its spend if its return is low → high"];
    if (tested.length) { headers.push("value of the planned test"); }
    table("table-information", headers,
      names.map(function (name) {
        var c = info.channels[name];
        var spend = c.group_spend;
        var row = [name, F.interval(c.value), c.above_floor ? "yes" : "no",
                   F.money(spend[0]) + " → " + F.money(spend[spend.length - 1])];
        if (tested.length) {
          row.push(c.test_value ? F.interval(c.test_value) + " (se " + c.test_se.toPrecision(3) +
                   (c.test_above_floor ? "" : ", not above noise") + ")" : "");
        }
        return row;
      }));
    notes("information-tests", names.map(function (name) { return info.channels[name].test_note; })
      .filter(function (note) { return note; }));
    $("information-note").textContent =
      "Expected value, over the horizon and its carry-over, of knowing each channel's return " +
      "exactly before planning (an upper bound on what a lift test can add). Noise floor " +
      F.number(info.noise_floor.mean) + ". " + (info.best
        ? "A lift test on " + info.best + " would inform this plan most."
        : "No channel is worth testing for this plan above the noise.");
    block.classList.remove("hidden");
  }

  /* The chosen design.json files, parsed; a file that is not a JSON object rejects with
     its name and what to do. */
  function readDesigns(files) {
    return Promise.all(Array.prototype.map.call(files || [], function (file) {
      return file.text().then(function (text) {
        var design;
        try { design = JSON.parse(text); } catch (e) { design = null; }
        if (!design || typeof design !== "object" || Array.isArray(design)) {
          throw new Error(file.name + ": not a test design (expected the JSON object that " +
                          "margin experiment design --out writes)");
        }
        return design;
      });
    }));
  }

  function planner() {
    gateControls();
    return api(runQuery("/channels")).then(function (body) {
      boundsInputs("bounds", body.channels);
      gateControls();
      $("planner-form").addEventListener("submit", function (event) {
        event.preventDefault();
        clearError("planner-error");
        var budget = $("budget").value;
        var request = { budget: budget === "" ? null : Number(budget),
                        weeks: Number($("weeks").value || 13), bounds: readBounds(),
                        objective: $("objective").value,
                        value_of_information: $("information").checked };
        $("planner-submit").disabled = true;
        $("planner-status").textContent = "optimizing…";
        readDesigns($("test-designs").files).then(function (designs) {
          if (designs.length) { request.test_designs = designs; }
          return api(runQuery("/optimize"), { method: "POST", body: request });
        }).then(function (plan) {
          renderPlan(plan);
          $("planner-status").textContent = "done";
        }).catch(function (err) {
          $("planner-status").textContent = "";
          showError(err, "planner-error");
        }).then(function () { $("planner-submit").disabled = false; });
      });
      $("frontier-button").addEventListener("click", function () {
        clearError("planner-error");
        $("frontier-button").disabled = true;
        var weeks = Number($("weeks").value || 13);
        api(runQuery("/frontier?points=6&weeks=" + weeks)).then(function (f) {
          $("frontier-block").classList.remove("hidden");
          C.frontier($("chart-frontier"), f.points, { yTitle: "expected KPI over " + f.weeks +
                                                             " weeks" });
        }).catch(function (err) { showError(err, "planner-error"); })
          .then(function () { $("frontier-button").disabled = false; });
      });
    });
  }

  function scenarios() {
    gateControls();
    return api(runQuery("/channels")).then(function (body) {
      var holder = $("changes");
      holder.textContent = "";
      body.channels.forEach(function (r) {
        var label = el("label", r.channel + ": change of spend in %");
        var input = el("input");
        input.type = "number"; input.step = "5"; input.min = "-100"; input.value = "0";
        input.setAttribute("data-change", r.channel);
        label.appendChild(input);
        holder.appendChild(label);
      });
      gateControls();
      $("scenario-form").addEventListener("submit", function (event) {
        event.preventDefault();
        clearError("scenario-error");
        var changes = {};
        Array.prototype.forEach.call(document.querySelectorAll("input[data-change]"), function (i) {
          if (i.value !== "" && Number(i.value) !== 0) {
            changes[i.getAttribute("data-change")] = Number(i.value) / 100;
          }
        });
        $("scenario-submit").disabled = true;
        api(runQuery("/scenario"), { method: "POST",
            body: { weeks: Number($("scenario-weeks").value || 13), changes: changes } })
          .then(function (result) {
            $("scenario-result").classList.remove("hidden");
            var cards = $("scenario-metrics");
            cards.textContent = "";
            notes("scenario-caveats", result.caveats);
            metric("scenario-metrics", "Predicted KPI with the change", F.number(result.kpi.mean),
                   "[" + F.number(result.kpi.p05) + ", " + F.number(result.kpi.p95) + "]");
            metric("scenario-metrics", "Current plan", F.number(result.current_kpi.mean),
                   "[" + F.number(result.current_kpi.p05) + ", " +
                   F.number(result.current_kpi.p95) + "]");
            metric("scenario-metrics", "Difference", F.number(result.gain.mean),
                   "[" + F.number(result.gain.p05) + ", " + F.number(result.gain.p95) + "]");
            metric("scenario-metrics", "Chance it beats the current plan",
                   (100 * result.p_beats_current).toFixed(0) + "%", "share of posterior draws");
            C.intervals($("chart-scenario"), [{ label: "current plan", stat: result.current_kpi },
                                              { label: "scenario", stat: result.kpi }],
                        { title: "predicted KPI (mean)", zero: false });
          }).catch(function (err) { showError(err, "scenario-error"); })
          .then(function () { $("scenario-submit").disabled = false; });
      });
    });
  }

  function attribution() {
    return Promise.all([api("/api/attribution"), api(runQuery("/summary")).catch(function () {
      return null; })]).then(function (both) {
      var a = both[0], s = both[1];
      $("attribution-note").textContent = a.note || "";
      var models = Object.keys(a.models || {});
      var channels = {};
      models.forEach(function (m) { Object.keys(a.models[m]).forEach(function (c) { channels[c] = 1; }); });
      var names = Object.keys(channels).sort();
      var datasets = models.map(function (m) {
        return { label: m, values: names.map(function (c) {
          return a.models[m][c] ? a.models[m][c].share : 0; }) };
      });
      if (s) {
        datasets.push({ label: "MMM (causal share of media)", values: names.map(function (c) {
          return s.channels[c] ? s.channels[c].media_share.mean : 0; }) });
      }
      C.grouped($("chart-attribution"), names, datasets, { percent: true });
      var headers = ["channel"].concat(models.map(function (m) { return m + " (conversions)"; }));
      if (s) { headers.push("MMM media share"); }
      table("table-attribution", headers, names.map(function (c) {
        var row = [c].concat(models.map(function (m) {
          var x = a.models[m][c];
          if (!x) { return "–"; }
          return F.number(x.conversions, 1) + (x.p05 === null || x.p05 === undefined ? ""
            : " [" + F.number(x.p05, 1) + ", " + F.number(x.p95, 1) + "]");
        }));
        if (s) { row.push(s.channels[c] ? F.pct(s.channels[c].media_share) : "–"); }
        return row;
      }));
    });
  }

  function diagnostics() {
    /* The verdict, checks and fit series come from /health (the report's health_view), so
     * the dashboard and the report say the same words. */
    return Promise.all([api(runQuery("/summary")), api(runQuery("/health"))]).then(function (both) {
      var d = both[0].diagnostics, h = both[1];
      $("health-verdict").textContent = h.headline;
      $("health-verdict").className = { ok: "ok", approximate: "warn", fit: "warn", bad: "bad" }[h.state] || "";
      table("table-health", ["check", "value", "meaning"], h.checks.map(function (c) {
        var v = c.value;
        var shown = typeof v !== "number" ? "–" : Number.isInteger(v) ? String(v)
          : F.number(v, Math.abs(v) >= 10 ? 0 : 3);
        return [c.name, shown, c.text];
      }));
      list("warnings", (h.warnings && h.warnings.length) ? h.warnings : ["No warnings."]);
      if (h.fit) {
        $("fit-verdict").textContent = h.fit.text;
        $("fit-verdict").className = { good: "ok", fair: "warn", poor: "bad" }[h.fit.level] || "";
        list("fit-reasons", h.fit.reasons);
        C.fitted($("chart-fit"), h.fit, {});
        C.residuals($("chart-residuals"), h.fit);
      } else {
        $("fit-verdict").textContent = "This run was saved before the fit check: refit to see it.";
      }
      var ratios = d.posterior_prior_sd_ratio || {};
      C.bars($("chart-learning"), Object.keys(ratios).map(function (name) {
        return { label: name, value: ratios[name] };
      }), { title: "posterior sd ÷ prior sd of ROI (lower: the data taught more)", colour: 0 });
    });
  }

  function dataQuality() {
    return api("/api/data-quality").then(function (r) {
      $("dq-headline").textContent = r.n_errors ? r.n_errors + " error(s) in the data: fix them before trusting the model."
        : r.n_warnings ? "No errors; " + r.n_warnings + " warning(s) worth a look."
        : "All " + r.rules_checked.length + " data-quality rules passed.";
      C.bars($("chart-dq"), [{ label: "errors", value: r.n_errors, colour: "#b91c1c" },
                             { label: "warnings", value: r.n_warnings, colour: "#b45309" },
                             { label: "notes", value: r.n_info, colour: "#0891b2" }],
             { title: "findings by severity (" + r.rules_checked.length + " rules checked)" });
      table("table-dq", ["severity", "rule", "where", "what", "fix"], r.findings.map(function (f) {
        return [f.severity, f.rule, f.table + (f.column ? "." + f.column : ""), f.message, f.fix];
      }));
    });
  }

  function runs() {
    return api("/api/runs").then(function (body) {
      table("table-runs", ["run", "kind", "created", "status", "message"],
        body.runs.map(function (r) {
          var cell = r.id;
          if (r.kind === "mmm") {
            cell = el("a", r.id);
            cell.href = "/?run=" + encodeURIComponent(r.id);
          }
          return [cell, r.kind, r.created, r.status, r.message || ""];
        }));
    });
  }

  var PAGES = { overview: overview, contributions: contributions, roi: roi, curves: curves,
                planner: planner, scenarios: scenarios, attribution: attribution,
                diagnostics: diagnostics, data_quality: dataQuality, runs: runs };

  function start() {
    var logout = $("logout-form");
    if (logout) {
      logout.addEventListener("submit", function () { $("logout-csrf").value = CSRF; });
    }
    var run = PAGES[PAGE];
    if (!run) { return; }
    var done = function () { body.setAttribute("data-loaded", "1"); };
    try {
      Promise.resolve(run()).then(done, function (err) { showError(err); done(); });
    } catch (err) {
      showError(err);
      done();
    }
  }

  window.MarginApp = { api: api, showError: showError };
  start();
})();
