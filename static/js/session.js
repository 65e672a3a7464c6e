// A session that ended (idle sign-off, expiry) while a page is open: the server answers htmx
// requests with 401 + X-Session-Expired (config/session.py). A sign-in dialog covers the page;
// after signing in again the page gets the new CSRF token and sends what was not saved
// (static/js/chart.js listens for "mar:signedin"). A stale token alone (403 + X-CSRF-Refresh)
// is refreshed without asking when the same nurse signed in again (another tab); when someone
// else did, the dialog asks her to sign in, so nothing she typed is saved under their name.
// Nothing typed on the page is touched. An answer to a request sent before the latest sign-in
// (`generation`, below) never opens the dialog again.
(function () {
  "use strict";

  var RESUME = "/accounts/resume/";
  var dialog = null;
  var notDone = [];  // {name, form, at}: actions (not auto-saved) refused: she does them again
  // Each sign-in again (the dialog's, or a token refreshed for her from another tab) starts a
  // new generation; every request carries the one it was sent in (htmx's on its XHR, the fetch
  // callers in their closures). A request sent before the latest sign-in may be answered after
  // it (a slow save on hospital Wi-Fi): its 401 says the old session ended, which she knows
  // already, not that the new one did. The dialog is not opened again for it (it reopened over
  // the chart she had just signed in to); what it carried is not lost: a card's save is sent
  // again under the new session (static/js/chart.js), once; a button's form is named as not
  // done, beside it, at once; a live check is asked again.
  var generation = 0;
  var said = [];  // what was named as not done since the latest sign-in (a late one is added)
  // When each action's button was pressed (QA walkthrough: a Pause refused while signed out,
  // done again after signing in, recorded the later time): after signing in, the action's time
  // field (late entry) holds that moment, so doing it again records it; she can change it.
  var pressedAt = new WeakMap();
  // What signing in again does, as it does it: a card's fields are saved then (they save
  // themselves); a button pressed meanwhile (Stop now, Pause, a rate change) is not done later
  // behind her, at another time than she meant: it is named, to press again (QA walkthrough: the
  // button said "Sign in and save" over an action it then did not save).
  var WHY = "The session ended (idle too long, or signed out elsewhere). What you typed is kept " +
    "on this page. Sign in again: changes typed in the cards are saved then; a button pressed " +
    "meanwhile is named for you to press again.";

  function setToken(token) {
    var body = document.body;
    var headers = {};
    try { headers = JSON.parse(body.getAttribute("hx-headers") || "{}"); } catch (e) { headers = {}; }
    headers["X-CSRFToken"] = token;
    body.setAttribute("hx-headers", JSON.stringify(headers));
    document.querySelectorAll("input[name=csrfmiddlewaretoken]").forEach(function (input) {
      input.value = token;
    });
  }

  function resumed(token) {
    generation += 1;  // before anything is sent again: what is sent now carries the new one
    setToken(token);
    if (dialog && dialog.open) dialog.close();
    said = [];
    if (notDone.length) {
      sayNotDone(notDone);
      notDone = [];
    }
    document.dispatchEvent(new CustomEvent("mar:signedin"));
  }

  // The actions refused while signed out, named at the top of the page (with those named since
  // the sign-in) and beside each form, the first brought into view (QA: the page's top message
  // was out of sight, nothing beside the form she had pressed).
  function sayNotDone(list) {
    said = said.concat(list);
    var box = document.getElementById("messages");
    if (box) {
      var alert = document.createElement("div");
      alert.className = "alert alert-warning";
      alert.setAttribute("role", "alert");
      alert.dataset.testid = "not-done-message";
      alert.textContent = "Signed in again. Not done while you were signed out: " +
        said.map(function (n) { return n.name; }).join(", ") + ". Do it again.";
      box.replaceChildren(alert);
    }
    var first = null;
    list.forEach(function (n) {
      if (!document.body.contains(n.form)) return;
      noteBeside(n.form, "Not done while you were signed out: press it again.");
      if (n.at) keepPressTime(n.form, n.at);
      first = first || n.form;
    });
    if (first) first.scrollIntoView({ block: "center" });
  }

  // Sent before the latest sign-in again (htmx's XHR, stamped as it was sent).
  function sentBeforeSignIn(xhr) {
    return !!xhr && typeof xhr.marSignIn === "number" && xhr.marSignIn < generation;
  }
  window.marSession = { sentBeforeSignIn: sentBeforeSignIn };

  function freshToken() {
    return fetch(RESUME, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.json(); });
  }

  function build() {
    var username = document.body.dataset.username || "";
    dialog = document.createElement("dialog");
    dialog.className = "session-dialog";
    dialog.setAttribute("aria-labelledby", "session-dialog-title");
    dialog.dataset.testid = "session-dialog";
    dialog.innerHTML =
      '<form method="dialog" class="p-1">' +
      '<h2 class="h4" id="session-dialog-title">You were signed out</h2>' +
      '<p data-testid="session-why"></p>' +
      '<div class="mb-2"><label class="form-label" for="session-username">Username</label>' +
      '<input class="form-control" id="session-username" name="username" autocomplete="username"></div>' +
      '<div class="mb-2"><label class="form-label" for="session-password">Password</label>' +
      '<input class="form-control" id="session-password" name="password" type="password" autocomplete="current-password"></div>' +
      '<div class="text-danger mb-2" role="alert" data-testid="session-error"></div>' +
      '<div class="d-flex flex-wrap gap-2 align-items-center">' +
      '<button class="btn btn-primary" type="submit" data-testid="session-sign-in">Sign in again</button>' +
      '<a class="btn btn-link" href="/accounts/login/" data-testid="session-other">Someone else: sign in from the start</a>' +
      "</div></form>";
    document.body.appendChild(dialog);
    var user = dialog.querySelector("#session-username");
    user.value = username;
    if (username) user.readOnly = true;  // the changes on this page are this nurse's
    dialog.addEventListener("cancel", function (event) { event.preventDefault(); });
    dialog.querySelector("form").addEventListener("submit", function (event) {
      event.preventDefault();
      signIn();
    });
  }

  function signIn() {
    var error = dialog.querySelector("[data-testid=session-error]");
    var button = dialog.querySelector("[data-testid=session-sign-in]");
    error.textContent = "";
    button.disabled = true;
    var data = new FormData();
    data.append("username", dialog.querySelector("#session-username").value);
    data.append("password", dialog.querySelector("#session-password").value);
    freshToken()
      .then(function (first) {
        return fetch(RESUME, {
          method: "POST", body: data, credentials: "same-origin",
          headers: { "X-CSRFToken": first.csrf_token, Accept: "application/json" },
        });
      })
      .then(function (r) { return r.json(); })
      .then(function (answer) {
        button.disabled = false;
        if (!answer.ok) {
          error.textContent = (answer.errors || ["Could not sign in."]).join(" ");
          return;
        }
        dialog.querySelector("#session-password").value = "";
        resumed(answer.csrf_token);
      })
      .catch(function () {
        button.disabled = false;
        error.textContent = "No connection: try again in a moment.";
      });
  }

  function isPageUser(username) {
    var mine = document.body.dataset.username || "";
    return !mine || username === mine;
  }

  // What signing in again does on this page, in its own words (QA: the coder read the nurse's
  // "changes typed in the cards"). A plain form pressed while signed out (it waits, and goes
  // once signed in): the form's data-session-why, else the page's (the body's, from the
  // template's `session_why` block: the order entry, the pharmacist's and the coder's pages),
  // else its button named. Nothing waiting (an htmx request refused: a field's check, a
  // button): the chart's WHY where there are cards, else nothing is sent but what she presses.
  var PLAIN = "The session ended (idle too long, or signed out elsewhere). What you typed is " +
    "kept on this page. Sign in again: ";
  var NOTHING_WAITS = PLAIN + "nothing is sent until you press a button; one pressed meanwhile " +
    "was not done, and is named for you to press again.";

  function whyFor(form) {
    if (!form) return document.querySelector("form[data-card-form]") ? WHY : NOTHING_WAITS;
    var text = form.getAttribute("data-session-why") || document.body.getAttribute("data-session-why");
    if (!text) {
      var button = form.querySelector("button[type=submit], button:not([type]), input[type=submit]");
      var word = tidy(button ? button.textContent || button.value : "");
      text = PLAIN + (word ? "\u201c" + word + "\u201d is" : "it is") + " sent then, once.";
    }
    var file = form && Array.prototype.some.call(form.querySelectorAll("input[type=file]"), function (f) {
      return f.files && f.files.length;
    });
    if (file) {
      text += " The file you chose stays chosen and goes with it, as long as this page stays " +
        "open: reloading or leaving it would drop the file (a browser cannot keep it).";
    }
    return text;
  }

  // other: who is signed in on this browser now, when it is not this page's nurse.
  // form: the plain form pressed while signed out, sent once she has signed in again.
  function ask(other, form) {
    if (!dialog) build();
    var why = dialog.querySelector("[data-testid=session-why]");
    why.textContent = other
      ? other + " signed in on this device meanwhile. What you typed is kept on this page; " +
        "sign in again to save it as yours."
      : whyFor(form || (waitingForm && waitingForm.form) || null);
    if (!dialog.open) {
      dialog.showModal();
      dialog.querySelector("#session-password").focus();
    }
  }

  // What was not done, and on what: "Pause (carboplatin A9)", "Chart (Height, weight,
  // creatinine)", where the button's word alone ("Chart", "Stop now") left her to guess which
  // (walk20).
  function tidy(text) {
    return (text || "").replace(/\s+/g, " ").replace(/^[+\s]+|[…\s]+$/g, "").trim();
  }

  function actionOn(elt) {
    if (!elt || !elt.closest) return "";
    var card = elt.closest("article[data-administration]");
    var head = card && card.querySelector("h3");
    if (head) return tidy(head.textContent);
    var chip = elt.closest(".site-chip");
    head = chip && chip.querySelector(".fw-semibold");
    if (head) return tidy(head.textContent);
    var fold = elt.closest("details");
    var summary = fold && fold.querySelector("summary");
    return summary ? tidy(summary.textContent) : "";
  }

  // A note at the top of a form refused while signed out; it goes when the form is sent again
  // (the page's own, data-client: an answer drawing the card anew leaves it, and the time in it).
  function noteBeside(form, text) {
    var note = form.querySelector("[data-not-done]");
    if (!note) {
      note = document.createElement("div");
      note.className = "alert alert-warning py-1 px-2 small mb-2";
      note.setAttribute("role", "status");
      note.setAttribute("data-not-done", "");
      note.setAttribute("data-client", "");
      note.dataset.testid = "not-done";
      form.insertBefore(note, form.firstChild);
    }
    note.textContent = text;
  }
  document.addEventListener("htmx:beforeRequest", function (event) {
    if (event.detail.xhr) event.detail.xhr.marSignIn = generation;
    var elt = event.detail.elt;
    // Its values are taken already: the note (and a time kept in it) goes as the form is sent.
    var note = elt && elt.querySelector && elt.querySelector("[data-not-done]");
    if (note) note.remove();
    if (elt && elt.tagName === "FORM" && !elt.matches("form[data-card-form]")) pressedAt.set(elt, new Date());
  });

  // "2026-12-07 14:05" on the chart's clock (the encounter's zone), as the time fields take it.
  function wallClock(moment) {
    var clock = document.querySelector(".chart-clock-time[data-zone]");
    var parts = {};
    try {
      new Intl.DateTimeFormat("en-GB", {
        timeZone: clock ? clock.dataset.zone : undefined, hourCycle: "h23",
        year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
      }).formatToParts(moment).forEach(function (p) { parts[p.type] = p.value; });
    } catch (e) {
      return "";
    }
    return parts.year + "-" + parts.month + "-" + parts.day + " " + parts.hour + ":" + parts.minute;
  }

  // The action's time field takes the moment it was pressed, when she left it empty ("now"):
  // Pause, Resume, a start, "Flush earlier". An action without one (Stop now, Flush now) has
  // one put in its note, its name the form's own ("at12-at": the late entry its view reads).
  function keepPressTime(form, at) {
    var text = wallClock(at);
    if (!text) return;
    var field = form.querySelector("input[data-time24][name$='-at']");
    var note = form.querySelector("[data-not-done]");
    if (field) {
      if (field.value.trim()) return;  // she typed a time: hers
      field.value = text;
      field.dispatchEvent(new Event("input", { bubbles: true }));  // "Pause at 14:05"
      if (note) note.textContent += " It keeps the time you pressed it (" + text.slice(11) + "): change it if needed.";
      return;
    }
    var named = form.querySelector("input[name$='-version'], input[name$='-solution'], input[name$='-volume_ml']");
    var prefix = named && /^(.+)-[a-z_]+$/.exec(named.name);
    if (!prefix || !note) return;
    var label = document.createElement("label");
    label.className = "d-flex gap-1 align-items-center mt-1";
    label.textContent = "Pressed at ";
    var input = document.createElement("input");
    input.name = prefix[1] + "-at";
    input.value = text;
    input.className = "form-control form-control-sm w-auto";
    input.setAttribute("data-testid", "pressed-at");
    input.setAttribute("data-time24", "");  // read as the time fields are (static/js/chart.js)
    input.setAttribute("inputmode", "numeric");
    label.appendChild(input);
    note.appendChild(document.createTextNode(" Pressed again, it is charted at the time you pressed it; change it if needed."));
    note.appendChild(label);
  }

  function actionName(elt) {
    var button = elt && elt.querySelector && elt.querySelector("button[type=submit], button");
    var what = tidy(button ? button.textContent : elt && elt.textContent).slice(0, 60);
    var on = actionOn(elt).slice(0, 60);
    return on && on !== what ? what + " (" + on + ")" : what;
  }

  // A plain form (no htmx) marked data-session-check (every plain form that posts but the
  // sign-in and sign-out: the order entry, registration, the pharmacist's and the coder's forms)
  // asks first whether the session still holds. If it ended, the sign-in dialog opens over the
  // page, what was typed stays (a file chosen too: the page is not left), and once signed in
  // again the form goes with the new token; posted without a session it would be lost on the
  // sign-in page. A form is sent once: a second press while it goes (or while the dialog waits)
  // is not a second post (the order entry also refuses a second post of one form: its key).
  var waitingForm = null;
  var sending = new WeakSet();

  function send(form, submitter) {
    // form.submit() leaves out the button pressed: a named one goes as a hidden field.
    if (submitter && submitter.name && !form.querySelector("input[data-submitter]")) {
      var pressed = document.createElement("input");
      pressed.type = "hidden";
      pressed.name = submitter.name;
      pressed.value = submitter.value;
      pressed.setAttribute("data-submitter", "");
      form.appendChild(pressed);
    }
    HTMLFormElement.prototype.submit.call(form);  // no submit event: not checked twice
    // A page still here long after (an answer that is a download, a post that hung): the form
    // can be pressed again.
    setTimeout(function () { sending.delete(form); }, 20000);
  }

  // Back to this page from the history (bfcache): its forms may be sent again, by a press.
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) sending = new WeakSet();
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form || !form.matches || !form.matches("form[data-session-check]")) return;
    if (event.defaultPrevented) return;
    event.preventDefault();
    if (sending.has(form)) return;  // pressed again while it goes: one post
    sending.add(form);
    checkThenSend(form, event.submitter || null);
  });

  function checkThenSend(form, submitter) {
    var sentIn = generation;
    freshToken().then(function (answer) {
      // Asked before the latest sign-in again, answered after it: its answer (signed out, or
      // the token before the sign-in) is the old session's. Asked again, in the new one.
      if (sentIn !== generation) return checkThenSend(form, submitter);
      if (answer.ok) {
        setToken(answer.csrf_token);
        send(form, submitter);
      } else {
        waitingForm = { form: form, submitter: submitter };
        ask("", form);
      }
    }, function () { send(form, submitter); });  // no answer: post as before, the server says why
  }

  document.addEventListener("mar:signedin", function () {
    var waiting = waitingForm;
    waitingForm = null;
    if (waiting) send(waiting.form, waiting.submitter);
  });

  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    var elt = event.detail.elt;
    if (!xhr) return;
    var isCard = elt && elt.matches && elt.matches("form[data-card-form]");
    var isPoll = xhr.status === 401 && elt && elt.hasAttribute && elt.hasAttribute("hx-trigger") &&
      /every|load/.test(elt.getAttribute("hx-trigger"));
    var expired = xhr.status === 401 && xhr.getResponseHeader("X-Session-Expired");
    var stale = xhr.status === 403 && xhr.getResponseHeader("X-CSRF-Refresh");
    if ((expired || stale) && sentBeforeSignIn(xhr)) {
      // Sent before she signed in again, refused after: the dialog stays shut, the token is
      // hers already. A card's save is sent again by the card (chart.js); a button's form
      // was not done: named now, as those refused before the sign-in were; a live check is
      // asked again; a poll asks again by itself.
      if (!isCard && !isPoll && elt && elt.tagName === "FORM") {
        sayNotDone([{ name: actionName(elt), form: elt, at: pressedAt.get(elt) }]);
      } else if (!isCard && !isPoll) {
        askAgain(event.detail);
      }
      return;
    }
    if (expired) {
      if (!isCard && !isPoll && elt && elt.tagName === "FORM") {
        notDone.push({ name: actionName(elt), form: elt, at: pressedAt.get(elt) });
      }
      ask("");
    } else if (stale) {
      if (!isCard && elt && elt.tagName === "FORM") {
        notDone.push({ name: actionName(elt), form: elt, at: pressedAt.get(elt) });
      }
      var sentIn = generation;
      freshToken().then(function (answer) {
        if (sentIn !== generation) return;  // signed in again meanwhile: what it did stands
        // A fresh token only for this page's nurse: someone else signed in on this browser
        // meanwhile (another tab) must not have her changes sent under their name.
        if (answer.ok && isPageUser(answer.username)) resumed(answer.csrf_token);
        else ask(answer.ok ? answer.username : "");
      }, function () { ask(""); });
    }
  });

  // A live check (a field's, the same-order check, a drug's suggestions: read-only, their
  // answers drawn beside the field) refused for a session that has ended since: asked again,
  // so what is said beside the field is about what it holds now.
  var CHECKS = "[data-field-check], #duplicate-check, datalist";
  function askAgain(detail) {
    var elt = detail.elt;
    var target = detail.target;
    var config = detail.requestConfig;
    if (!window.htmx || !config || !elt || !target || !target.matches || !target.matches(CHECKS)) return;
    if (!document.body.contains(elt) || !document.body.contains(target)) return;
    window.htmx.ajax(config.verb.toUpperCase(), config.path, { source: elt, target: target });
  }
})();
