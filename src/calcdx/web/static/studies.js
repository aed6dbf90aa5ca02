// calcdx studies: upload with fetch, then follow the job's progress.
(function () {
  "use strict";
  var form = document.getElementById("study-form");
  if (form) {
    var status = document.getElementById("study-status");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      status.textContent = "Uploading ...";
      fetch("/api/studies", { method: "POST", body: new FormData(form), credentials: "same-origin" })
        .then(function (response) {
          return response.json().then(function (body) {
            if (!response.ok) { status.textContent = "Not accepted: " + body.detail; return; }
            window.location.assign("/studies/" + encodeURIComponent(body.id));
          });
        })
        .catch(function (err) { status.textContent = "Upload failed: " + err; });
    });
  }
  var study = document.getElementById("study");
  if (study && (study.dataset.status === "queued" || study.dataset.status === "running")) {
    var poll = function () {
      fetch("/api/jobs/" + encodeURIComponent(study.dataset.job), { credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (job) {
          document.getElementById("job-status").textContent = job.status;
          document.getElementById("job-step").textContent = job.step || "";
          document.getElementById("job-progress").value = job.progress;
          if (job.status === "done" || job.status === "failed") { window.location.reload(); }
          else { setTimeout(poll, 1000); }
        })
        .catch(function () { setTimeout(poll, 3000); });
    };
    setTimeout(poll, 500);
  }
})();
// calcdx slice viewer: a slider, arrow / page keys and window buttons over server-rendered PNGs.
(function () {
  "use strict";
  var viewer = document.getElementById("slice-viewer");
  if (!viewer) { return; }
  var range = document.getElementById("slice-range");
  var label = document.getElementById("slice-label");
  var image = document.getElementById("slice-image");
  var buttons = viewer.querySelectorAll("button.window");
  var count = Number(viewer.dataset.count);
  var base = "/api/studies/" + encodeURIComponent(viewer.dataset.job) + "/slices/";
  var state = { k: Number(range.value), window: "soft" };
  var show = function () {
    image.src = base + state.k + ".png?window=" + state.window;
    label.textContent = (state.k + 1) + " / " + count;
    viewer.dataset.slice = String(state.k);
    viewer.dataset.window = state.window;
  };
  var go = function (k) {
    k = Math.max(0, Math.min(count - 1, k));
    if (k === state.k) { return; }
    state.k = k;
    range.value = String(k);
    show();
  };
  range.addEventListener("input", function () { go(Number(range.value)); });
  buttons.forEach(function (button) {
    button.addEventListener("click", function () {
      state.window = button.dataset.window;
      buttons.forEach(function (b) {
        var on = b === button;
        b.classList.toggle("active", on);
        b.setAttribute("aria-pressed", on ? "true" : "false");
      });
      show();
    });
  });
  var steps = { ArrowUp: 1, ArrowDown: -1, PageUp: 10, PageDown: -10 };
  viewer.addEventListener("keydown", function (event) {
    var step = steps[event.key];
    if (step === undefined || event.altKey || event.ctrlKey || event.metaKey) { return; }
    event.preventDefault();
    go(state.k + step);
  });
  viewer.dataset.slice = String(state.k);
  viewer.dataset.window = state.window;
})();
