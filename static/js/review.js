// Coder review: hovering (or focusing) a charge line, finding or "not charged" item highlights
// the administrations it covers on the timeline and in the record table. Those carry
// data-administration="A12"; the line carries data-covers="A12 A13".
(function () {
  "use strict";

  function targets(ids) {
    var found = [];
    ids.forEach(function (id) {
      document.querySelectorAll('[data-administration="' + id + '"]').forEach(function (el) {
        found.push(el);
      });
    });
    return found;
  }

  function set(row, on) {
    var ids = (row.getAttribute("data-covers") || "").split(/\s+/).filter(Boolean);
    targets(ids).forEach(function (el) {
      el.classList.toggle("tl-highlight", on);
    });
    row.classList.toggle("covers-active", on);
  }

  function init() {
    document.querySelectorAll("[data-covers]").forEach(function (row) {
      row.addEventListener("mouseenter", function () { set(row, true); });
      row.addEventListener("mouseleave", function () { set(row, false); });
      row.addEventListener("focusin", function () { set(row, true); });
      row.addEventListener("focusout", function () { set(row, false); });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();

// A refused plain form (a correction, a query, an override...) comes back at the address it
// posted to (/coding/encounters/7/lines/41/), its errors beside the fields and what was typed
// kept; a reload there posted it again. The page says its own address (data-review-url): put it
// back in the address bar, the history entry replaced (a reload then reads the review page).
(function () {
  "use strict";
  var page = document.querySelector("[data-review-url]");
  var address = page && page.getAttribute("data-review-url");
  if (address && window.location.pathname !== address && window.history.replaceState) {
    window.history.replaceState(window.history.state, "", address);
  }
})();
