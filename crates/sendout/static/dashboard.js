// sendout dashboard: small enhancements over pages that work without script.
// - the project picker opens the chosen project as soon as it changes;
// - the event picker: "Send me all events" greys out the groups, and each group's box
//   ticks or clears the whole group (and shows when part of it is ticked);
// - custom headers: add and remove rows;
// - the distribution form: actions and conditions follow the trigger, and the payload
//   designer's Show output panel follows the form as it changes;
// - the designer's key search (`{{` in a template or an attribute path lists the trigger's
//   keys) and attribute picker (a tree of those keys to tick), both over the keys the chosen
//   action gets.
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

// Fetches JSON for a designer panel. The answer is used only while it answers the latest
// request (`isLatest`), then announced as `event` with the answer (tests wait on it); a
// failure is shown by `failed`.
function fetchLatest(url, init, what, on) {
  fetch(url, init).then(function (response) {
    if (response.status === 401) throw new Error("you have been signed out");
    if (!response.ok) throw new Error(what + " answered " + response.status);
    return response.json();
  }).then(function (answer) {
    if (!on.isLatest()) return;
    on.use(answer);
    document.dispatchEvent(new CustomEvent(on.event, { detail: answer }));
  }).catch(function (error) {
    if (on.isLatest()) on.failed(error.message);
  });
}

// The trigger's keys, as the chosen action gets them, for the key search and the attribute
// picker; fetched again whenever the trigger or the action changes. Each answer is used only
// if no newer request was sent since; the page then fires `sendout:keys` (tests wait on it).
var MAX_SHOWN_KEYS = 50;

