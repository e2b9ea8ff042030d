// NetPulse dashboard live updates (no dependencies, no build step). Listens to /events
// (Server-Sent Events, same-origin, session cookie) and patches the page in place:
// overview rows (state, last check, latency), the monitor page's status badge, 24 h uptime,
// latency chart, result rows and incident rows. document.body.dataset.live tells tests whether the stream is open.
(function () {
  "use strict";
  // The monitor form: show only the chosen kind's fields.
  var kind = document.querySelector("select#f-kind");
  if (kind) {
    var showKind = function () {
      document.querySelectorAll("form.monitor [data-kinds]").forEach(function (f) {
        var kinds = f.getAttribute("data-kinds");
        f.hidden = kinds !== "" && kinds.split(" ").indexOf(kind.value) < 0;
      });
    };
    kind.addEventListener("change", showKind);
    showKind();
  }
  // A nullable policy field: typing a number chooses "a value" over inherit / never.
  document.querySelectorAll("form.monitor .choices label.value input[type=text]").forEach(function (n) {
    n.addEventListener("input", function () { n.parentNode.querySelector("input[type=radio]").checked = true; });
  });
  var page = document.querySelector("h1[data-monitor]");
  var monitor = page ? page.getAttribute("data-monitor") : null;
  if (!page && !document.getElementById("monitors")) return;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function badge(state) { return el("span", "badge " + state, state); }
  // Times go in as <time data-rel> (local_time.js: "3 min ago", the local time on hover).
  var times = window.NetPulseTimes;
  function timeCell(cell, ms) {
    if (cell) cell.replaceChildren(times.element(ms));
    return cell;
  }
  // A failed check shows no latency (mod.rs latency): its time is how long failing took.
  function failed(outcome) { return outcome === "down" || outcome === "error"; }
  function latency(ms, outcome) { return ms === null || ms === undefined || failed(outcome) ? "\u2013" : ms + " ms"; }
  function row(id) { return document.querySelector('tr[data-monitor="' + id + '"]'); }
  function cell(tr, name) { return tr ? tr.querySelector('[data-cell="' + name + '"]') : null; }
  function setBadge(container, state) {
    if (!container) return;
    container.replaceChildren(badge(state));
  }

  // The monitor page's latency chart (chart.rs draws the first paint the same way): one line
  // per region, points in the region's colour, failures in red at the bottom. Redrawn from
  // its points, [started_ms, latency_ms|null, region, failed, id] oldest first, as results arrive.
  var SVG = "http://www.w3.org/2000/svg";
  var COLORS = ["#2456b3", "#16803c", "#8e44ad", "#b26a00", "#0f766e"];
  var chart = document.getElementById("latency");
  var points = chart ? JSON.parse(chart.getAttribute("data-points") || "[]") : [];
  function svgEl(tag, attrs, title) {
    var e = document.createElementNS(SVG, tag);
    Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (title) { var t = document.createElementNS(SVG, "title"); t.textContent = title; e.appendChild(t); }
    return e;
  }
  function iso(ms) { return times.short.format(ms); }
  function drawChart() {
    if (!points.length) return;
    var W = 1000, H = 160, PAD = 24;
    var t0 = points[0][0], t1 = Math.max(points[points.length - 1][0], t0 + 1), max = 1;
    var regions = [];
    points.forEach(function (p) {
      if (p[1] === null) return;
      max = Math.max(max, p[1]);
      if (regions.indexOf(p[2]) < 0) regions.push(p[2]);
    });
    regions.sort();
    var x = function (t) { return (PAD + (t - t0) / (t1 - t0) * (W - 2 * PAD)).toFixed(1); };
    var y = function (ms) { return (H - PAD - ms / max * (H - 2 * PAD)).toFixed(1); };
    var color = function (r) { return COLORS[Math.max(regions.indexOf(r), 0) % COLORS.length]; };
    var svg = svgEl("svg", { "class": "chart", id: "latency-chart", viewBox: "0 0 " + W + " " + H,
      preserveAspectRatio: "none", role: "img", "aria-label": "latency per region over the recent results" });
    svg.appendChild(svgEl("line", { "class": "grid", x1: PAD, y1: H - PAD, x2: W - PAD, y2: H - PAD, stroke: "#e3e6eb" }));
    var label = function (x, anchor, text) {
      var t = svgEl("text", { x: x, y: anchor ? H - 6 : 14, "font-size": 12, fill: "#687386" });
      if (anchor === "end") t.setAttribute("text-anchor", "end");
      t.textContent = text;
      svg.appendChild(t);
    };
    label(PAD, null, max + " ms");
    label(PAD, "start", iso(points[0][0]));
    label(W - PAD, "end", iso(points[points.length - 1][0]));
    regions.forEach(function (r) {
      var pts = points.filter(function (p) { return p[2] === r && p[1] !== null; })
        .map(function (p) { return x(p[0]) + "," + y(p[1]); }).join(" ");
      svg.appendChild(svgEl("polyline", { "data-series": r, points: pts, fill: "none", stroke: color(r),
        "stroke-width": 2, "vector-effect": "non-scaling-stroke" }, r));
    });
    points.forEach(function (p) {
      if (p[1] !== null) svg.appendChild(svgEl("circle", { "class": "pt", cx: x(p[0]), cy: y(p[1]), r: 2.5,
        fill: color(p[2]) }, p[2] + " " + iso(p[0]) + " " + p[1] + " ms"));
    });
    points.forEach(function (p) {
      if (p[3]) svg.appendChild(svgEl("circle", { "class": "fail", cx: x(p[0]), cy: H - PAD, r: 4,
        fill: "#c62828" }, p[2] + " " + iso(p[0]) + " failed"));
    });
    var legend = el("p", "sub legend");
    regions.forEach(function (r) {
      var s = el("span", null, "\u25a0 " + r + " ");
      s.style.color = color(r);
      legend.appendChild(s);
    });
    chart.replaceChildren(svg, legend);
  }
  // Redraw the first paint once, so its axis reads in the viewer's time zone.
  if (chart && points.length) drawChart();
  function chartResult(d) {
    if (!chart || points.some(function (p) { return p[4] === d.id; })) return;
    var down = failed(d.outcome);
    points.push([d.started_ms, d.latency_ms === undefined || down ? null : d.latency_ms, d.region, down, d.id]);
    points.sort(function (a, b) { return a[0] - b[0]; });
    while (points.length > 50) points.shift();
    drawChart();
  }

  // The monitor page's 24 h uptime: the page counted the stored results up to its newest
  // shown one (data-ok of data-total, monitor.rs); add each result the stream brings once,
  // by id. Live results (with sent_at) were stored after the page was rendered, and catch-up
  // ones started after the newest result shown when the stream (re)opened: none of them is
  // counted yet, but one may come both live and in a catch-up.
  var uptime = document.getElementById("uptime-24h");
  var counted = {};
  function countUptime(d) {
    if (!uptime || !uptime.hasAttribute("data-total") || counted[d.id]) return;
    counted[d.id] = true;
    var ok = Number(uptime.getAttribute("data-ok")) + (d.outcome === "up" || d.outcome === "degraded" ? 1 : 0);
    var total = Number(uptime.getAttribute("data-total")) + 1;
    uptime.setAttribute("data-ok", ok);
    uptime.setAttribute("data-total", total);
    uptime.textContent = (ok * 100 / total).toFixed(2) + " %";
  }

  function onResult(d) {
    var tr = row(d.monitor_id);
    var last = cell(tr, "last");
    timeCell(last, d.started_ms);
    var lat = cell(tr, "latency");
    if (lat) lat.textContent = latency(d.latency_ms, d.outcome);
    if (monitor === d.monitor_id) {
      if (d.started_ms > newest) newest = d.started_ms;
      countUptime(d);
      var body = document.querySelector("#results tbody");
      if (!body || document.getElementById("results").dataset.paged) return;
      chartResult(d);
      if (d.id && body.querySelector('tr[data-result="' + d.id + '"]')) return;
      var r = el("tr", "fresh");
      if (d.id) r.setAttribute("data-result", d.id);
      r.setAttribute("data-ms", d.started_ms);
      r.appendChild(timeCell(el("td"), d.started_ms));
      var o = el("td"); o.appendChild(badge(d.outcome)); r.appendChild(o);
      r.appendChild(el("td", null, latency(d.latency_ms, d.outcome)));
      r.appendChild(el("td", null, d.status_code === null ? "\u2013" : d.status_code));
      r.appendChild(el("td", null, d.region));
      r.appendChild(el("td", "error", d.error || ""));
      // Newest first: a result goes where its start puts it (a catch-up's or a slow
      // region's may be older than rows already shown).
      var next = body.firstElementChild;
      while (next && Number(next.getAttribute("data-ms")) > d.started_ms) next = next.nextElementSibling;
      body.insertBefore(r, next);
      while (body.children.length > 50) body.removeChild(body.lastChild);
    }
  }

  function onHealth(d) {
    var state = cell(row(d.monitor_id), "state");
    if (state && !state.querySelector(".badge.paused")) setBadge(state, d.health);
    if (monitor !== d.monitor_id) return;
    var shown = document.getElementById("state");
    if (shown && shown.textContent === d.health) return;
    setBadge(shown, d.health);
    // The README badge images are cached for a minute: fetch the ones for the new state.
    document.querySelectorAll('img[alt="status badge"], img[alt="uptime badge"]').forEach(function (img) {
      img.src = img.src.replace(/&state=[a-z]+$/, "") + "&state=" + d.health;
    });
  }

  function onIncident(d) {
    if (monitor !== d.monitor_id) return;
    var table = document.getElementById("incidents");
    if (!table) return;
    var empty = document.getElementById("no-incidents");
    if (empty) empty.remove();
    table.hidden = false;
    var tr = table.querySelector('tr[data-incident="' + d.incident_id + '"]');
    // The API's words for an incident's state (incidents.rs status_name).
    var status = d.change === "resolved" ? "resolved" : "open";
    var at = Date.parse(d.at);
    if (!tr) {
      tr = el("tr", "fresh");
      tr.setAttribute("data-incident", d.incident_id);
      tr.setAttribute("data-opened-ms", at);
      var a = el("a", null, page.firstChild ? page.firstChild.textContent.trim() : d.incident_id);
      a.href = "/incidents/" + d.incident_id;
      var name = el("td"); name.appendChild(a); tr.appendChild(name);
      tr.appendChild(el("td"));
      tr.appendChild(timeCell(el("td"), at));
      tr.appendChild(el("td", null, "just started"));
      tr.appendChild(el("td", "error", ""));
      var body = table.querySelector("tbody");
      body.insertBefore(tr, body.firstChild);
    }
    setBadge(tr.children[1], status);
    tr.setAttribute("data-status", status);
    var opened = Number(tr.getAttribute("data-opened-ms"));
    if (d.change === "resolved") tr.children[3].textContent = times.span(Math.max(0, Math.floor((at - opened) / 1000)));
  }

  // Overview: a monitor created elsewhere gets its row, not yet checked.
  function onMonitor(d) {
    var body = document.querySelector("#monitors tbody");
    if (!body || row(d.monitor_id) || document.getElementById("monitors").dataset.filtered) return;
    var empty = document.getElementById("no-monitors");
    if (empty) empty.remove();
    document.getElementById("monitors").hidden = false;
    var tr = el("tr", "fresh");
    tr.setAttribute("data-monitor", d.monitor_id);
    var name = el("td"), a = el("a", null, d.name);
    a.href = "/monitors/" + d.monitor_id;
    name.appendChild(a);
    name.appendChild(el("div", "sub", d.kind + " \u00b7 " + d.target));
    tr.appendChild(name);
    var state = el("td"); state.setAttribute("data-cell", "state"); state.appendChild(badge(d.paused ? "paused" : "unknown"));
    tr.appendChild(state);
    var last = el("td", null, "never"); last.setAttribute("data-cell", "last"); tr.appendChild(last);
    var lat = el("td", null, "\u2013"); lat.setAttribute("data-cell", "latency"); tr.appendChild(lat);
    for (var i = 0; i < 3; i++) tr.appendChild(el("td", null, "\u2013")); // sparkline, 24 h, 30 d
    body.appendChild(tr);
  }

  function handle(fn) {
    return function (ev) {
      try { fn(JSON.parse(ev.data)); } catch (e) { if (window.console) console.error(e); }
    };
  }

  // A page asks for what it missed since it was rendered (events.rs: catch-up): a monitor
  // page for its results and state, the overview for the health changes. A monitor page
  // resumes from the newest result it has shown: on an error the stream is closed (the
  // browser's own reconnection would reuse the first URL, replaying what the page already
  // shows) and reopened after a backoff (0.5 s, doubling up to 10 s) with that `since`.
  var since = (page || document.getElementById("monitors")).getAttribute("data-since");
  var newest = since ? Number(since) : -Infinity;
  var backoff = 500;
  function connect() {
    var from = monitor ? (newest > -Infinity ? String(newest) : null) : since;
    var es = new EventSource("/events" + (monitor ? "?monitor=" + encodeURIComponent(monitor) +
      (from ? "&since=" + from : "") : from ? "?since=" + from : ""));
    es.onopen = function () { backoff = 500; document.body.dataset.live = "connected"; };
    es.onerror = function () {
      es.close();
      document.body.dataset.live = "reconnecting";
      setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 10000);
    };
    es.addEventListener("result", handle(onResult));
    es.addEventListener("health", handle(onHealth));
    es.addEventListener("incident", handle(onIncident));
    es.addEventListener("monitor", handle(onMonitor));
    // A region of this tenant went offline or came back: the overview's banner changes.
    es.addEventListener("region", function () { if (!monitor) location.reload(); });
    // Fell behind the bus: some events were dropped, so the page is stale; start over.
    es.addEventListener("lagged", function () { location.reload(); });
  }
  connect();

})();
