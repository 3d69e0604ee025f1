// sendout dashboard: small enhancements over pages that work without script.
// - the project picker opens the chosen project as soon as it changes;
// - the event picker: "Send me all events" greys out the groups, and each group's box
//   ticks or clears the whole group (and shows when part of it is ticked);
// - custom headers: add and remove rows;
// - the distribution form: actions and conditions follow the trigger, and the payload
//   designer's Show output panel follows the form as it changes.
// Plain script, no dependencies, no build step; loaded with `defer`.
"use strict";

document.documentElement.classList.add("js");

function onReady(fn) {
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", fn);
  } else {
    fn();
  }
}

function setUpProjectPicker() {
  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () {
      if (select.form) select.form.submit();
    });
  });
}

function setUpEventPicker() {
  var all = document.querySelector("[data-all-events]");
  var groups = document.querySelector("[data-event-groups]");
  if (!groups) return;

  function refreshGroup(group) {
    var toggle = group.querySelector("[data-group-toggle]");
    var boxes = group.querySelectorAll("input[name='events']");
    var ticked = 0;
    boxes.forEach(function (b) { if (b.checked) ticked += 1; });
    toggle.checked = ticked === boxes.length && boxes.length > 0;
    toggle.indeterminate = ticked > 0 && ticked < boxes.length;
  }

  groups.querySelectorAll("[data-group]").forEach(function (group) {
    var toggle = group.querySelector("[data-group-toggle]");
    toggle.addEventListener("change", function () {
      group.querySelectorAll("input[name='events']").forEach(function (b) {
        b.checked = toggle.checked;
      });
      refreshGroup(group);
    });
    group.querySelectorAll("input[name='events']").forEach(function (b) {
      b.addEventListener("change", function () { refreshGroup(group); });
    });
    refreshGroup(group);
  });

  function refreshAll() {
    if (!all) return;
    groups.classList.toggle("all-chosen", all.checked);
    groups.querySelectorAll("input").forEach(function (input) {
      input.disabled = all.checked;
    });
  }
  if (all) all.addEventListener("change", refreshAll);
  refreshAll();
}

function setUpHeaderRows() {
  var counter = 0;
  document.querySelectorAll("[data-header-rows]").forEach(function (rows) {
    var box = rows.closest("[data-headers]") || rows.parentElement;
    var template = box.querySelector("[data-header-template]");
    var add = box.querySelector("[data-add-header]");
    if (!template || !add) return;

    rows.addEventListener("click", function (event) {
      var button = event.target.closest("[data-remove-header]");
      if (!button) return;
      var row = button.closest("[data-header-row]");
      var next = row.nextElementSibling || row.previousElementSibling;
      row.remove();
      (next ? next.querySelector("input") : add).focus();
      rows.dispatchEvent(new Event("input", { bubbles: true }));
    });

    add.addEventListener("click", function () {
      var row = template.content.firstElementChild.cloneNode(true);
      counter += 1;
      var labels = row.querySelectorAll("label");
      row.querySelectorAll("input").forEach(function (input, i) {
        input.id = "header-added-" + counter + "-" + i;
        if (labels[i]) labels[i].htmlFor = input.id;
      });
      rows.appendChild(row);
      row.querySelector("input").focus();
    });
  });
}

function focusOutcome() {
  var outcome = document.getElementById("test-outcome");
  if (outcome) outcome.focus();
}

