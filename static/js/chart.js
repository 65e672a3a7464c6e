// The bedside chart: the elapsed-minutes ticker, jump-to-field, the administration cards' saves
// (queued, in order, never silently failed), and keeping what the nurse typed across htmx morphs.
// No inline scripts (CSP). Without JavaScript the forms post and redirect back as plain forms.
(function () {
  "use strict";

  // Running infusions: add the minutes passed since the server rendered the card; the header's
  // clock on the encounter's zone.
  function tick() {
    var now = Date.now();
    document.querySelectorAll(".elapsed[data-minutes][data-since]").forEach(function (el) {
      var since = Date.parse(el.dataset.since);
      var base = parseInt(el.dataset.minutes, 10);
      if (isNaN(since) || isNaN(base)) return;
      el.textContent = String(base + Math.max(0, Math.floor((now - since) / 60000)));
    });
    // Past its expected end (the server drew the note hidden until then): shown, with the
    // minutes past it, as the clock moves on without a reload.
    document.querySelectorAll(".adm-overrun[data-end]").forEach(function (el) {
      var end = Date.parse(el.dataset.end);
      if (isNaN(end)) return;
      var past = Math.floor((now - end) / 60000);
      var minutes = el.querySelector(".overrun-minutes");
      if (past >= 1) {
        if (minutes) minutes.textContent = String(past);
        el.hidden = false;
      } else {
        el.hidden = true;
      }
    });
    document.querySelectorAll(".chart-clock-time[data-zone]").forEach(function (el) {
      try {
        el.textContent = new Date().toLocaleTimeString("en-GB", {
          hour: "2-digit", minute: "2-digit", timeZone: el.dataset.zone,
        });
      } catch (e) { /* unknown zone: keep the server's time */ }
    });
  }
  // The header's "Now HH:MM" follows the clock: redrawn on the minute (the next minute's first
  // moment, each time: a timer throttled or late in a background tab does not drift), when the
  // tab is shown again (a tablet woken), and with each htmx answer, so it is never behind a
  // "Saved HH:MM" said on the same page (QA walkthrough: "Now 08:33" beside "Saved 08:34").
  var nextMinute = null;
  function onTheMinute() {
    tick();
    clearTimeout(nextMinute);
    nextMinute = setTimeout(onTheMinute, 60000 - (Date.now() % 60000) + 20);
  }
  document.addEventListener("DOMContentLoaded", onTheMinute);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") onTheMinute();
  });
  document.addEventListener("htmx:afterSettle", tick);
  setInterval(tick, 15000);  // the running minutes count from the render, not on the minute

  // A checklist item's link jumps to the field that fixes it: open its <details>, scroll, focus.
  // So do the page's skip links (a[data-jump]: "Skip to scan" focuses the scan field itself).
  document.addEventListener("click", function (event) {
    var link = event.target.closest("a.ck-jump, a[data-jump]");
    if (!link) return;
    var id = (link.getAttribute("href") || "").replace(/^#/, "");
    var target = id && document.getElementById(id);
    if (!target) return;
    event.preventDefault();
    for (var el = target.parentElement; el; el = el.parentElement) {
      if (el.tagName === "DETAILS") el.open = true;
    }
    // A skip link's target (the scan field, "Running now", taller than the screen with two
    // infusions) goes to the top at once: centred, the first card's Stop now went off screen.
    target.scrollIntoView(
      link.hasAttribute("data-jump") ? { block: "start" } : { behavior: "smooth", block: "center" }
    );
    if (typeof target.focus === "function") target.focus({ preventScroll: true });
    target.classList.add("jumped");
    setTimeout(function () { target.classList.remove("jumped"); }, 1500);
  });

  // A fold's "Cancel" (data-details-close) closes its <details>: what was typed in it stays, for
  // when it is opened again; the focus goes back to its summary.
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-details-close]");
    var fold = button && button.closest("details");
    if (!fold) return;
    fold.open = false;
    var summary = fold.querySelector("summary");
    if (summary) summary.focus();
  });

  // "Start now" says what it will do: a typed time starts at that time. So do Pause and Resume
  // (form.at-action, the button's data-now / data-at words): "Pause at 17:00".
  var AT_INPUTS = "form.order-start input[name$='-at'], form.at-action input[name$='-at']";
  function startLabel(at) {
    var button = at.form && at.form.querySelector("[data-testid=start], button[data-now]");
    if (!button) return;
    var now = button.dataset.now ? button.dataset.now : "Start now";
    var later = button.dataset.at ? button.dataset.at : "Start at";
    var time = /(?:^|[ T])(\d{1,2}:\d{2})(?::\d{2})?(?:[+-]\d{2}:\d{2}|Z)?$/.exec(at.value.trim());
    var alone = TIME_ALONE.exec(at.value.trim());
    var said = alone ? hhmmAlone(alone) : time ? time[1] : "";
    // A time that cannot be read ("25:99") is not promised on the button: "Start at…".
    if (said && timeProblem(at.value)) said = "";
    button.textContent = !at.value.trim() ? now : said ? later + " " + said : later + "…";
  }
  document.addEventListener("input", function (event) {
    var at = event.target.closest && event.target.closest(AT_INPUTS);
    if (at) startLabel(at);
  });
  // The server draws "Start now"; a start refused with its time kept (in the future, say) or a
  // time typed before a morph still says what the button will do.
  function startLabels() {
    document.querySelectorAll(AT_INPUTS).forEach(startLabel);
  }
  document.addEventListener("DOMContentLoaded", startLabels);
  document.addEventListener("htmx:afterSettle", startLabels);

  // "Saved HH:MM" on the chart's clock (the encounter's zone, as every time on it), not the
  // tablet's own zone.
  function clockNow() {
    var clock = document.querySelector(".chart-clock-time[data-zone]");
    try {
      return new Date().toLocaleTimeString("en-GB", {
        hour: "2-digit", minute: "2-digit", timeZone: clock ? clock.dataset.zone : undefined,
      });
    } catch (e) {
      return new Date().toTimeString().slice(0, 5);
    }
  }

  // Time fields are 24-hour text (mar/forms.py LocalTimeInput): beside the field, as soon as
  // she leaves it, what is wrong with what she typed; gone once it reads. The server checks too.
  // The same forms as the server reads (mar/forms.py TIME_ALONE, LocalTimeField): the date and
  // the time, or a time alone ("08:28", "8:28", "0828"), today on the encounter's wall clock
  // (the field's data-zone), or yesterday when today's would be later than now by more than
  // a device's clock may run ahead (mar/clock.py CLOCK_AHEAD): said beside the field then.
  var TIME24 = /^(\d{4})-(\d{2})-(\d{2})[ T]([01]\d|2[0-3]):([0-5]\d)(?::[0-5]\d)?(?:[+-]\d{2}:\d{2}|Z)?$/;
  var TIME_ALONE = /^(?:([01]?\d|2[0-3]):([0-5]\d)|([01]\d|2[0-3])([0-5]\d))$/;
  var CLOCK_AHEAD_MINUTES = 5;
  function hhmmAlone(m) {
    var hour = m[1] !== undefined ? m[1] : m[3];
    return (hour.length < 2 ? "0" + hour : hour) + ":" + (m[2] !== undefined ? m[2] : m[4]);
  }
  function timeProblem(value) {
    var v = value.trim();
    if (!v || TIME_ALONE.test(v)) return "";
    var m = TIME24.exec(v);
    if (!m) {
      if (/[ap]\.?m\.?$/i.test(v)) return "Use the 24-hour clock: 14:30, not 2:30 PM.";
      return "Type the 24-hour time, 14:30 (today), or the date and the time: 2026-03-02 14:30.";
    }
    var month = +m[2], day = +m[3];
    if (month < 1 || month > 12 || day < 1 || day > 31) return "That date cannot be right: year-month-day, 2026-03-02.";
    return "";
  }
  // A time alone read as yesterday: "Read as yesterday, 2026-12-06 23:50 …"; "" otherwise (today
  // is what the field's placeholder says).
  function readAs(input) {
    var m = TIME_ALONE.exec(input.value.trim());
    if (!m) return "";
    var parts = {};
    try {
      new Intl.DateTimeFormat("en-CA", {
        timeZone: input.dataset.zone || undefined, hourCycle: "h23",
        year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
      }).formatToParts(new Date()).forEach(function (p) { parts[p.type] = p.value; });
    } catch (e) {
      return "";
    }
    var typed = hhmmAlone(m);
    var minutes = +typed.slice(0, 2) * 60 + +typed.slice(3);
    var nowMinutes = +parts.hour * 60 + +parts.minute;
    if (minutes <= nowMinutes + CLOCK_AHEAD_MINUTES) return "";
    var day = new Date(Date.UTC(+parts.year, +parts.month - 1, +parts.day - 1));
    var yesterday = day.toISOString().slice(0, 10) + " " + typed;
    // Yesterday's would be before the arrival, or a stop before its card's start: today's was
    // meant, and it is later than now (the server says the same: mar/forms.py NOT_YET).
    var card = input.closest("[data-testid=adm-card][data-start]");
    var earlier = [input.dataset.arrived];
    if (card && !/-start$/.test(input.name)) earlier.push(card.dataset.start);
    var tooEarly = earlier.some(function (seconds) {
      var wall = seconds ? wallClock(new Date(+seconds * 1000), input.dataset.zone) : "";
      return wall && yesterday < wall;
    });
    if (tooEarly) {
      return "This time (" + typed + ") is later than now (" + parts.hour + ":" + parts.minute +
        "): it cannot be charted yet.";
    }
    return "Read as yesterday, " + yesterday + ": today's is later than now.";
  }
  // "YYYY-MM-DD HH:MM" on the wall clock of `zone` ("" when it cannot be said).
  function wallClock(when, zone) {
    var p = {};
    try {
      new Intl.DateTimeFormat("en-CA", {
        timeZone: zone || undefined, hourCycle: "h23",
        year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
      }).formatToParts(when).forEach(function (x) { p[x.type] = x.value; });
    } catch (e) {
      return "";
    }
    return p.year + "-" + p.month + "-" + p.day + " " + p.hour + ":" + p.minute;
  }
  function readBack(input) {
    var note = input.parentElement && input.parentElement.querySelector(".time24-read[data-client]");
    var said = timeProblem(input.value) ? "" : readAs(input);
    if (!said) {
      if (note) note.remove();
      return;
    }
    if (!note) {
      note = document.createElement("div");
      note.className = "time24-read form-text";
      note.setAttribute("data-client", "");
      note.setAttribute("role", "status");
      note.setAttribute("data-testid", "time24-read");
      input.insertAdjacentElement("afterend", note);
    }
    if (note.textContent !== said) note.textContent = said;
  }
  function timeHint(input, show) {
    readBack(input);
    var hint = input.parentElement && input.parentElement.querySelector(".time24-hint[data-client]");
    var problem = timeProblem(input.value);
    // The server refused this very value and says why beside the field: one message, not two.
    var serverSays = input.classList.contains("is-invalid") && input.value === input.defaultValue;
    if (!problem || serverSays) {
      if (hint) hint.remove();
      input.classList.remove("time24-bad");
      input.removeAttribute("aria-invalid");
      return;
    }
    if (!show && !hint) return;
    if (!hint) {
      hint = document.createElement("div");
      hint.className = "time24-hint";
      hint.setAttribute("data-client", "");
      hint.setAttribute("role", "alert");
      hint.setAttribute("data-testid", "time24-hint");
      hint.id = (input.id || input.name) + "-time24";
      input.insertAdjacentElement("afterend", hint);
      input.setAttribute("aria-describedby", hint.id);
    }
    hint.textContent = problem;
    input.classList.add("time24-bad");
    input.setAttribute("aria-invalid", "true");
  }
  document.addEventListener("input", function (event) {
    if (event.target.matches && event.target.matches("input[data-time24]")) timeHint(event.target, false);
  });
  // A tap on a button straight from the field (Start, Save) leaves the field as the finger goes
  // down: a hint inserted then moves the button from under the finger, and the tap is lost
  // (walk18). While a button is pressed the hint waits until the tap is done (its click, or the
  // press given up); the server answers a time it cannot read beside the field anyway. So for a
  // checkbox, a radio or a label (QA: the addendum's "It answers the coder's query" tick missed).
  var PRESSABLE = "button, input[type=submit], input[type=checkbox], input[type=radio], label";
  var pressed = null;
  document.addEventListener("pointerdown", function (event) {
    pressed = event.target.closest ? event.target.closest(PRESSABLE) : null;
  }, true);
  function afterPress(then) {
    var done = false;
    function run() {
      if (done) return;
      done = true;
      pressed = null;
      document.removeEventListener("click", run, true);
      document.removeEventListener("pointercancel", run, true);
      setTimeout(then, 0);
    }
    document.addEventListener("click", run, true);
    document.addEventListener("pointercancel", run, true);
    setTimeout(run, 1000);  // a press that never ends in a click
  }
  document.addEventListener("focusout", function (event) {
    var input = event.target;
    if (!(input.matches && input.matches("input[data-time24]"))) return;
    if (pressed) afterPress(function () { timeHint(input, true); });
    else timeHint(input, true);
  });
  // After a refusal comes back (a morph keeps the client's hint), the server's message stands alone.
  document.addEventListener("htmx:afterSettle", function () {
    document.querySelectorAll("input[data-time24]").forEach(function (input) { timeHint(input, false); });
  });

  var FIELDS = "input:not([type=hidden]):not([type=submit]):not([type=button]), select, textarea";

  function isCheck(el) { return el.type === "checkbox" || el.type === "radio"; }

  function selectedValues(el) {
    var values = [];
    for (var i = 0; i < el.options.length; i++) {
      if (el.options[i].selected) values.push(el.options[i].value);
    }
    return values;
  }

  // Changed: differs from what the server last rendered (its saved value).
  function changed(el) {
    if (isCheck(el)) return el.checked !== el.defaultChecked;
    if (el.tagName === "SELECT") {
      // A single select with no option marked selected shows (and posts) its first option:
      // that is its rendered value, not a change.
      var marked = Array.prototype.some.call(el.options, function (o) { return o.defaultSelected; });
      for (var i = 0; i < el.options.length; i++) {
        var rendered = el.options[i].defaultSelected || (!marked && !el.multiple && i === 0);
        if (el.options[i].selected !== rendered) return true;
      }
      return false;
    }
    return el.value !== el.defaultValue;
  }

  function liveValue(el) {
    return isCheck(el) ? el.checked : el.tagName === "SELECT" ? selectedValues(el) : el.value;
  }

  // ---- Keeping typed values across morphs ---------------------------------------------------
  // Every htmx answer on the chart is morphed in (idiomorph): the input she is typing in stays
  // the same element. A field she changed keeps her value unless it went, as it is, with the
  // request that answered (then the server's rendering, with its errors, is the truth).
  var answering = null;  // {form, sent} of the request whose answer is being swapped in

  document.addEventListener("htmx:beforeSwap", function (event) {
    var config = event.detail.requestConfig || {};
    var elt = config.elt;
    var form = elt && (elt.tagName === "FORM" ? elt : elt.closest && elt.closest("form"));
    answering = {
      form: form,
      action: form ? form.getAttribute("action") : null,
      sent: config.formData || null,
    };
  });

  // The form that sent the request, or the one that takes its place in the answer: a morph
  // may draw a card's form anew (an addendum that made a push an infusion unfolds its card)
  // and move her fields into it; the form's action names the same card's form.
  function sameForm(form, a) {
    return !!form && (form === a.form || (!!a.action && form.getAttribute("action") === a.action));
  }

  function sentAsIs(el) {
    var a = answering;
    if (!a || !a.form || !sameForm(el.form, a) || !a.sent || !el.name) return false;
    var values = a.sent.getAll(el.name).map(String);
    if (isCheck(el)) return values.indexOf(el.value) !== -1 === el.checked;
    if (el.tagName === "SELECT") return selectedValues(el).join("\n") === values.join("\n");
    return values.length === 1 && values[0] === el.value;
  }

  var keptValues = new WeakMap();

  // The folds (<details>) she opened herself (a tap on the summary, or Enter on it). A card's
  // autosave runs as she leaves a field, so a tap on "Rate change…" straight from the Bag id
  // opened the fold just before the saved card came back closed: the first tap seemed to do
  // nothing (QA, tablet). Such a fold stays open through the morph of an answer to another
  // form; an answer to a form inside it (the rate change saved, or refused) decides as drawn.
  var openedByHer = new WeakSet();
  var tapped = null;
  document.addEventListener("click", function (event) {
    var summary = event.target.closest && event.target.closest("summary");
    tapped = summary && summary.parentElement.tagName === "DETAILS" ? summary.parentElement : null;
  }, true);
  document.addEventListener("toggle", function (event) {
    var fold = event.target;
    if (fold.tagName !== "DETAILS") return;
    if (!fold.open) openedByHer.delete(fold);
    else if (fold === tapped) openedByHer.add(fold);
    if (fold === tapped) tapped = null;
  }, true);

  function keptOpen(fold) {
    // Tapped open, its toggle event (queued) not yet run: hers too.
    if (!openedByHer.has(fold) && !(fold === tapped && fold.open)) return false;
    var a = answering;
    return !(a && a.form && (fold.contains(a.form) || Array.prototype.some.call(
      fold.querySelectorAll("form"), function (form) { return sameForm(form, a); })));
  }

  function install() {
    if (!window.Idiomorph) return;
    var callbacks = window.Idiomorph.defaults.callbacks;
    callbacks.beforeNodeMorphed = function (oldNode) {
      if (oldNode.nodeType !== 1) return true;
      if (oldNode.hasAttribute("data-client")) return false;  // the page's own state
      // What she typed that cannot be read: a morph would set it to the saved value (its own
      // value reads ""), and what she typed would be lost.
      if (unreadable(oldNode)) return false;
      if (oldNode.matches(FIELDS) && !oldNode.disabled && changed(oldNode) && !sentAsIs(oldNode)) {
        var active = oldNode === document.activeElement;
        keptValues.set(oldNode, {
          value: liveValue(oldNode),
          caret: active && !isCheck(oldNode) && oldNode.tagName !== "SELECT"
            ? [oldNode.selectionStart, oldNode.selectionEnd] : null,
        });
      }
      return true;
    };
    callbacks.afterNodeMorphed = function (oldNode) {
      var kept = oldNode.nodeType === 1 && keptValues.get(oldNode);
      if (!kept) return;
      keptValues.delete(oldNode);
      if (isCheck(oldNode)) oldNode.checked = kept.value;
      else if (oldNode.tagName === "SELECT") {
        for (var i = 0; i < oldNode.options.length; i++) {
          oldNode.options[i].selected = kept.value.indexOf(oldNode.options[i].value) !== -1;
        }
      } else {
        oldNode.value = kept.value;
        if (kept.caret && kept.caret[0] !== null) {
          try { oldNode.setSelectionRange(kept.caret[0], kept.caret[1]); } catch (e) { /* none */ }
        }
      }
    };
    callbacks.beforeAttributeUpdated = function (name, el, how) {
      // A <details> holding what she typed and did not send stays open (the server folds it).
      // So does a fold she opened herself, when the answer is another form's (keptOpen).
      if (name === "open" && how === "remove" && el.tagName === "DETAILS") {
        if (keptOpen(el)) return false;
        return !Array.prototype.some.call(el.querySelectorAll(FIELDS), function (field) {
          return !field.disabled && changed(field) && !sentAsIs(field);
        });
      }
      return true;
    };
    callbacks.beforeNodeRemoved = function (node) {
      return !(node.nodeType === 1 && node.hasAttribute("data-client"));
    };
  }
  install();

  // ---- A card stopped since the page loaded is never dropped ----------------------------------
  // A card stopped from "Running now" stays there (its answer is the card alone) until the page
  // is drawn again. A start's answer that sends "Running now" whole (mar/_start_response.jinja)
  // holds only what runs: a card the page shows there and the answer does not hold moves, as it
  // is (what is typed in it too), to its place among the administrations, newest start first,
  // where a fresh load of the chart puts it.
  function startKey(card) {
    return [Number(card.getAttribute("data-start")), Number(card.id.replace("adm-", ""))];
  }

  function placeAmongAdministrations(list, card) {
    var key = startKey(card);
    var cards = list.querySelectorAll(":scope > [data-testid=adm-card]");
    for (var i = 0; i < cards.length; i++) {
      var other = startKey(cards[i]);
      if (other[0] < key[0] || (other[0] === key[0] && other[1] < key[1])) {
        list.insertBefore(card, cards[i]);
        return;
      }
    }
    list.appendChild(card);
  }

  document.addEventListener("htmx:oobBeforeSwap", function (event) {
    var target = event.detail.target;
    var list = document.getElementById("administrations-list");
    if (!target || target.id !== "running-slot" || !list) return;
    var incoming = event.detail.fragment;
    target.querySelectorAll("#running-list > [data-testid=adm-card]").forEach(function (card) {
      if (!incoming.querySelector("#" + CSS.escape(card.id))) placeAmongAdministrations(list, card);
    });
  });

  // ---- A part with nowhere to go redraws the chart ---------------------------------------------
  // An answer is built for the chart as the server has it: it can put a part where this page
  // shows nothing yet (another nurse charted meanwhile, e.g. the first infusion running or the
  // first order given). Rather than leave that part out, the chart is drawn again from the
  // server and morphed in (what is typed stays, as in every answer).
  var redrawing = false;
  function redrawChart() {
    if (redrawing || !document.getElementById("chart") || !window.htmx) return;
    redrawing = true;
    var done = function () { redrawing = false; };
    window.htmx.ajax("GET", window.location.pathname + window.location.search, {
      target: "#chart", select: "#chart", swap: "morph",
    }).then(done, done);
  }
  document.addEventListener("htmx:oobErrorNoTarget", redrawChart);
  // The checklist's poll saw the chart's orders stale (a pharmacist returned an order or
  // withdrew a return since it was drawn: HX-Trigger "mar:chart-stale"): drawn again the same
  // way, so a Start now is offered or not as the order stands, without a reload.
  document.addEventListener("mar:chart-stale", redrawChart);

  // ---- The cards' saves -----------------------------------------------------------------------
  // A card form (data-card-form) is saved by htmx on the custom event "mar:save", which only this
  // queue sends: one save in flight per card; a change made meanwhile is sent right after it
  // (never dropped); a failed save keeps what was typed, says why, and is tried again.
  //
  // Its state is the card's, kept by the form's action (the card's URL), not by the element: an
  // answer to another of the card's forms (a Pause tapped as the autosave left) may morph the
  // card's form in anew, her fields moved into it; the save that was on its way then ends on the
  // old form. Kept by the element, its failure was said nowhere and never tried again: the card
  // said "Unsaved change" and nothing more, and a reload lost the value (QA, SQLite "database is
  // locked"). A failed save (no connection, or the server's 5xx) says so and is tried again,
  // waiting longer each time (RETRY_S), on the form the page shows then.
  var CARD_FORMS = "form[data-card-form]";
  var queue = new Map();
  var RETRY_S = [3, 6, 12, 24, 30];
  var heard = new WeakSet();  // the card forms whose saves' ends are listened to (`saved`)

  function keyOf(form) { return form.getAttribute("action") || ""; }

  function stateOf(form) {
    var st = queue.get(keyOf(form));
    if (!st) {
      st = { busy: false, again: false, problem: "", retry: null, savedAt: "", signed: false, failures: 0,
             held: false };
      queue.set(keyOf(form), st);
    }
    return st;
  }

  // The card's form on the page now: `form`, or the one a morph drew in its place (none: gone).
  function onPage(form) {
    if (document.body.contains(form)) return form;
    var key = keyOf(form);
    return Array.prototype.find.call(document.querySelectorAll(CARD_FORMS), function (other) {
      return keyOf(other) === key;
    }) || null;
  }

  function card(form) { return form.closest("[data-testid=adm-card]"); }

  function refused(form) {
    var c = card(form);
    return !!(c && c.dataset.saved === "no");
  }

  function unsavedFields(form) {
    return Array.prototype.filter.call(form.querySelectorAll(FIELDS), function (el) {
      return !el.disabled && changed(el);
    });
  }

  // ---- A number she typed that cannot be read -----------------------------------------------
  // A number field holding what the browser cannot read ("1e", "4..5") reads "" (its value when
  // `validity.badInput`): sent so, the server took it as the field cleared, and the charted dose
  // was wiped without a word (QA). Such a field is not sent: its saved value goes in its place
  // (the server reads it as unchanged), "Enter a number" is said beside it as the server says
  // its own refusals, and what she typed stays in it (a morph leaves the field alone) until she
  // puts it right. A save with nothing else to send sends nothing (an addendum of nothing is
  // refused): the card says it is not saved.
  var NUMBER_WORDS = "Enter a number";
  function unreadable(el) {
    return el.tagName === "INPUT" && el.type === "number" && !el.disabled && !!el.validity &&
      el.validity.badInput;
  }
  function badNumbers(form) {
    return Array.prototype.filter.call(form.querySelectorAll("input[type=number]"), unreadable);
  }
  function numberHint(input, show) {
    var id = (input.id || input.name) + "-number";
    var hint = document.getElementById(id);
    if (!unreadable(input)) {
      if (hint) hint.remove();
      if (input.dataset.numberBad === "client") input.classList.remove("is-invalid");
      if (input.dataset.numberBad) {
        input.removeAttribute("aria-invalid");
        delete input.dataset.numberBad;
      }
      return;
    }
    if (!show && !hint) return;
    if (!hint) {
      // The server's refusal's markup (mar/templatetags/fields.py): shown under the field.
      hint = document.createElement("div");
      hint.className = "invalid-feedback number-hint";
      hint.id = id;
      hint.setAttribute("data-client", "");
      hint.setAttribute("role", "alert");
      hint.setAttribute("data-testid", "number-hint");
      var words = document.createElement("strong");
      words.textContent = NUMBER_WORDS;
      var line = document.createElement("p");
      line.appendChild(words);
      hint.appendChild(line);
      input.insertAdjacentElement("afterend", hint);
      var described = (input.getAttribute("aria-describedby") || "").split(/\s+/).filter(Boolean);
      if (described.indexOf(id) < 0) described.push(id);
      input.setAttribute("aria-describedby", described.join(" "));
    }
    if (!input.dataset.numberBad) {
      input.dataset.numberBad = input.classList.contains("is-invalid") ? "server" : "client";
    }
    input.classList.add("is-invalid");
    input.setAttribute("aria-invalid", "true");
  }
  document.addEventListener("input", function (event) {
    var el = event.target;
    if (el.matches && el.matches("input[type=number]")) numberHint(el, false);
  });
  document.addEventListener("focusout", function (event) {
    var el = event.target;
    if (!(el.matches && el.matches("input[type=number]") && el.form && el.form.matches(CARD_FORMS))) return;
    if (pressed) afterPress(function () { numberHint(el, true); });
    else numberHint(el, true);
  });
  // Sent in its place: the value the card was drawn with (the saved one).
  document.addEventListener("htmx:configRequest", function (event) {
    var form = event.detail.elt;
    if (!form || !form.matches || !form.matches(CARD_FORMS)) return;
    badNumbers(form).forEach(function (el) {
      if (event.detail.formData) event.detail.formData.set(el.name, el.defaultValue);
      else event.detail.parameters[el.name] = el.defaultValue;
    });
  });

  // The chart's other forms (Stop now's "mL infused", a rate change, volumes, a flush's mL):
  // one holding a number that cannot be read is not sent at all (sent, it read as left empty:
  // a stop charted with no volume, a rate refused as missing), "Enter a number" beside it.
  // Caught before htmx's own listener on the form (capture, at the document).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form || !form.matches || form.matches(CARD_FORMS)) return;
    var bad = badNumbers(form);
    if (!bad.length) return;
    event.preventDefault();
    event.stopPropagation();
    bad.forEach(function (el) { numberHint(el, true); });
    bad[0].focus();
  }, true);

  // What a save would send that she changed, but the fields that cannot be read (not sent).
  function unsentFields(form) {
    var bad = badNumbers(form);
    return unsavedFields(form).filter(function (el) { return bad.indexOf(el) === -1; });
  }

  // What the form sends, as a text (two the same: nothing changed between them).
  function sending(form) {
    return new URLSearchParams(new FormData(form)).toString();
  }

  function save(form) {
    var st = stateOf(form);
    if (st.busy) { st.again = true; show(form); return; }
    if (st.retry) { clearTimeout(st.retry); st.retry = null; }
    var bad = badNumbers(form);
    bad.forEach(function (el) { numberHint(el, true); });
    if (bad.length && !unsentFields(form).some(function (el) {
      return !/-addendum_why$/.test(el.name);
    })) {
      show(form);  // nothing else to send: "Not saved: enter a number …"
      return;
    }
    st.busy = true;
    st.again = false;
    st.sent = sending(form);
    show(form);
    if (!heard.has(form)) {
      heard.add(form);
      form.addEventListener("htmx:afterRequest", saved);
    }
    window.htmx.trigger(form, "mar:save");
  }

  // Tried again after 3, 6, 12, 24, then every 30 seconds; returns the wait.
  function retryLater(form) {
    var st = stateOf(form);
    var seconds = RETRY_S[Math.min(st.failures, RETRY_S.length - 1)];
    st.failures += 1;
    if (st.retry) clearTimeout(st.retry);
    st.retry = setTimeout(function () {
      st.retry = null;
      var now = onPage(form);
      if (now) save(now);
    }, seconds * 1000);
    return seconds;
  }

  // A card's start and stop are one edit: a pause must lie within both (DOC-3), so one is
  // right or wrong only with the other. Leaving the start for the stop (or the stop for the
  // start) sends nothing yet; leaving the two, or Save, sends them together, and the server
  // saves both or neither. Sent apart, the start was saved alone and the stop then refused:
  // the record read 03:45-05:26, an infusion nobody meant (QA). Elsewhere on the card each
  // field is still saved as she leaves it.
  var CARD_TIMES = /-(start|stop)$/;
  function cardTime(el, form) {
    return !!el && !!form && el.form === form && form.matches(CARD_FORMS) && !!el.name &&
      CARD_TIMES.test(el.name);
  }
  function releaseTimes(form) {
    var now = onPage(form);
    var st = stateOf(form);
    if (!st.held || !now) return;
    if (cardTime(document.activeElement, now)) return;  // still in the pair: wait
    st.held = false;
    save(now);
  }
  document.addEventListener("change", function (event) {
    var form = event.target.form;
    if (!form || !form.matches(CARD_FORMS) || !form.hasAttribute("data-autosave")) return;
    if (event.target.name && /-addendum_why$/.test(event.target.name)) return;
    if (cardTime(event.target, form)) {
      // Where the focus goes is known once the change's blur has run.
      stateOf(form).held = true;
      show(form);
      setTimeout(function () { releaseTimes(form); }, 0);
      return;
    }
    save(form);
  });
  document.addEventListener("focusout", function (event) {
    var form = event.target.form;
    if (!cardTime(event.target, form) || !stateOf(form).held) return;
    setTimeout(function () { releaseTimes(form); }, 0);
  });

  document.addEventListener("input", function (event) {
    var form = event.target.form;
    if (form && form.matches(CARD_FORMS)) show(form);
    counter();
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches(CARD_FORMS) || !window.htmx) return;
    event.preventDefault();
    var st = stateOf(form);
    // One tap, one save (QA: a double tap on "Save as addendum" sent it twice; the second,
    // refused, drew the card red, its Why emptied, over the addendum just saved): a tap while
    // the save is on its way, nothing changed since it was sent, sends nothing more.
    if (st.busy && st.sent === sending(form)) return;
    st.held = false;  // Save sends the times with the rest
    save(form);
  });

  // Each save's end, heard on the form it was sent from: when another answer has morphed that
  // form away meanwhile, htmx says it there alone (detached, it reaches no listener on the
  // document).
  function saved(event) {
    var sent = event.detail.elt;
    if (sent !== event.currentTarget) return;
    var st = stateOf(sent);
    var form = onPage(sent) || sent;
    var xhr = event.detail.xhr;
    var status = xhr ? xhr.status : 0;
    st.busy = false;
    if (status >= 200 && status < 300) {
      st.problem = "";
      st.signed = false;
      st.failures = 0;
      if (!refused(form)) st.savedAt = clockNow();
    } else if (signedSince(xhr)) {
      // Signed since this page was drawn: nothing more is sent (it would be refused again);
      // what she typed stays in the fields. The answer's message takes the save line's place
      // (below), said once: the save line says nothing more.
      st.problem = "";
    } else if ((status === 401 || status === 403) && window.marSession &&
               window.marSession.sentBeforeSignIn(xhr)) {
      // Sent before she signed in again, refused after (a slow save): the old session's
      // answer. Sent again now, under the new one, once: the sign-in's resend found this
      // save on its way and asked for the same (`again`), not for a second one.
      st.problem = "";
      st.again = true;
    } else if (status === 401 || status === 403) {
      st.problem = "Not saved: you were signed out. Sign in again in the box over the page and it is sent.";
    } else if (status === 0) {
      st.problem = "Not saved: no connection. Trying again in " + retryLater(form) + " s…";
    } else {
      // The server failed (a 5xx: SQLite's "database is locked" under two writes): what she
      // typed stays in the card (nothing is swapped in) and is sent again.
      st.problem = "Not saved: the server could not save it (error " + status + "). Trying again in " +
        retryLater(form) + " s…";
    }
    // A time held for its pair (the focus moved from start to stop meanwhile) waits for it.
    var again = !st.held && (st.again || (status >= 200 && status < 300 && unsentFields(form).length > 0));
    show(form);
    // After this request has ended (its swap is done): the next save carries the new version.
    if (again) setTimeout(function () { var now = onPage(form); if (now) save(now); }, 0);
  }

  // ---- A record signed since this page was drawn ------------------------------------------------
  // A change sent from a page drawn before the signature (a second tab) is refused, 409 +
  // X-MAR-Signed, with a message saying who signed and when, what she typed, and a link to the
  // addendum form prefilled with it (mar/views.py _signed_since). Nothing is swapped: what she
  // typed stays in the form; the message goes at its top (a card's: where its save line is,
  // which then says nothing, so it is said once), the page's own (data-client: morphs leave
  // it), replaced by the next such answer; the form counts as not saved, unless the answer says
  // nothing she typed differs from what the page showed (data-typed="no").
  function signedSince(xhr) {
    return !!xhr && xhr.status === 409 && !!xhr.getResponseHeader("X-MAR-Signed");
  }
  document.addEventListener("htmx:afterRequest", function (event) {
    var xhr = event.detail.xhr;
    if (!signedSince(xhr)) return;
    var elt = event.detail.elt;
    var form = elt && (elt.tagName === "FORM" ? elt : elt.closest && elt.closest("form"));
    if (!form) return;
    var note = document.createElement("div");
    note.setAttribute("data-client", "");
    note.setAttribute("data-signed-since", "");
    note.innerHTML = xhr.responseText;
    var typed = !note.querySelector("[data-typed=no]");
    if (!typed) note.setAttribute("data-nothing-typed", "");
    var old = form.querySelector("[data-signed-since]");
    var line = form.querySelector("[data-testid=save-state]");
    if (old) old.replaceWith(note);
    else if (line) line.parentNode.insertBefore(note, line);
    else form.insertBefore(note, form.firstChild);
    if (form.matches(CARD_FORMS)) {
      stateOf(form).signed = typed;
      show(form);
    } else note.scrollIntoView({ block: "nearest" });
    counter();
  });

  // htmx sends no request when the form is invalid to the browser: say so, never stay silent.
  document.addEventListener("htmx:validation:halted", function (event) {
    var form = event.detail.elt;
    if (form && form.matches && form.matches(CARD_FORMS)) {
      var st = stateOf(form);
      st.busy = false;
      st.problem = "Not saved: a field is missing or wrong.";
      show(form);
    }
  });

  // Signed in again (static/js/session.js), or the connection is back: send what is unsaved.
  function resendAll() {
    document.querySelectorAll(CARD_FORMS + "[data-autosave]").forEach(function (form) {
      var st = stateOf(form);
      if (st.problem || unsentFields(form).length) save(form);
    });
  }
  document.addEventListener("mar:signedin", resendAll);
  window.addEventListener("online", resendAll);

  // What a card says about its saving, in its save line (data-client: morphs leave it alone).
  function show(form) {
    var c = card(form);
    if (!c) { counter(); return; }
    var st = stateOf(form);
    var line = c.querySelector("[data-testid=save-state]");
    var fields = unsavedFields(form);
    var text = "", kind = "";
    if (st.busy) { text = st.again ? "Saving… (then your latest change)" : "Saving…"; kind = "saving"; }
    else if (st.problem) { text = st.problem; kind = "failed"; }
    else if (badNumbers(form).length) {
      text = "Not saved: enter a number in the field marked in red.";
      kind = "failed";
    }
    else if (st.signed) { text = ""; kind = "failed"; }  // said once, by the message above it
    else if (refused(form) && c.querySelector("[data-testid=conflict]")) {
      text = "Not saved: someone else saved this meanwhile (above). Save again to keep yours.";
      kind = "failed";
    }
    else if (refused(form)) {
      // What was not saved, and the time saved before it (the server's words: data-refused),
      // never "Not saved" of a value an earlier save stored; else beside a field, or (nothing
      // marked) said in the card above its fields.
      text = form.dataset.refused ? form.dataset.refused
        : form.querySelector(".is-invalid") ? "Not saved: see the field marked in red."
        : "Not saved: see why in the card.";
      kind = "failed";
    }
    else if (st.held && fields.length) {
      text = "Not saved yet: the start and stop are saved together as you leave them.";
      kind = "unsaved";
    }
    else if (fields.length) { text = "Unsaved change"; kind = "unsaved"; }
    else if (st.savedAt) { text = "Saved " + st.savedAt; kind = "saved"; }
    c.classList.toggle("adm-unsaved", kind === "unsaved" || kind === "failed" || kind === "saving");
    form.querySelectorAll(FIELDS).forEach(function (el) {
      el.classList.toggle("field-unsaved", fields.indexOf(el) !== -1);
    });
    if (line) {
      line.textContent = text;
      line.className = "save-state save-" + (kind || "none");
    }
    counter();
  }

  function pendingForms() {
    var chart = document.getElementById("chart");
    if (!chart) return [];
    return Array.prototype.filter.call(chart.querySelectorAll("form"), function (form) {
      if (form.querySelector("[data-signed-since]:not([data-nothing-typed])")) return true;  // refused: signed since
      if (form.matches(CARD_FORMS)) {
        var st = stateOf(form);
        return st.busy || !!st.problem || refused(form) || unsavedFields(form).length > 0 ||
          badNumbers(form).length > 0;
      }
      return unsavedFields(form).length > 0;
    });
  }

  // The top bar counts the forms with something not saved.
  function counter() {
    var badge = document.getElementById("unsaved-count");
    if (!badge) return;
    var n = pendingForms().length;
    badge.hidden = n === 0;
    badge.textContent = n === 1 ? "1 unsaved change" : n + " unsaved changes";
  }

  document.addEventListener("htmx:afterSettle", function () {
    document.querySelectorAll(CARD_FORMS).forEach(show);
    counter();
  });
  document.addEventListener("DOMContentLoaded", counter);

  // Leaving the page with something unsaved asks first (not when the app reloads it: signed).
  var reloading = false;
  document.addEventListener("htmx:beforeOnLoad", function (event) {
    var xhr = event.detail.xhr;
    if (xhr && xhr.getResponseHeader("HX-Refresh") === "true") reloading = true;
  });
  window.addEventListener("beforeunload", function (event) {
    if (reloading || pendingForms().length === 0) return;
    event.preventDefault();
    event.returnValue = "";
  });

  // One tap, one action (walk20): a double tap on Pause sent the pause twice, and the card came
  // back with "… is already paused." in red under the pause she had just made. While an
  // action's request is on its way its buttons wait, as Flush now's do (hx-disabled-elt); the
  // cards' saves keep their own queue and are left alone.
  var ACTION_BUTTONS = "button[type=submit], button:not([type]), input[type=submit]";
  function actionButtons(elt) {
    // A card saved as she types keeps its queue; a signed record's card (Save as addendum,
    // no autosave) waits like any action (its queue also ignores a second tap: `sending`).
    if (!elt || !elt.matches || elt.matches(CARD_FORMS + "[data-autosave]")) return [];
    if (elt.tagName === "FORM") return Array.prototype.slice.call(elt.querySelectorAll(ACTION_BUTTONS));
    return elt.matches(ACTION_BUTTONS) ? [elt] : [];
  }
  document.addEventListener("htmx:beforeRequest", function (event) {
    actionButtons(event.detail.elt).forEach(function (button) {
      if (button.disabled) return;
      button.disabled = true;
      button.dataset.waiting = "";
    });
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    actionButtons(event.detail.elt).forEach(function (button) {
      if (!("waiting" in button.dataset)) return;
      button.disabled = false;
      delete button.dataset.waiting;
    });
  });
})();