function setUpKeyTools(form) {
  var url = form.getAttribute("data-keys");
  var keys = [];
  var roots = [];
  var kids = [];
  var loaded = false;
  var asked = 0;
  var added = 0;

  var listbox = document.createElement("ul");
  listbox.id = "key-search-list";
  listbox.className = "key-search-list";
  listbox.setAttribute("role", "listbox");
  listbox.setAttribute("aria-label", "The trigger's keys");
  listbox.hidden = true;
  var field = null;
  var start = -1;
  var active = -1;
  var shown = [];

  // A path box is a combobox; a template stays a multi-line text box that owns the list.
  function prepare(f) {
    if (f.hasAttribute("aria-controls")) return;
    f.setAttribute("aria-autocomplete", "list");
    f.setAttribute("aria-controls", listbox.id);
    if (f.getAttribute("data-key-search") === "path") {
      f.setAttribute("role", "combobox");
      f.setAttribute("aria-expanded", "false");
    }
  }
  form.querySelectorAll("[data-key-search]").forEach(prepare);

  // The search being typed at the caret: after the last `{{` not yet closed.
  function searchAt(f) {
    var caret = f.selectionStart;
    if (caret === null || caret !== f.selectionEnd) return null;
    var before = f.value.slice(0, caret);
    var open = before.lastIndexOf("{{");
    if (open < 0) return null;
    var query = before.slice(open + 2);
    if (!/^\s*[^\s{}"]*$/.test(query)) return null;
    return { start: open, query: query.trim().toLowerCase() };
  }

  // Keys whose path starts with the query first (shallowest first), then those containing it.
  function matching(query) {
    var first = [];
    var rest = [];
    keys.forEach(function (k, i) {
      var at = k.path.toLowerCase().indexOf(query);
      if (at === 0) first.push(i);
      else if (at > 0) rest.push(i);
    });
    first.sort(function (a, b) { return keys[a].depth - keys[b].depth || a - b; });
    return first.concat(rest).slice(0, MAX_SHOWN_KEYS);
  }

  function render(query) {
    listbox.textContent = "";
    if (!shown.length) {
      var none = document.createElement("li");
      none.className = "empty";
      none.setAttribute("role", "option");
      none.setAttribute("aria-disabled", "true");
      none.setAttribute("aria-selected", "false");
      none.textContent = loaded
        ? "No key of this trigger contains \u201c" + query + "\u201d."
        : "Loading the trigger's keys\u2026";
      listbox.appendChild(none);
    }
    shown.forEach(function (i, n) {
      var k = keys[i];
      var li = document.createElement("li");
      li.id = "key-option-" + n;
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", n === active ? "true" : "false");
      var path = document.createElement("span");
      path.textContent = k.path;
      var kind = document.createElement("span");
      kind.className = "kind";
      kind.textContent = k.kind || "";
      li.appendChild(path);
      li.appendChild(kind);
      li.addEventListener("mousedown", function (event) {
        event.preventDefault();
        choose(n);
      });
      listbox.appendChild(li);
    });
    if (active >= 0) {
      field.setAttribute("aria-activedescendant", "key-option-" + active);
      listbox.children[active].scrollIntoView({ block: "nearest" });
    } else {
      field.removeAttribute("aria-activedescendant");
    }
  }

  function openAt(f, search) {
    if (field && field !== f) close();
    field = f;
    start = search.start;
    shown = matching(search.query);
    active = -1;
    var host = f.parentElement;
    host.classList.add("key-search-host");
    if (listbox.parentElement !== host || listbox.previousElementSibling !== f) {
      host.insertBefore(listbox, f.nextSibling);
    }
    render(search.query);
    listbox.hidden = false;
    // Right below the field (the host is its positioned box).
    listbox.style.top = (f.offsetTop + f.offsetHeight) + "px";
    if (f.getAttribute("role") === "combobox") f.setAttribute("aria-expanded", "true");
  }

  function close() {
    if (!field) return;
    listbox.hidden = true;
    field.removeAttribute("aria-activedescendant");
    if (field.getAttribute("role") === "combobox") field.setAttribute("aria-expanded", "false");
    field = null;
    active = -1;
  }

  // Inserts the chosen key's full path: `{{path}}` in a template, the bare path in a path box.
  function choose(n) {
    var f = field;
    var path = keys[shown[n]].path;
    var caret = f.selectionStart;
    var text = f.value;
    var after = text.slice(caret);
    var inserted;
    var at;
    if (f.getAttribute("data-key-search") === "template") {
      var closing = after.match(/^\s*\}\}/);
      inserted = "{{" + path + (closing ? "" : "}}");
      at = start + inserted.length + (closing ? closing[0].length : 0);
    } else {
      inserted = path;
      at = start + inserted.length;
    }
    f.value = text.slice(0, start) + inserted + after;
    close();
    f.focus();
    f.setSelectionRange(at, at);
    f.dispatchEvent(new Event("input", { bubbles: true }));
  }

  form.addEventListener("input", function (event) {
    var f = event.target;
    if (!f.hasAttribute || !f.hasAttribute("data-key-search")) return;
    var search = searchAt(f);
    if (search) openAt(f, search);
    else if (field === f) close();
    if (f.getAttribute("data-key-search") === "path") pathEdited(f);
  });

  form.addEventListener("keydown", function (event) {
    if (!field || event.target !== field) return;
    var last = shown.length - 1;
    if (event.key === "ArrowDown" && last >= 0) {
      active = active < last ? active + 1 : last;
    } else if (event.key === "ArrowUp" && last >= 0) {
      active = active > 0 ? active - 1 : 0;
    } else if (event.key === "Enter" && active >= 0) {
      event.preventDefault();
      choose(active);
      return;
    } else if (event.key === "Escape") {
      event.preventDefault();
      close();
      return;
    } else {
      if (event.key === "Tab") close();
      return;
    }
    event.preventDefault();
    render("");
  });

  form.addEventListener("focusout", function (event) {
    if (event.target === field) close();
  });

  // The attribute picker: a tree of the keys; ticking one adds its attribute row (path and
  // "your key"), clearing it removes the row, and rows typed by hand tick their keys.
  function channelOf(element) {
    return element.closest("[data-channel]");
  }

  function rowsOf(channel) {
    return channel.querySelector("[data-attr-rows]");
  }

  function chosenPaths(channel) {
    var paths = {};
    rowsOf(channel).querySelectorAll("[data-attr-row] input[data-key-search]").forEach(function (input) {
      if (input.value.trim()) paths[input.value.trim()] = true;
    });
    return paths;
  }

  function keyLabel(row, path) {
    var labels = row.querySelectorAll("label");
    if (labels[1]) labels[1].textContent = path ? "Your key for " + path : "Your key";
  }

  function addRow(channel, path) {
    var index = channel.getAttribute("data-channel");
    var rows = rowsOf(channel);
    var row = document.createElement("div");
    row.className = "header-row";
    row.setAttribute("data-attr-row", "");
    added += 1;
    [["ap", "attr_path", "customer.source_id", "Attribute path"],
     ["ak", "attr_key", "user.id", "Your key"]].forEach(function (part) {
      var id = "ch" + index + "-" + part[0] + "-added-" + added;
      var label = document.createElement("label");
      label.className = "visually-hidden";
      label.htmlFor = id;
      label.textContent = part[3];
      var input = document.createElement("input");
      input.id = id;
      input.name = "ch" + index + "." + part[1];
      input.placeholder = part[2];
      input.spellcheck = false;
      input.autocomplete = "off";
      row.appendChild(label);
      row.appendChild(input);
    });
    var pathInput = row.querySelector("input");
    pathInput.value = path;
    pathInput.setAttribute("data-key-search", "path");
    prepare(pathInput);
    keyLabel(row, path);
    var remove = document.createElement("button");
    remove.type = "button";
    remove.className = "secondary";
    remove.setAttribute("data-remove-attribute", "");
    remove.textContent = "Remove";
    row.appendChild(remove);
    rows.insertBefore(row, rows.querySelector("[data-attr-new]"));
    row.dispatchEvent(new Event("input", { bubbles: true }));
  }

  function removeRows(channel, path) {
    rowsOf(channel).querySelectorAll("[data-attr-row]").forEach(function (row) {
      var input = row.querySelector("input[data-key-search]");
      if (input && input.value.trim() === path) row.remove();
    });
    channel.dispatchEvent(new Event("input", { bubbles: true }));
  }

  function syncTicks(channel) {
    var paths = chosenPaths(channel);
    channel.querySelectorAll("[data-key-tree] input[type='checkbox']").forEach(function (box) {
      box.checked = paths[box.value] === true;
    });
  }

  function pathEdited(input) {
    var row = input.closest("[data-attr-row]");
    if (row) keyLabel(row, input.value.trim());
    var channel = channelOf(input);
    if (channel) syncTicks(channel);
  }

  form.addEventListener("click", function (event) {
    var button = event.target.closest("[data-remove-attribute]");
    if (!button) return;
    var channel = channelOf(button);
    var row = button.closest("[data-attr-row]");
    var next = row.nextElementSibling;
    row.remove();
    if (next && next.querySelector("input")) next.querySelector("input").focus();
    syncTicks(channel);
    channel.dispatchEvent(new Event("input", { bubbles: true }));
  });

  function node(channel, i, paths) {
    var k = keys[i];
    var index = channel.getAttribute("data-channel");
    var li = document.createElement("li");
    var line = document.createElement("div");
    line.className = "key-node";
    if (kids[i].length) {
      var toggle = document.createElement("button");
      toggle.type = "button";
      toggle.className = "secondary toggle";
      toggle.setAttribute("aria-expanded", "false");
      toggle.setAttribute("aria-label", "Show the keys of " + k.path);
      toggle.textContent = "+";
      var group = null;
      toggle.addEventListener("click", function () {
        var opening = toggle.getAttribute("aria-expanded") !== "true";
        if (opening && !group) {
          group = document.createElement("ul");
          group.setAttribute("role", "group");
          var chosen = chosenPaths(channel);
          kids[i].forEach(function (child) { group.appendChild(node(channel, child, chosen)); });
          li.appendChild(group);
        }
        group.hidden = !opening;
        toggle.setAttribute("aria-expanded", opening ? "true" : "false");
        toggle.setAttribute("aria-label", (opening ? "Hide" : "Show") + " the keys of " + k.path);
        toggle.textContent = opening ? "\u2212" : "+";
      });
      line.appendChild(toggle);
    } else {
      var space = document.createElement("span");
      space.className = "toggle-space";
      line.appendChild(space);
    }
    var box = document.createElement("input");
    box.type = "checkbox";
    box.id = "ch" + index + "-pick-" + i;
    box.setAttribute("value", k.path);
    box.checked = paths[k.path] === true;
    box.addEventListener("change", function () {
      if (box.checked) addRow(channel, k.path);
      else removeRows(channel, k.path);
    });
    var label = document.createElement("label");
    label.htmlFor = box.id;
    label.textContent = k.path;
    line.appendChild(box);
    line.appendChild(label);
    if (k.kind) {
      var kind = document.createElement("span");
      kind.className = "kind";
      kind.textContent = k.open ? k.kind + ", any key below" : k.kind;
      line.appendChild(kind);
    }
    li.appendChild(line);
    return li;
  }

  function buildPickers(answer) {
    form.querySelectorAll("[data-key-picker]").forEach(function (picker) {
      var channel = channelOf(picker);
      var tree = picker.querySelector("[data-key-tree]");
      var status = picker.querySelector("[data-key-picker-status]");
      tree.textContent = "";
      var paths = chosenPaths(channel);
      roots.forEach(function (i) { tree.appendChild(node(channel, i, paths)); });
      status.textContent = keys.length
        ? "The keys of " + answer.trigger + (answer.action ? " that the action " + answer.action + " gets" : "") + "; + shows a key's own keys."
        : "This trigger has no known keys; type paths below.";
    });
  }

  function index() {
    roots = [];
    kids = keys.map(function () { return []; });
    var stack = [];
    keys.forEach(function (k, i) {
      while (stack.length > k.depth) stack.pop();
      if (stack.length) kids[stack[stack.length - 1]].push(i);
      else roots.push(i);
      stack.push(i);
    });
  }

  function reload() {
    asked += 1;
    var mine = asked;
    var trigger = form.querySelector("[data-trigger]").value;
    var action = form.querySelector("[data-action] input:checked");
    var query = "?trigger=" + encodeURIComponent(trigger) +
      "&action=" + encodeURIComponent(action ? action.value : "");
    fetchLatest(url + query, { credentials: "same-origin" }, "the keys", {
      isLatest: function () { return mine === asked; },
      event: "sendout:keys",
      use: function (answer) {
        keys = answer.keys || [];
        loaded = true;
        index();
        close();
        buildPickers(answer);
        window.sendoutKeys = answer;
      },
      failed: function (message) {
        form.querySelectorAll("[data-key-picker-status]").forEach(function (p) {
          p.textContent = "The keys are unavailable (" + message + "); reload the page.";
        });
      }
    });
  }

  return { reload: reload };
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
    fetchLatest(form.getAttribute("data-preview"), {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        "x-csrf-token": form.querySelector("[name='csrf']").value
      },
      body: body
    }, "the preview", {
      isLatest: function () { return mine === sent; },
      event: "sendout:preview",
      use: function (result) {
        show(result);
        window.sendoutLastPreview = result;
      },
      failed: function (message) {
        form.querySelectorAll("[data-output-error]").forEach(function (p) {
          p.textContent = "Show output is unavailable (" + message + "); reload the page.";
        });
      }
    });
  }

  function edited() {
    edits += 1;
    window.sendoutDesignerEdits = edits;
    if (timer) clearTimeout(timer);
    timer = setTimeout(refresh, 200);
  }

  var keyTools = setUpKeyTools(form);
  trigger.addEventListener("change", function () {
    followTrigger();
    keyTools.reload();
  });
  form.querySelectorAll("[data-action] input").forEach(function (input) {
    input.addEventListener("change", keyTools.reload);
  });
  form.addEventListener("change", followModes);
  form.addEventListener("input", edited);
  form.addEventListener("change", edited);
  followTrigger();
  followModes();
  keyTools.reload();
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
