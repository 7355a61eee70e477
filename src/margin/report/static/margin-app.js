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
  /* Every money figure carries the workspace's currency (body data-currency). */
  var SYMBOL = F.symbol(body.getAttribute("data-currency") || "");
  var PLAN = body.getAttribute("data-plan") || "";
  var WS = "-w margin.duckdb";
  var NO_RUN = ["No model fitted yet",
    "This workspace has no usable model run, so there is nothing to show here yet. Load " +
    "spend and outcomes, then fit a model:",
    "margin ingest spend spend.csv " + WS + "\nmargin ingest outcomes outcomes.csv " + WS +
    "\nmargin mmm fit --spec spec.toml " + WS + " --out runs/fit1"];

  /* The units of a run's numbers (margin.report.views.units_of): money in the workspace's
     currency, KPI amounts in the KPI's unit. */
  function unitsOf(summary) {
    var kpi = (summary && summary.kpi) || {};
    return { symbol: SYMBOL, kpiType: kpi.type || "revenue", kpiName: kpi.name || "KPI" };
  }

  function money(x) { return F.money(x, SYMBOL); }

  var UNITS = unitsOf(null);  /* the page's run's units, once its summary is read */

  function roiUnit() { return F.perMoney({ symbol: SYMBOL }); }

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
    if (o.signal) { init.signal = o.signal; }
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

  /* The page's empty state: what is missing and the command that loads it, instead of the
     page's charts and tables (no error banner, no "Loading…"). */
  function showEmpty(title, text, command) {
    $("empty-title").textContent = title;
    $("empty-text").textContent = text;
    $("empty-command").textContent = command || "";
    $("empty-state").classList.remove("hidden");
    $("page-body").classList.add("hidden");
    body.setAttribute("data-empty", "1");
  }

  /* An API answer that means "nothing there yet" (no usable run for 'latest') as the
     empty state; true when it was one. */
  function emptyFor(err) {
    if (err && err.status === 404 && RUN === "latest" && /no usable model run/.test(err.message)) {
      showEmpty(NO_RUN[0], NO_RUN[1], NO_RUN[2]);
      return true;
    }
    return false;
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
      var units = unitsOf(s);
      var revenue = scale(s.totals.roi, s.totals.spend);
      $("run-info").textContent = "Run " + s.run.id + " (" + s.method + "), fitted " +
        F.minute(s.run.created) + "; KPI " + s.kpi.name + " (" +
        (F.kpiUnit(units) || "money") + "). Brackets: 90% interval.";
      metric("metrics", "Incremental revenue from marketing", money(revenue.mean),
             "[" + money(revenue.p05) + ", " + money(revenue.p95) + "]");
      metric("metrics", "Marketing spend", money(s.totals.spend), "as recorded");
      metric("metrics", "Return on marketing (ROI, " + roiUnit() + ")",
             s.totals.roi.mean.toFixed(2) + "×",
             "[" + s.totals.roi.p05.toFixed(2) + ", " + s.totals.roi.p95.toFixed(2) + "]");
      metric("metrics", "Baseline share", (100 * s.baseline.share.mean).toFixed(1) + "%",
             "[" + (100 * s.baseline.share.p05).toFixed(1) + "%, " +
             (100 * s.baseline.share.p95).toFixed(1) + "%]");
      list("verdicts", s.channels_order.map(function (name) {
        var c = s.channels[name];
        return name + " " + roiWord(c.roi) + ": " + F.ratio(c.roi) + "; each " + SYMBOL + "1 " +
          "spent returned " + SYMBOL + c.roi.mean.toFixed(2) + ". The next " + SYMBOL + "1 returns " +
          F.ratio(c.mroi) + ": " + mroiWord(c.mroi) + ".";
      }));
      C.waterfall($("chart-waterfall"), waterfallOf(s), { units: units });
      C.intervals($("chart-roi"), channelRows(s, "roi"), { title: "ROI (mean)", reference: 1,
                                                          yTitle: "ROI (" + roiUnit() + ")" });
      return nextDollar();
    });
  }

  /* The overview's first answer: the latest recorded plan's headline (where the next
     dollar goes: top moves, expected gain with its interval), or how to make a plan. */
  function nextDollar() {
    return api("/api/runs?kind=plan&limit=1").then(function (found) {
      if (!found.runs.length) {
        $("next-dollar-none").classList.remove("hidden");
        return;
      }
      return api("/api/plans/" + encodeURIComponent(found.runs[0].id)).then(showNextDollar);
    });
  }

  function showNextDollar(p) {
    var v = p.view;
    $("next-dollar-title").textContent = "Where the next " + (SYMBOL.trim() || "dollar") +
      " goes";
    $("next-dollar-gain").textContent = v.verdict;
    list("next-dollar-moves", p.top_moves.map(function (r) {
      var pct = r.change_pct === null ? "" : " (" + (r.change_pct > 0 ? "+" : "") +
        r.change_pct.toFixed(0) + "%)";
      return r.channel + ": " + (r.change > 0 ? "+" : "-") + money(Math.abs(r.change)) + pct +
        " over " + v.weeks + " weeks" + (r.gain_text ? "; this move alone " + r.gain_text : "");
    }));
    list("next-dollar-headline", v.headline);
    var link = $("next-dollar-link");
    link.href = "/plans/" + encodeURIComponent(p.run.id);
    link.textContent = "Open plan " + p.run.id + " (made " + F.minute(p.run.created) + ")";
    $("next-dollar-plan").classList.remove("hidden");
  }

  function contributions() {
    return api(runQuery("/summary")).then(function (s) {
      var units = unitsOf(s);
      C.waterfall($("chart-waterfall"), waterfallOf(s), { units: units });
      C.overTime($("chart-over-time"), overTimeOf(s), { units: units });
      var rows = [["baseline", F.kpiSpan(s.baseline.kpi, units), F.pct(s.baseline.share)]];
      s.channels_order.forEach(function (name) {
        var c = s.channels[name];
        rows.push([name, F.kpiSpan(c.contribution, units), F.pct(c.contribution_share)]);
      });
      rows.push(["predicted total", F.kpiSpan(s.totals.kpi_predicted, units), "observed: " +
                 F.kpi(s.totals.kpi_observed, units)]);
      table("table-contributions", ["component", s.kpi.name + " (" + (F.kpiUnit(units) ||
            SYMBOL.trim() || "money") + ")", "share of predicted"], rows);
    });
  }

  function roi() {
    return Promise.all([api(runQuery("/channels")), api(runQuery("/summary"))]).then(function (both) {
      var rows = both[0].channels, units = unitsOf(both[1]), per = roiUnit();
      C.intervals($("chart-roi"), rows.map(function (r) { return { label: r.channel, stat: r.roi }; }),
                  { title: "ROI (mean)", reference: 1, colour: 0, yTitle: "ROI (" + per + ")" });
      C.intervals($("chart-mroi"), rows.map(function (r) { return { label: r.channel, stat: r.mroi }; }),
                  { title: "marginal ROI (mean)", reference: 1, colour: 1,
                    yTitle: "marginal ROI (" + per + ")" });
      table("table-roi", ["channel", "spend", "ROI (" + per + ")", "marginal ROI (" + per + ")",
                          "contribution (" + (F.kpiUnit(units) || SYMBOL.trim() || "money") + ")",
                          "share of KPI"],
        rows.map(function (r) {
          return [r.channel, money(r.spend), F.ratio(r.roi), F.ratio(r.mroi),
                  F.kpiSpan(r.contribution, units), F.pct(r.contribution_share)];
        }));
    });
  }

  function curves() {
    return Promise.all([api(runQuery("/curves")), api(runQuery("/summary"))]).then(function (both) {
      var body = both[0], units = unitsOf(both[1]);
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
                        { horizon: body.horizon_weeks, units: units, kpiName: units.kpiName });
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

  /* A plan document (plan.json, or the optimize answer) in the run's units (UNITS): the
     gain as margin.wording.gain_words says it (the CLI's and the report's words). */
  function renderPlan(plan) {
    var cards = $("plan-metrics");
    cards.textContent = "";
    metric("plan-metrics", "Expected " + UNITS.kpiName + " over " + plan.weeks + " weeks",
           F.kpi(plan.expected_kpi.mean, UNITS), F.kpiSpan(plan.expected_kpi, UNITS));
    metric("plan-metrics", "Expected gain over the current plan",
           F.kpi(plan.expected_gain.mean, UNITS), F.gain(plan.expected_gain, UNITS, plan.kpi_value));
    $("plan-metrics").lastChild.querySelector(".range").id = "plan-gain";
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
                               "marginal ROI at the plan (" + roiUnit() + ")",
                               UNITS.kpiName + " from this move alone (" +
                               (F.kpiUnit(UNITS) || SYMBOL.trim() || "money") + ")"],
      rows.map(function (r) {
        var pctChange = r.current_spend > 0
          ? " (" + (100 * (r.spend - r.current_spend) / r.current_spend).toFixed(0) + "%)" : "";
        return [r.channel, money(r.current_spend), money(r.spend),
                money(r.spend - r.current_spend) + pctChange, r.mroi ? F.ratio(r.mroi) : "–",
                F.kpiSpan(r.gain, UNITS)];
      }));
    renderInformation(plan.value_of_information);
    $("plan-result").classList.remove("hidden");
    C.allocation($("chart-allocation"), rows, { symbol: SYMBOL });
    var weekly = plan.weekly_kpi;
    if (weekly && weekly.mean && weekly.mean.length) {
      var labels = (weekly.dates && weekly.dates.length === weekly.mean.length) ? weekly.dates
        : weekly.mean.map(function (_, i) { return "week " + (i + 1); });
      C.band($("chart-weekly"), { labels: labels, mean: weekly.mean, p05: weekly.p05,
                                  p95: weekly.p95 },
             { label: "planned " + UNITS.kpiName + " per week",
               yTitle: UNITS.kpiName + " (" + (F.kpiUnit(UNITS) || SYMBOL.trim() || "money") + ")" });
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
        var row = [name, F.interval(c.value, money), c.above_floor ? "yes" : "no",
                   money(spend[0]) + " → " + money(spend[spend.length - 1])];
        if (tested.length) {
          row.push(c.test_value ? F.interval(c.test_value, money) + " (se " + c.test_se.toPrecision(3) +
                   (c.test_above_floor ? "" : ", not above noise") + ")" : "");
        }
        return row;
      }));
    notes("information-tests", names.map(function (name) { return info.channels[name].test_note; })
      .filter(function (note) { return note; }));
    $("information-note").textContent =
      "Expected value, over the horizon and its carry-over, of knowing each channel's return " +
      "exactly before planning (an upper bound on what a lift test can add). Noise floor " +
      money(info.noise_floor.mean) + ". " + (info.best
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

  /* A long request (optimize, frontier) with its progress shown and a Cancel button: the
     elapsed time ticks beside what is being done; Cancel aborts the request, and the
     server stops the computation at its next checkpoint (margin.cancellation: the client
     closed the connection). `start(signal)` returns the request's promise; the answer
     rejects with err.cancelled = true when cancelled. */
  function longRequest(what, start) {
    var controller = typeof AbortController === "function" ? new AbortController() : null;
    var began = Date.now();
    var status = $("planner-status"), cancel = $("planner-cancel"), bar = $("planner-progress");
    function tick() {
      status.textContent = what + "… " + Math.round((Date.now() - began) / 1000) + " s";
    }
    tick();
    var timer = setInterval(tick, 1000);
    bar.classList.remove("hidden");
    cancel.classList.remove("hidden");
    cancel.disabled = !controller;
    var stop = function () { if (controller) { controller.abort(); } };
    cancel.addEventListener("click", stop);
    function finish() {
      clearInterval(timer);
      bar.classList.add("hidden");
      cancel.classList.add("hidden");
      cancel.removeEventListener("click", stop);
    }
    return start(controller ? controller.signal : undefined).then(function (answer) {
      finish();
      status.textContent = "done in " + Math.round((Date.now() - began) / 1000) + " s";
      return answer;
    }, function (err) {
      finish();
      if (err && err.name === "AbortError") {
        status.textContent = "cancelled after " + Math.round((Date.now() - began) / 1000) +
          " s: the server stopped the computation";
        var stopped = new Error("cancelled");
        stopped.cancelled = true;
        throw stopped;
      }
      status.textContent = "";
      throw err;
    });
  }

  function planner() {
    gateControls();
    return Promise.all([api(runQuery("/channels")), api(runQuery("/summary"))]).then(function (both) {
      var body = both[0];
      UNITS = unitsOf(both[1]);
      boundsInputs("bounds", body.channels);
      gateControls();
      $("planner-form").addEventListener("submit", function (event) {
        event.preventDefault();
        clearError("planner-error");
        var budget = $("budget").value;
        var request = { budget: budget === "" ? null : Number(budget),
                        weeks: Number($("weeks").value || 13), bounds: readBounds(),
                        objective: $("objective").value,
                        value_of_information: $("information").checked,
                        by_geo: $("by-geo").checked };
        $("planner-submit").disabled = true;
        readDesigns($("test-designs").files).then(function (designs) {
          if (designs.length) { request.test_designs = designs; }
          return longRequest(request.value_of_information || designs.length
                               ? "optimizing, then valuing a test of each channel"
                               : "optimizing", function (signal) {
            return api(runQuery("/optimize"), { method: "POST", body: request, signal: signal });
          });
        }).then(function (plan) {
          renderPlan(plan);
        }).catch(function (err) {
          if (!err.cancelled) { showError(err, "planner-error"); }
        }).then(function () { $("planner-submit").disabled = false; });
      });
      $("frontier-button").addEventListener("click", function () {
        clearError("planner-error");
        $("frontier-button").disabled = true;
        var weeks = Number($("weeks").value || 13);
        longRequest("finding the best plan at 6 budgets", function (signal) {
          return api(runQuery("/frontier?points=6&weeks=" + weeks), { signal: signal });
        }).then(function (f) {
          $("frontier-block").classList.remove("hidden");
          var unit = F.kpiUnit(UNITS) || SYMBOL.trim();
          C.frontier($("chart-frontier"), f.points, {
            yTitle: "expected " + UNITS.kpiName + " over " + f.weeks + " weeks" +
                    (unit ? " (" + unit + ")" : ""),
            xTitle: "budget" + (SYMBOL.trim() ? " (" + SYMBOL.trim() + ")" : "") });
        }).catch(function (err) { if (!err.cancelled) { showError(err, "planner-error"); } })
          .then(function () { $("frontier-button").disabled = false; });
      });
    });
  }

  function scenarios() {
    gateControls();
    return Promise.all([api(runQuery("/channels")), api(runQuery("/summary"))]).then(function (both) {
      var body = both[0];
      UNITS = unitsOf(both[1]);
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
            metric("scenario-metrics", "Difference (scenario − current plan)",
                   F.kpi(result.gain.mean, UNITS), F.gain(result.gain, UNITS, result.kpi_value));
            metric("scenario-metrics", "Predicted " + UNITS.kpiName + " with the change",
                   F.kpi(result.kpi.mean, UNITS), F.kpiSpan(result.kpi, UNITS));
            metric("scenario-metrics", "Current plan", F.kpi(result.current_kpi.mean, UNITS),
                   F.kpiSpan(result.current_kpi, UNITS));
            metric("scenario-metrics", "Chance it beats the current plan",
                   (100 * result.p_beats_current).toFixed(0) + "%", "share of posterior draws");
            C.difference($("chart-scenario"), result.gain,
                         { units: UNITS, kpiName: UNITS.kpiName,
                           label: "scenario − current plan over " + result.weeks + " weeks" });
          }).catch(function (err) { showError(err, "scenario-error"); })
          .then(function () { $("scenario-submit").disabled = false; });
      });
    });
  }

  /* No events loaded: the attribution API says so (400 "… has no events; load them with
     'margin ingest events FILE'"); that is an empty state, not an error. */
  function noEvents(err) {
    if (err && err.status === 400 && /has no events/.test(err.message)) {
      showEmpty("No journeys to attribute yet",
        "Attribution credits conversions along users' journeys, and this workspace has no " +
        "events. Load an events file (one row per touch or conversion: user, time, channel, " +
        "event) and come back:",
        "margin ingest events events.parquet " + WS);
      return null;
    }
    throw err;
  }

  function attribution() {
    return Promise.all([api("/api/attribution").catch(noEvents), api(runQuery("/summary")).catch(function () {
      return null; })]).then(function (both) {
      if (both[0] === null) { return; }
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
      if (!body.runs.length) {
        showEmpty("No runs yet", "Fits, plans and refreshes are listed here once made. Fit a " +
                  "model first:", NO_RUN[2]);
        return;
      }
      table("table-runs", ["run", "kind", "created", "status", "message"],
        body.runs.map(function (r) {
          var cell = r.id;
          if (r.kind === "mmm" || r.kind === "plan") {
            cell = el("a", r.id);
            cell.href = r.kind === "plan" ? "/plans/" + encodeURIComponent(r.id)
              : "/?run=" + encodeURIComponent(r.id);
          }
          return [cell, r.kind, F.minute(r.created), r.status, r.message || ""];
        }));
    });
  }

  var PAGES = { overview: overview, contributions: contributions, roi: roi, curves: curves,
                planner: planner, scenarios: scenarios, attribution: attribution,
                diagnostics: diagnostics, data_quality: dataQuality, runs: runs };

  /* A recorded plan (/plans/<id>), read-only: where it came from, its headline, the
     allocation with intervals, caveats, and each channel's response curve reaching the
     plan (the curves API extends them to 1.2 × the planned spend). */
  function planPage() {
    return api("/api/plans/" + encodeURIComponent(PLAN)).then(function (p) {
      var plan = p.plan, u = p.units;
      UNITS = { symbol: SYMBOL, kpiType: u.kpi_type, kpiName: u.kpi_name };
      $("plan-title").textContent = "Plan " + p.run.id;
      $("plan-info").textContent = "Made " + F.minute(p.run.created) + " from run " +
        plan.run_id + ": budget " + money(plan.budget) + " over " + plan.weeks + " weeks" +
        (plan.start ? " from " + plan.start : "") + ". Brackets: 90% interval.";
      $("plan-verdict").textContent = p.view.verdict;
      renderPlan(plan);
      var runLink = $("plan-run-link");
      runLink.href = "/?run=" + encodeURIComponent(plan.run_id);
      runLink.textContent = "the run it was made from (" + plan.run_id + ")";
      return api("/api/runs/" + encodeURIComponent(plan.run_id) + "/curves?plan=" +
                 encodeURIComponent(p.run.id)).then(function (body) {
        var grid = $("plan-curves");
        grid.textContent = "";
        Object.keys(body.channels).forEach(function (name, i) {
          var holder = el("div", null, "chart small");
          var canvas = el("canvas");
          canvas.id = "chart-plan-curve-" + i;
          holder.appendChild(canvas);
          grid.appendChild(holder);
          var c = body.channels[name], a = plan.allocation[name];
          C.responseCurve(canvas, { channel: name, spend: c.spend, kpi: c.kpi,
                                    current_weekly_spend: c.current_weekly_spend,
                                    recommended_weekly_spend: a ? a.spend / plan.weeks : null },
                          { horizon: body.horizon_weeks, units: UNITS, kpiName: UNITS.kpiName });
        });
      }).catch(function (err) {
        $("plan-curves-block").classList.add("hidden");
        if (err.status !== 404) { throw err; }
      });
    }).catch(function (err) {
      if (err.status === 404) {
        showEmpty("No such plan", err.message, "margin optimize --run runs/fit1 " + WS);
        return;
      }
      throw err;
    });
  }
  PAGES.plan = planPage;

  function start() {
    var logout = $("logout-form");
    if (logout) {
      logout.addEventListener("submit", function () { $("logout-csrf").value = CSRF; });
    }
    var run = PAGES[PAGE];
    if (!run) { return; }
    var done = function () { body.setAttribute("data-loaded", "1"); };
    try {
      Promise.resolve(run()).then(done, function (err) {
        if (!emptyFor(err)) { showError(err); }
        done();
      });
    } catch (err) {
      showError(err);
      done();
    }
  }

  window.MarginApp = { api: api, showError: showError };
  start();
})();
