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
