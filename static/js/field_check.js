// Order entry's fields checked as they are typed (registration/forms.py `_checked`): when a
// field's check is answered beside it, what the last submission said of that field (crispy's
// red message under it, about what was typed then) goes, and the field is marked invalid only
// when the check refuses what it holds now.
(function () {
  "use strict";
  // The same order open on the visit, said under the drug as it is typed (registration/forms.py
  // `_duplicate_slot`): what the last submission said of it beside the drug goes (said again
  // here while it holds; no longer true once the dose or route changed).
  document.addEventListener("htmx:afterSwap", function (event) {
    var slot = event.detail.target;
    if (!slot || slot.id !== "duplicate-check") return;
    var wrapper = document.getElementById("div_id_drug");
    if (!wrapper) return;
    wrapper.querySelectorAll(".invalid-feedback").forEach(function (said) {
      if (said.textContent.indexOf("The same order was entered at ") >= 0) said.remove();
    });
  });
  // The dose/unit warnings, said beside the dose, its unit and the rate's unit by the same
  // answer (registration/forms.py `_dose_slot`): what the last submission warned there goes
  // (said again beside the field while it holds); a refusal of the field stays. The words are
  // mar/services/dose_check.py's (DOSE-UNIT, DOSE-RATE, DOSE-MAX).
  var DOSE_WORDS = [
    "Check the unit.",
    "Check the rate's unit.",
    "without its concentration",
    "maximum single dose",
  ];
  document.addEventListener("htmx:afterSwap", function (event) {
    var slot = event.detail.target;
    if (!slot || slot.id !== "duplicate-check") return;
    ["dose_value", "dose_unit", "rate_unit"].forEach(function (name) {
      var wrapper = document.getElementById("div_id_" + name);
      if (!wrapper) return;
      var before = wrapper.querySelectorAll(".invalid-feedback").length;
      wrapper.querySelectorAll(".invalid-feedback").forEach(function (said) {
        var text = said.textContent;
        var dose = DOSE_WORDS.some(function (words) {
          return text.indexOf(words) >= 0;
        });
        if (dose) said.remove();
      });
      var left = wrapper.querySelectorAll(".invalid-feedback").length;
      var input = document.getElementById("id_" + name);
      if (input && left === 0 && before > 0) input.classList.remove("is-invalid");
    });
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    var slot = event.detail.target;
    if (!slot || !slot.matches || !slot.matches("[data-field-check]")) return;
    var input = document.getElementById(slot.getAttribute("data-field-check"));
    if (!input) return;
    var wrapper = document.getElementById("div_" + input.id);
    if (wrapper) {
      wrapper.querySelectorAll(".invalid-feedback").forEach(function (said) {
        said.remove();
      });
    }
    var refused = slot.querySelector("[data-refused]") !== null;
    input.classList.toggle("is-invalid", refused);
    var described = (input.getAttribute("aria-describedby") || "").split(/\s+/).filter(Boolean);
    if (described.indexOf(slot.id) < 0) described.push(slot.id);
    input.setAttribute("aria-describedby", described.join(" "));
  });
})();
