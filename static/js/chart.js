// The bedside chart: the elapsed-minutes ticker, jump-to-field, and keeping what the nurse typed
// across htmx swaps. No inline scripts (CSP).
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

  // Typed, unsent values survive htmx swaps. Any htmx answer re-renders parts of the chart (the
  // sign-off panel out of band, the card being saved, the whole chart): a field the nurse changed
  // (its value differs from the one the server rendered) keeps her value in the new markup, unless
  // it went with the request that answered and has not changed since (then the server's rendering,
  // with its errors, is the truth). A kept value in an auto-saving card is sent again: a change
  // made while the card's previous save was in flight is saved, not lost.
  var FIELDS = "input:not([type=hidden]):not([type=submit]):not([type=button]), select, textarea";
  var kept = null;

  function isCheck(el) { return el.type === "checkbox" || el.type === "radio"; }

  function selectedValues(el) {
    var values = [];
    for (var i = 0; i < el.options.length; i++) {
      if (el.options[i].selected) values.push(el.options[i].value);
    }
    return values;
  }

  function changed(el) {
    if (isCheck(el)) return el.checked !== el.defaultChecked;
    if (el.tagName === "SELECT") {
      for (var i = 0; i < el.options.length; i++) {
        if (el.options[i].selected !== el.options[i].defaultSelected) return true;
      }
      return false;
    }
    return el.value !== el.defaultValue;
  }

  function sentAsIs(el, form, sent) {
    if (!form || el.form !== form || !sent || !el.name) return false;
    var values = sent.getAll(el.name).map(String);
    if (isCheck(el)) return values.indexOf(el.value) !== -1 === el.checked;
    if (el.tagName === "SELECT") return selectedValues(el).join("\n") === values.join("\n");
    return values.length === 1 && values[0] === el.value;
  }

  function autoSaves(form) {
    var trigger = form && form.getAttribute("hx-trigger");
    return !!trigger && /(^|[\s,])change([\s,]|$)/.test(trigger);
  }

  document.addEventListener("htmx:beforeSwap", function (event) {
    var config = event.detail.requestConfig || {};
    var elt = config.elt;
    var form = elt && (elt.tagName === "FORM" ? elt : elt.closest && elt.closest("form"));
    var sent = config.formData;
    kept = [];
    var chart = document.getElementById("chart");
    if (!chart) return;
    chart.querySelectorAll(FIELDS).forEach(function (el) {
      if (!el.id || el.disabled || !changed(el) || sentAsIs(el, form, sent)) return;
      kept.push({
        id: el.id,
        old: el,
        value: isCheck(el) ? el.checked : el.tagName === "SELECT" ? selectedValues(el) : el.value,
        caret: el === document.activeElement ? [el.selectionStart, el.selectionEnd] : null,
      });
    });
  });

  function restore(item) {
    var el = document.getElementById(item.id);
    if (!el || el === item.old || !el.matches(FIELDS)) return null;  // not re-rendered
    if (isCheck(el)) el.checked = item.value;
    else if (el.tagName === "SELECT") {
      for (var i = 0; i < el.options.length; i++) {
        el.options[i].selected = item.value.indexOf(el.options[i].value) !== -1;
      }
    } else {
      el.value = item.value;
      if (item.caret && item.caret[0] !== null && el === document.activeElement) {
        try { el.setSelectionRange(item.caret[0], item.caret[1]); } catch (e) { /* no caret */ }
      }
    }
    for (var up = el.parentElement; up; up = up.parentElement) {
      if (up.tagName === "DETAILS") up.open = true;  // where she left it: in view
    }
    return el;
  }

  function resend(el) {
    el.dispatchEvent(new Event("change", { bubbles: true }));
  }

  document.addEventListener("htmx:afterSwap", function () {
    if (!kept) return;  // every swap of this answer is done by its first afterSwap
    var items = kept;
    kept = null;
    var forms = [];
    items.forEach(function (item) {
      var el = restore(item);
      if (!el || !autoSaves(el.form) || forms.indexOf(el.form) !== -1) return;
      forms.push(el.form);
      if (el === document.activeElement && el.tagName !== "SELECT" && !isCheck(el)) {
        // Still being typed in: save when she leaves the field, as the change event would.
        var fired = false;
        el.addEventListener("change", function () { fired = true; }, { once: true });
        el.addEventListener("blur", function () {
          if (!fired && changed(el)) resend(el);
        }, { once: true });
      } else {
        // After this answer's request has ended: hx-sync would drop a change sent while it runs.
        setTimeout(function () { resend(el); }, 0);
      }
    });
  });
})();
