// NetPulse dashboard live updates (no dependencies, no build step). Listens to /events
// (Server-Sent Events, same-origin, session cookie) and patches the page in place:
// overview rows (state, last check, latency), the monitor page's status badge, result rows
// and incident rows. document.body.dataset.live tells tests whether the stream is open.
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
  function ago(ms) {
    var s = Math.floor((Date.now() - ms) / 1000);
    if (s <= 0) return "just now";
    if (s < 120) return s + " s ago";
    if (s < 7200) return Math.floor(s / 60) + " min ago";
    return Math.floor(s / 3600) + " h ago";
  }
  function latency(ms) { return ms === null || ms === undefined ? "\u2013" : ms + " ms"; }
  function row(id) { return document.querySelector('tr[data-monitor="' + id + '"]'); }
  function cell(tr, name) { return tr ? tr.querySelector('[data-cell="' + name + '"]') : null; }
  function setBadge(container, state) {
    if (!container) return;
    container.replaceChildren(badge(state));
  }

  function onResult(d) {
    var tr = row(d.monitor_id);
    var last = cell(tr, "last");
    if (last) { last.setAttribute("data-ts", d.started_ms); last.textContent = ago(d.started_ms); }
    var lat = cell(tr, "latency");
    if (lat) lat.textContent = latency(d.latency_ms);
    if (monitor === d.monitor_id) {
      var body = document.querySelector("#results tbody");
      if (!body || document.getElementById("results").dataset.paged) return;
      if (d.id && body.querySelector('tr[data-result="' + d.id + '"]')) return;
      var r = el("tr", "fresh");
      if (d.id) r.setAttribute("data-result", d.id);
      r.appendChild(el("td", null, d.started_at));
      var o = el("td"); o.appendChild(badge(d.outcome)); r.appendChild(o);
      r.appendChild(el("td", null, latency(d.latency_ms)));
      r.appendChild(el("td", null, d.status_code === null ? "\u2013" : d.status_code));
      r.appendChild(el("td", null, d.region));
      r.appendChild(el("td", "error", d.error || ""));
      body.insertBefore(r, body.firstChild);
      while (body.children.length > 50) body.removeChild(body.lastChild);
    }
  }

  function onHealth(d) {
    var state = cell(row(d.monitor_id), "state");
    if (state && !state.querySelector(".badge.paused")) setBadge(state, d.health);
    if (monitor === d.monitor_id) setBadge(document.getElementById("state"), d.health);
  }

  function onIncident(d) {
    if (monitor !== d.monitor_id) return;
    var table = document.getElementById("incidents");
    if (!table) return;
    var empty = document.getElementById("no-incidents");
    if (empty) empty.remove();
    table.hidden = false;
    var tr = table.querySelector('tr[data-incident="' + d.incident_id + '"]');
    var status = d.change === "resolved" ? "resolved" : "down";
    if (!tr) {
      tr = el("tr", "fresh");
      tr.setAttribute("data-incident", d.incident_id);
      var a = el("a", null, page.firstChild ? page.firstChild.textContent.trim() : d.incident_id);
      a.href = "/incidents/" + d.incident_id;
      var name = el("td"); name.appendChild(a); tr.appendChild(name);
      tr.appendChild(el("td"));
      tr.appendChild(el("td", null, d.at));
      tr.appendChild(el("td", null, "\u2013"));
      tr.appendChild(el("td", "error", ""));
      var body = table.querySelector("tbody");
      body.insertBefore(tr, body.firstChild);
    }
    setBadge(tr.children[1], status);
    if (d.change === "resolved") tr.children[3].textContent = d.at;
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

  var es = new EventSource("/events" + (monitor ? "?monitor=" + encodeURIComponent(monitor) : ""));
  es.onopen = function () { document.body.dataset.live = "connected"; };
  es.onerror = function () { document.body.dataset.live = "reconnecting"; };
  es.addEventListener("result", handle(onResult));
  es.addEventListener("health", handle(onHealth));
  es.addEventListener("incident", handle(onIncident));
  es.addEventListener("monitor", handle(onMonitor));
  // A region of this tenant went offline or came back: the overview's banner changes.
  es.addEventListener("region", function () { if (!monitor) location.reload(); });
  // Fell behind the bus: some events were dropped, so the page is stale; start over.
  es.addEventListener("lagged", function () { location.reload(); });

  setInterval(function () {
    document.querySelectorAll("[data-ts]").forEach(function (c) {
      c.textContent = ago(Number(c.getAttribute("data-ts")));
    });
  }, 5000);
})();
