// The morph swap (idiomorph) for htmx, registered again over the one vendored with idiomorph
// 0.8.0 (static/vendor/idiomorph-0.8.0/idiomorph-ext.min.js). That one answers "inline" for every
// swap style, its own or not (idiomorph issue #148, fixed upstream by moving the extension to
// htmx-extensions): with hx-ext="morph" on the body, an out-of-band insertion such as
// hx-swap-oob="afterbegin:#running-list" then puts its wrapper on the page instead of what it
// wraps, the wrapper's id is on the page twice, and the next insertion goes into both. Here only
// the morph styles are the extension's; every other style is htmx's own.
(function () {
  "use strict";
  if (!window.htmx || !window.Idiomorph) return;

  function morphConfig(style) {
    if (style === "morph" || style === "morph:outerHTML") return { morphStyle: "outerHTML" };
    if (style === "morph:innerHTML") return { morphStyle: "innerHTML" };
    return null;  // not a morph (the vendored one also evaluated "morph:{...}": CSP forbids it)
  }

  window.htmx.defineExtension("morph", {
    isInlineSwap: function (style) {
      var config = morphConfig(style);
      return config !== null && config.morphStyle === "outerHTML";
    },
    handleSwap: function (style, target, fragment) {
      var config = morphConfig(style);
      if (config) return window.Idiomorph.morph(target, fragment.children, config);
    },
  });
})();
