// The bedside chart: the elapsed-minutes ticker and jump-to-field. No inline scripts (CSP).
// Everything here is a convenience: without JavaScript the links are plain anchors and the
// minutes are right as of the page load.
(function () {
  "use strict";

  // Running infusions: add the minutes passed since the server rendered the card.
  function tick() {
    var now = Date.now();
    document.querySelectorAll(".elapsed[data-minutes][data-since]").forEach(function (el) {
      var since = Date.parse(el.dataset.since);
      var base = parseInt(el.dataset.minutes, 10);
      if (isNaN(since) || isNaN(base)) return;
      el.textContent = String(base + Math.max(0, Math.floor((now - since) / 60000)));
    });
    document.querySelectorAll(".chart-clock-time[data-zone]").forEach(function (el) {
      try {
        el.textContent = new Date().toLocaleTimeString("en-GB", {
          hour: "2-digit", minute: "2-digit", timeZone: el.dataset.zone,
        });
      } catch (e) { /* unknown zone: keep the server's time */ }
    });
  }
  setInterval(tick, 15000);
  document.addEventListener("DOMContentLoaded", tick);

  // A checklist item's link jumps to the field that fixes it: open its <details>, scroll, focus.
  document.addEventListener("click", function (event) {
    var link = event.target.closest("a.ck-jump");
    if (!link) return;
    var id = (link.getAttribute("href") || "").replace(/^#/, "");
    var target = id && document.getElementById(id);
    if (!target) return;
    event.preventDefault();
    for (var el = target.parentElement; el; el = el.parentElement) {
      if (el.tagName === "DETAILS") el.open = true;
    }
    target.scrollIntoView({ behavior: "smooth", block: "center" });
    if (typeof target.focus === "function") target.focus({ preventScroll: true });
    target.classList.add("jumped");
    setTimeout(function () { target.classList.remove("jumped"); }, 1500);
  });
})();
