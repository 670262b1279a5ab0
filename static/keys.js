/* Gallery Arena annotator keyboard: pairwise 1/2/3/4 and arrows, rating 1-5, flags 0-9 + Enter;
   aspects: a row of keys per question (1-4, Q-R, U-P) or 1-5 for the first open rating row.
   Every control is a real form button, so the page works without this script. */
(function () {
  "use strict";
  var started = performance.now();
  document.documentElement.dataset.keys = "ready";

  function taskForm() {
    return document.getElementById("task-form");
  }

  // Client-reported response time, written just before the form's values are collected.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form && form.id === "task-form") {
      var field = form.querySelector("input[name=client_ms]");
      if (field) field.value = String(Math.max(0, Math.round(performance.now() - started)));
    }
  }, true);

  // Between sending an answer and the next task being ready, keys are ignored (no double votes,
  // no key landing on a form htmx has not wired up yet).
  document.addEventListener("htmx:beforeRequest", function () {
    document.documentElement.dataset.keys = "busy";
  });
  document.addEventListener("htmx:afterSettle", function () {
    document.documentElement.dataset.keys = "ready";
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    if (!event.detail.successful || event.detail.target.id === "flash") {
      document.documentElement.dataset.keys = "ready";
    }
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.target && event.target.id === "flash") return;
    started = performance.now();
    var flash = document.getElementById("flash");
    if (flash) flash.textContent = "";
    if (document.activeElement && document.activeElement !== document.body) {
      document.activeElement.blur();
    }
  });

  function toggle(box, form) {
    box.checked = !box.checked;
    if (!box.checked) return;
    // "none of these" and the problems exclude each other.
    var others = box.name === "none_of_these"
      ? form.querySelectorAll("input[name=flags]")
      : form.querySelectorAll("input[name=none_of_these]");
    for (var i = 0; i < others.length; i++) others[i].checked = false;
  }

  // A study with aspects: the questions (fieldsets) not answered yet, in order.
  function openRows(form) {
    var rows = form.querySelectorAll("fieldset[data-aspect]");
    var open = [];
    for (var i = 0; i < rows.length; i++) {
      if (!rows[i].querySelector("input:checked")) open.push(rows[i]);
    }
    return open;
  }

  // Rating aspects share the digits 1-5: they answer the first question still open.
  function rowKey(form, key) {
    var open = openRows(form);
    if (!open.length) return null;
    return open[0].querySelector('input[data-row-key="' + key + '"]');
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var form = taskForm();
    if (!form) return;
    // The full-screen view and the instructions take the keys while they are open (task.js).
    if (document.querySelector("dialog[open]")) return;
    var target = event.target;
    if (target && (target.tagName === "TEXTAREA" || (target.tagName === "INPUT" && target.type === "text"))) return;
    var controls = form.querySelectorAll("[data-key]");
    var match = rowKey(form, event.key);
    for (var i = 0; !match && i < controls.length; i++) {
      if (controls[i].getAttribute("data-key").split(" ").indexOf(event.key) >= 0) {
        match = controls[i];
        break;
      }
    }
    if (!match) return;
    event.preventDefault();
    if (event.repeat) return;
    if (document.documentElement.dataset.keys !== "ready") return;
    if (match.type === "checkbox") {
      toggle(match, form);
      return;
    }
    if (match.type === "radio") {
      // An aspect's answer; the key that answers the last open question submits.
      var wasOpen = openRows(form).length;
      match.checked = true;
      if (wasOpen > 0 && openRows(form).length === 0) {
        var submit = document.getElementById("submit-aspects");
        if (submit && !submit.disabled && !form.classList.contains("htmx-request")) submit.click();
      }
      return;
    }
    // In flight: the buttons are disabled by hx-disabled-elt; a second key press does nothing.
    if (match.disabled || form.classList.contains("htmx-request")) return;
    match.click();
  });
})();
