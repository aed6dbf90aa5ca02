// calcdx differential form: the form <-> case-format JSON, live differential updates.
// No libraries, no network beyond this server. Control names are case-format paths
// (see calcdx/web/forms.py).
(function () {
  "use strict";
  var FORMAT = "calcdx-case/1";
  var form = document.getElementById("case-form");
  var panel = document.getElementById("differential");
  var status = document.getElementById("form-status");
  if (!form || !panel) { return; }

  function setPath(obj, path, value) {
    var parts = path.split(".");
    var here = obj;
    for (var i = 0; i < parts.length - 1; i++) {
      if (!(parts[i] in here)) { here[parts[i]] = {}; }
      here = here[parts[i]];
    }
    here[parts[parts.length - 1]] = value;
  }

  function pushPath(obj, path, value) {
    var parts = path.split(".");
    var last = parts.pop();
    var here = obj;
    parts.forEach(function (p) { if (!(p in here)) { here[p] = {}; } here = here[p]; });
    if (!(last in here)) { here[last] = []; }
    here[last].push(value);
  }

  // Read the form into a case-format object (unknown fields are left out).
  function formToCase() {
    var c = { format: FORMAT };
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.disabled) { return; }
      var name = el.name;
      if (el.type === "radio") {
        if (!el.checked || el.value === "") { return; }
        var colon = name.indexOf(":");
        if (colon >= 0) {  // presence: clinical:x or imaging.associated:x
          var field = name.slice(0, colon);
          pushPath(c, el.value === "absent" ? field + "_absent" : field, name.slice(colon + 1));
        } else {
          setPath(c, name, el.value);  // labs.calcium = low|normal|high
        }
      } else if (el.type === "checkbox") {
        if (el.checked) { pushPath(c, name, el.value); }
      } else if (el.type === "number") {
        if (el.value !== "" && !isNaN(Number(el.value))) { setPath(c, name, Number(el.value)); }
      } else if (el.tagName === "SELECT" || el.type === "text") {
        if (el.value.trim() !== "") { setPath(c, name, el.value.trim()); }
      }
    });
    return c;
  }

  // Flatten a case into (control name, control value) pairs.
  function casePairs(c) {
    var pairs = [];
    function each(list, fn) { if (Array.isArray(list)) { list.forEach(fn); } }
    if (c.id != null) { pairs.push(["id", String(c.id)]); }
    var p = c.patient || {};
    if (p.age_years != null) { pairs.push(["patient.age_years", String(p.age_years)]); }
    if (p.sex != null) { pairs.push(["patient.sex", p.sex]); }
    each(c.clinical, function (v) { pairs.push(["clinical:" + v, "present"]); });
    each(c.clinical_absent, function (v) { pairs.push(["clinical:" + v, "absent"]); });
    Object.keys(c.labs || {}).forEach(function (k) { pairs.push(["labs." + k, c.labs[k]]); });
    var im = c.imaging || {};
    Object.keys(im).forEach(function (k) {
      var v = im[k];
      if (v == null) { return; }
      if (k === "associated") { each(v, function (x) { pairs.push(["imaging.associated:" + x, "present"]); }); }
      else if (k === "associated_absent") { each(v, function (x) { pairs.push(["imaging.associated:" + x, "absent"]); }); }
      else if (Array.isArray(v)) { v.forEach(function (x) { pairs.push(["imaging." + k, x]); }); }
      else { pairs.push(["imaging." + k, String(v)]); }
    });
    return pairs;
  }

  // Set one control; return the element set, or null when the form has no such control.
  function applyPair(name, value) {
    var els = form.querySelectorAll("[name=\"" + CSS.escape(name) + "\"]");
    for (var i = 0; i < els.length; i++) {
      var el = els[i];
      if (el.type === "radio" || el.type === "checkbox") {
        if (el.value === value) { el.checked = true; return el; }
      } else if (el.tagName === "SELECT") {
        for (var j = 0; j < el.options.length; j++) {
          if (el.options[j].value === value) { el.value = value; return el; }
        }
      } else { el.value = value; return el; }
    }
    return null;
  }

  function fillForm(c) {
    form.reset();
    var missed = [];
    casePairs(c).forEach(function (pair) {
      if (!applyPair(pair[0], pair[1])) { missed.push(pair[0] + "=" + pair[1]); }
    });
    return missed;
  }

  function updateCounts() {
    form.querySelectorAll("details.section").forEach(function (section) {
      var n = 0;
      section.querySelectorAll("input, select").forEach(function (el) {
        if ((el.type === "radio" || el.type === "checkbox") ? (el.checked && el.value !== "") : el.value !== "") { n++; }
      });
      var badge = section.querySelector(".count");
      if (badge) { badge.textContent = n ? n + " set" : ""; }
    });
  }

  var sequence = 0;
  var renders = 0;
  var timer = null;
  function refresh() {
    var mine = ++sequence;
    panel.setAttribute("aria-busy", "true");
    updateCounts();
    fetch("/ui/differential", {
      method: "POST",
      headers: { "Content-Type": "application/json", "Accept": "text/html" },
      credentials: "same-origin",
      body: JSON.stringify(formToCase())
    }).then(function (response) {
      return response.text().then(function (html) { return { ok: response.ok, status: response.status, html: html }; });
    }).then(function (answer) {
      if (mine !== sequence) { return; }  // a newer request is on its way
      if (answer.status === 401) { status.textContent = "Not authorised: open the page with ?token=..."; return; }
      panel.innerHTML = answer.html;
      panel.setAttribute("aria-busy", "false");
      panel.dataset.renders = String(++renders);  // lets tests wait for an update
    }).catch(function (err) {
      if (mine === sequence) { status.textContent = "Could not update the differential: " + err; }
    });
  }
  function schedule() { clearTimeout(timer); timer = setTimeout(refresh, 80); }

  form.addEventListener("change", schedule);
  form.addEventListener("input", function (event) {
    if (event.target.type === "number" || event.target.type === "text") { schedule(); }
  });
  form.addEventListener("reset", function () { status.textContent = ""; setTimeout(refresh, 0); });
  form.addEventListener("submit", function (event) { event.preventDefault(); refresh(); });

  // One-click next findings: set the control, open its section, update.
  panel.addEventListener("click", function (event) {
    var button = event.target.closest("button.add-finding");
    if (!button) { return; }
    var el = applyPair(button.dataset.name, button.dataset.value);
    if (!el) { status.textContent = "The form has no control for " + button.dataset.name; return; }
    var section = el.closest("details");
    if (section) { section.open = true; }
    status.textContent = "Added " + button.textContent.replace(/^Add: /, "") + ".";
    refresh();
  });

  document.getElementById("download-case").addEventListener("click", function () {
    var c = formToCase();
    var blob = new Blob([JSON.stringify(c, null, 2) + "\n"], { type: "application/json" });
    var link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = (c.id ? String(c.id).replace(/[^A-Za-z0-9_.-]+/g, "_") : "case") + ".json";
    document.body.appendChild(link);
    link.click();
    setTimeout(function () { URL.revokeObjectURL(link.href); link.remove(); }, 0);
  });

  document.getElementById("upload-case").addEventListener("change", function (event) {
    var file = event.target.files && event.target.files[0];
    if (!file) { return; }
    file.text().then(function (text) {
      var c;
      try { c = JSON.parse(text); } catch (err) { status.textContent = "Not valid JSON: " + err.message; return; }
      // let the server validate it first: the same one-line message as the CLI
      return fetch("/api/ddx", {
        method: "POST", headers: { "Content-Type": "application/json" },
        credentials: "same-origin", body: JSON.stringify(c)
      }).then(function (response) {
        if (!response.ok) {
          return response.json().then(function (body) { status.textContent = "Case not loaded: " + body.detail; });
        }
        var missed = fillForm(c);
        status.textContent = "Loaded " + file.name + (missed.length ? "; not placed: " + missed.join(", ") : ".");
        refresh();
      });
    }).finally(function () { event.target.value = ""; });
  });

  // The free-text reader: POST /api/parse, fill the form, mark every control it set
  // with the words it came from (still editable: a change clears the mark).
  function clearTextMarks() {
    form.querySelectorAll(".from-text").forEach(function (el) {
      el.classList.remove("from-text");
      el.removeAttribute("data-from-text");
      el.removeAttribute("title");
    });
    form.querySelectorAll(".from-text-words").forEach(function (el) { el.remove(); });
  }

  function controlFor(item) {
    var f = item.field, v = String(item.value);
    if (f === "clinical" || f === "clinical_absent") {
      return ["clinical:" + v, f === "clinical" ? "present" : "absent"];
    }
    if (f === "imaging.associated" || f === "imaging.associated_absent") {
      return ["imaging.associated:" + v, f === "imaging.associated" ? "present" : "absent"];
    }
    return [f, v];
  }

  function markControl(el, words) {
    var holder = el.closest(".chip, .pill, .field, fieldset") || el;
    if (el.type === "radio") { holder = el.closest("fieldset") || holder; }
    holder.classList.add("from-text");
    holder.setAttribute("data-from-text", words);
    holder.setAttribute("title", "read from the text: \u201c" + words + "\u201d");
    if (!holder.querySelector(".from-text-words")) {
      var note = document.createElement("span");
      note.className = "from-text-words";
      note.textContent = "\u201c" + words + "\u201d";
      (holder.querySelector("legend, label") || holder).appendChild(note);
    }
    var section = holder.closest("details");
    if (section) { section.open = true; }
  }

  var textBox = document.getElementById("case-text");
  var textStatus = document.getElementById("text-status");
  var readButton = document.getElementById("read-text");
  function readText() {
    var text = textBox.value;
    textStatus.textContent = "Reading ...";
    fetch("/api/parse", {
      method: "POST", headers: { "Content-Type": "application/json" },
      credentials: "same-origin", body: JSON.stringify({ text: text })
    }).then(function (response) {
      return response.json().then(function (body) { return { ok: response.ok, body: body }; });
    }).then(function (answer) {
      if (!answer.ok) { textStatus.textContent = "Not read: " + answer.body.detail; return; }
      var reading = answer.body;
      clearTextMarks();
      fillForm(reading.case);  // resets the form, the text box included
      textBox.value = text;
      var placed = 0;
      reading.fields.forEach(function (item) {
        var pair = controlFor(item);
        var el = applyPair(pair[0], pair[1]);
        if (el) { markControl(el, item.words); placed++; }
      });
      var parts = ["Read " + placed + " value(s) from the text (marked; edit any of them)."];
      if (reading.not_understood.length) {
        parts.push("Not understood: " + reading.not_understood.map(function (p) { return p.words; }).join(", ") + ".");
      }
      if (reading.set_aside.length) {
        parts.push("Set aside: " + reading.set_aside.map(function (s) { return s.words + " (" + s.reason + ")"; }).join("; ") + ".");
      }
      textStatus.textContent = parts.join(" ");
      refresh();
    }).catch(function (err) { textStatus.textContent = "Could not read the text: " + err; });
  }
  if (readButton && textBox) {
    readButton.addEventListener("click", readText);
    textBox.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); readText(); }
    });
  }
  form.addEventListener("change", function (event) {
    var holder = event.target.closest && event.target.closest(".from-text");
    if (holder) {
      holder.classList.remove("from-text");
      holder.removeAttribute("title");
      var note = holder.querySelector(".from-text-words");
      if (note) { note.remove(); }
    }
  });
  form.addEventListener("reset", clearTextMarks);

  updateCounts();
  window.calcdx = { formToCase: formToCase, fillForm: fillForm, refresh: refresh, readText: readText };
})();