// The distribution form: actions and conditions follow the trigger, the payload sections
// follow the mode, and Show output follows every edit. Each answer is applied only if no
// newer request was sent since; the page then fires `sendout:preview` (tests wait on it)
// with `edits`, the number of edits the answer includes.
function setUpDesigner() {
  var form = document.querySelector("form[data-designer]");
  if (!form) return;
  var trigger = form.querySelector("[data-trigger]");
  var editsField = form.querySelector("[data-edits]");
  var edits = 0;
  var sent = 0;
  var timer = null;
  window.sendoutDesignerEdits = 0;

  function followTrigger() {
    var option = trigger.options[trigger.selectedIndex];
    var purposes = (option.getAttribute("data-purposes") || "").split(" ");
    var conditions = (option.getAttribute("data-conditions") || "").split(" ");
    form.querySelectorAll("[data-action]").forEach(function (box) {
      var input = box.querySelector("input");
      var allowed = purposes.indexOf(box.getAttribute("data-action")) >= 0;
      input.disabled = !allowed;
      if (!allowed && input.checked) input.checked = false;
      box.classList.toggle("unavailable", !allowed);
    });
    if (!form.querySelector("[data-action] input:checked")) {
      var first = form.querySelector("[data-action] input:not([disabled])");
      if (first) first.checked = true;
    }
    form.querySelectorAll("[data-condition]").forEach(function (field) {
      var shown = conditions.indexOf(field.getAttribute("data-condition")) >= 0;
      field.hidden = !shown;
      if (!shown) field.querySelector("input").value = "";
    });
  }

  function followModes() {
    form.querySelectorAll("[data-payload]").forEach(function (payload) {
      var checked = payload.querySelector("[data-mode]:checked");
      var mode = checked ? checked.value : "full";
      payload.querySelectorAll("[data-when-mode]").forEach(function (section) {
        section.hidden = section.getAttribute("data-when-mode") !== mode;
      });
    });
  }

  function show(result) {
    form.querySelectorAll("[data-error-for]").forEach(function (p) { p.textContent = ""; });
    form.querySelectorAll("[aria-invalid]").forEach(function (f) { f.removeAttribute("aria-invalid"); });
    form.querySelectorAll("[data-output]").forEach(function (pre) { pre.textContent = ""; });
    form.querySelectorAll("[data-output-error]").forEach(function (p) { p.textContent = ""; });
    function place(slot, message, fallback) {
      var target = form.querySelector('[data-error-for="' + slot + '"]') || fallback;
      if (target) target.textContent = message;
      var field = target && target.parentElement.querySelector("input, textarea, select");
      if (field) field.setAttribute("aria-invalid", "true");
    }
    if (result.trigger_error) {
      place(result.trigger_error.place, result.trigger_error.message, null);
    }
    (result.channels || []).forEach(function (c) {
      var pre = form.querySelector('[data-output="' + c.index + '"]');
      var note = form.querySelector('[data-output-error="' + c.index + '"]');
      if (c.body !== null && c.body !== undefined) {
        pre.textContent = c.body;
      } else if (c.error) {
        note.textContent = c.error.message;
        place("ch" + c.index + "." + c.error.place, c.error.message, note);
      }
    });
  }

  function refresh() {
    timer = null;
    sent += 1;
    var mine = sent;
    editsField.value = String(edits);
    var body = new URLSearchParams(new FormData(form));
    fetch(form.getAttribute("data-preview"), {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        "x-csrf-token": form.querySelector("[name='csrf']").value
      },
      body: body
    }).then(function (response) {
      if (response.status === 401) throw new Error("you have been signed out");
      if (!response.ok) throw new Error("the preview answered " + response.status);
      return response.json();
    }).then(function (result) {
      if (mine !== sent) return;
      show(result);
      window.sendoutLastPreview = result;
      document.dispatchEvent(new CustomEvent("sendout:preview", { detail: result }));
    }).catch(function (error) {
      if (mine !== sent) return;
      form.querySelectorAll("[data-output-error]").forEach(function (p) {
        p.textContent = "Show output is unavailable (" + error.message + "); reload the page.";
      });
    });
  }

  function edited() {
    edits += 1;
    window.sendoutDesignerEdits = edits;
    if (timer) clearTimeout(timer);
    timer = setTimeout(refresh, 200);
  }

  trigger.addEventListener("change", followTrigger);
  form.addEventListener("change", followModes);
  form.addEventListener("input", edited);
  form.addEventListener("change", edited);
  followTrigger();
  followModes();
  refresh();
}

onReady(function () {
  setUpProjectPicker();
  setUpEventPicker();
  setUpHeaderRows();
  setUpDesigner();
  focusOutcome();
  // Says the page's script has run (browser tests wait for it before using the page).
  document.documentElement.setAttribute("data-ready", "");
});
