/* Barcode scanning (issue 17). A hand scanner is a keyboard: it types the barcode and Enter,
   which submits the scan form (with htmx, the chart comes back). The scan field keeps the focus
   when nothing else has it, so the next scan lands there; never a popup.
   GS1 DataMatrix: the group separator (ASCII 29) has no key; scanners send it as Ctrl+], which
   is put into the field as the character itself.
   Camera: BarcodeDetector where the browser has it, else the vendored ZXing decoder
   (static/vendor/zxing-library-0.23.0, loaded on first use). */
(function () {
  "use strict";
  var GS = String.fromCharCode(29);

  function scanField() { return document.querySelector("[data-scan-field]"); }

  function focusScan(force) {
    var field = scanField();
    if (!field) { return; }
    var active = document.activeElement;
    var busy = active && active !== document.body && active !== field &&
      /^(INPUT|SELECT|TEXTAREA|BUTTON)$/.test(active.tagName) && !active.closest("[data-scan-form]");
    // Only after a scan is the page moved to the field: otherwise the chart stays where it is,
    // the running infusions at its top (under this field) within reach (issue 15, item 11); a scanner types into a
    // focused field wherever it is.
    if (force) { field.focus(); } else if (!busy) { field.focus({ preventScroll: true }); }
  }

  document.addEventListener("keydown", function (event) {
    var field = event.target;
    if (!field || !field.matches || !field.matches("[data-scan-field]")) { return; }
    if (event.ctrlKey && (event.key === "]" || event.code === "BracketRight")) {
      event.preventDefault();
      var at = field.selectionStart || field.value.length;
      field.value = field.value.slice(0, at) + GS + field.value.slice(field.selectionEnd || at);
      field.setSelectionRange(at + 1, at + 1);
    }
  });

  document.addEventListener("DOMContentLoaded", function () { focusScan(false); });
  document.body && document.body.addEventListener("htmx:afterSettle", function (event) {
    // After a scan's answer the field is new: the next scan goes there too.
    var source = event.detail && event.detail.requestConfig && event.detail.requestConfig.elt;
    focusScan(Boolean(source && source.closest && source.closest("[data-scan-form]")));
  });

  // --- the camera --------------------------------------------------------------------------
  var stream = null;
  var stopLoop = null;

  function panel() { return document.querySelector("[data-scan-camera-panel]"); }
  function status(text) {
    var el = document.querySelector("[data-scan-camera-status]");
    if (el) { el.textContent = text; }
  }

  function closeCamera() {
    if (stopLoop) { stopLoop(); stopLoop = null; }
    if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); stream = null; }
    var p = panel();
    if (p) { p.hidden = true; }
  }

  function submitCode(text) {
    var field = scanField();
    closeCamera();
    if (!field) { return; }
    field.value = text;
    var form = field.form;
    if (form.requestSubmit) { form.requestSubmit(); } else { form.submit(); }
  }

  function loadScript(src) {
    return new Promise(function (resolve, reject) {
      if (window.ZXing) { resolve(); return; }
      var s = document.createElement("script");
      s.src = src;
      s.onload = function () { resolve(); };
      s.onerror = function () { reject(new Error("decoder not loaded")); };
      document.head.appendChild(s);
    });
  }

  function withDetector(video) {
    var formats = ["data_matrix", "upc_a", "ean_13", "code_128", "qr_code"];
    var detector = new window.BarcodeDetector({ formats: formats });
    var running = true;
    stopLoop = function () { running = false; };
    (function tick() {
      if (!running) { return; }
      detector.detect(video).then(function (codes) {
        if (codes.length && running) { submitCode(codes[0].rawValue); } else { setTimeout(tick, 200); }
      }).catch(function () { setTimeout(tick, 400); });
    })();
  }

  function withZxing(video, src) {
    status("Loading the decoder…");
    loadScript(src).then(function () {
      var reader = new window.ZXing.BrowserMultiFormatReader();
      stopLoop = function () { reader.reset(); };
      status("Point the camera at the barcode.");
      reader.decodeFromStream(stream, video, function (result) {
        if (result) { submitCode(result.getText()); }
      });
    }).catch(function (err) { status("The camera decoder is unavailable: " + err.message); });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-scan-camera]");
    if (button) {
      var p = panel();
      var video = document.querySelector("[data-scan-video]");
      if (!p || !video) { return; }
      if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
        p.hidden = false;
        status("No camera here: use the scanner or type the code.");
        return;
      }
      p.hidden = false;
      status("Starting the camera…");
      navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } }).then(function (s) {
        stream = s;
        video.srcObject = s;
        return video.play();
      }).then(function () {
        if ("BarcodeDetector" in window) { status("Point the camera at the barcode."); withDetector(video); }
        else { withZxing(video, button.getAttribute("data-decoder")); }
      }).catch(function (err) { status("The camera could not start: " + err.message); });
      return;
    }
    if (event.target.closest && event.target.closest("[data-scan-camera-close]")) { closeCamera(); }
  });
})();
