// NetPulse times in the viewer's time zone (inline on dashboard and status pages; times.rs
// writes the elements). <time data-rel> keeps its words ("3 min ago", refreshed every 15 s)
// and gets the exact local time with the zone's name as its hover title; <time data-abs>
// shows the local date and time. Without this script the server's UTC text stays.
(function () {
  "use strict";
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "local time";
  var long = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
  var short = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  function span(s) {
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min";
    if (s < 86400) return Math.floor(s / 3600) + " h" + (Math.floor(s % 3600 / 60) ? " " + Math.floor(s % 3600 / 60) + " min" : "");
    return Math.floor(s / 86400) + " d" + (Math.floor(s % 86400 / 3600) ? " " + Math.floor(s % 86400 / 3600) + " h" : "");
  }
  // The same words as times.rs's ago_text.
  function ago(ms) {
    var s = Math.floor((Date.now() - ms) / 1000);
    if (s < 0) return "in " + span(-s);
    if (s === 0) return "just now";
    if (s < 120) return s + " s ago";
    if (s < 7200) return Math.floor(s / 60) + " min ago";
    if (s < 172800) return Math.floor(s / 3600) + " h ago";
    return Math.floor(s / 86400) + " d ago";
  }
  function paint(root) {
    (root || document).querySelectorAll("time[datetime]").forEach(function (t) {
      var ms = Date.parse(t.getAttribute("datetime"));
      if (isNaN(ms)) return;
      if (t.hasAttribute("data-rel")) {
        t.textContent = ago(ms);
        t.title = long.format(ms) + " (" + zone + ")";
      } else if (t.hasAttribute("data-abs")) {
        t.textContent = short.format(ms);
        t.title = long.format(ms) + " (" + zone + ")";
      }
    });
  }
  // A <time data-rel> for a time in ms, for the live script's new rows.
  function element(ms) {
    var t = document.createElement("time");
    t.setAttribute("datetime", new Date(ms).toISOString().slice(0, 19) + "Z");
    t.setAttribute("data-rel", "");
    paint({ querySelectorAll: function () { return [t]; } });
    return t;
  }
  window.NetPulseTimes = { paint: paint, element: element, span: span, short: short };
  paint();
  setInterval(paint, 15000);
})();
