/* NetPulse real-visitor check: reports once whether this page loaded (and the site's health
   address answered) and how fast. No cookies, no identifiers: see /privacy/real-visitors. */
(function () {
  var c = __CONFIG__, n = navigator;
  if (n.doNotTrack === "1" || window.doNotTrack === "1" || n.globalPrivacyControl) return;
  function send(d) {
    d.t = c.t;
    try {
      fetch(c.b, { method: "POST", body: JSON.stringify(d), keepalive: true, credentials: "omit",
        mode: "cors", headers: { "Content-Type": "text/plain" } })["catch"](function () {});
    } catch (e) {}
  }
  function report() {
    var d = {}, e = performance.getEntriesByType && performance.getEntriesByType("navigation")[0];
    if (e) {
      d.page_ms = Math.round(e.loadEventEnd > 0 ? e.loadEventEnd : e.responseEnd);
      if (e.responseStatus) d.page_status = e.responseStatus;
    }
    if (n.connection && n.connection.effectiveType) d.net = n.connection.effectiveType;
    try { d.tz = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (x) {}
    if (!c.h) return send(d);
    var same = new URL(c.h, location.href).origin === location.origin, t0 = performance.now();
    var ctl = window.AbortController ? new AbortController() : null;
    var timer = setTimeout(function () { if (ctl) ctl.abort(); }, 10000);
    fetch(c.h, { cache: "no-store", credentials: "omit", mode: same ? "same-origin" : "no-cors",
      signal: ctl ? ctl.signal : undefined }).then(function (r) {
      d.health_ok = same ? r.ok : true;
      d.health_ms = Math.round(performance.now() - t0);
    }, function () {
      d.health_ok = false;
    }).then(function () { clearTimeout(timer); send(d); });
  }
  if (document.readyState === "complete") setTimeout(report, 0);
  else window.addEventListener("load", function () { setTimeout(report, 0); });
})();
