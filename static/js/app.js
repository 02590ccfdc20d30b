// Small progressive enhancements; every page works without this file.
(function () {
  "use strict";

  var TOAST_MS = 6000;

  // Errors stay until dismissed; other toasts fade after a few seconds, but
  // not while the pointer or keyboard focus is on them.
  function arm(toast) {
    var close = document.createElement("button");
    close.type = "button";
    close.setAttribute("aria-label", "Dismiss");
    close.textContent = "\u00d7";
    close.addEventListener("click", function () { toast.remove(); });
    toast.appendChild(close);
    if (toast.classList.contains("toast-error")) return;
    var timer = null;
    function start() { timer = window.setTimeout(function () { toast.remove(); }, TOAST_MS); }
    function stop() { window.clearTimeout(timer); }
    toast.addEventListener("mouseenter", stop);
    toast.addEventListener("focusin", stop);
    toast.addEventListener("mouseleave", start);
    toast.addEventListener("focusout", start);
    start();
  }

  function showToast(text, level) {
    var box = document.getElementById("toasts");
    if (!box) return;
    var toast = document.createElement("div");
    toast.className = "toast toast-" + (level || "info");
    toast.setAttribute("role", level === "error" ? "alert" : "status");
    var span = document.createElement("span");
    span.textContent = text;
    toast.appendChild(span);
    box.appendChild(toast);
    arm(toast);
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("#toasts .toast").forEach(arm);
  });

  // Messages queued during an htmx request arrive as an HX-Trigger event,
  // dispatched on the element that made the request; it bubbles here.
  document.addEventListener("messages", function (event) {
    (event.detail.items || []).forEach(function (m) { showToast(m.message, m.level); });
  });

  // htmx does not swap error responses: say so instead of doing nothing.
  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr ? event.detail.xhr.status : 0;
    var text = status === 403 ? "You are not allowed to do that, or your session ended. Reload the page."
      : status === 404 ? "That item no longer exists. Reload the page."
      : "Something went wrong (" + status + "). Nothing was changed; reload the page and try again.";
    showToast(text, "error");
  });
  document.addEventListener("htmx:sendError", function () {
    showToast("The server could not be reached. Check your connection and try again.", "error");
  });

  // "Line 7" in the rubric checker: put the cursor on that line of the editor.
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-goto-line]") : null;
    var editor = document.getElementById("id_source");
    if (!button || !editor) return;
    var line = parseInt(button.getAttribute("data-goto-line"), 10);
    var lines = editor.value.split("\n");
    var start = 0;
    for (var i = 0; i < line - 1 && i < lines.length; i++) start += lines[i].length + 1;
    var end = start + (lines[line - 1] || "").length;
    editor.focus();
    editor.setSelectionRange(start, end);
    var lineHeight = editor.scrollHeight / Math.max(lines.length, 1);
    editor.scrollTop = Math.max(0, (line - 3) * lineHeight);
  });

  // Close the agency switcher when clicking elsewhere.
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details.switcher[open]").forEach(function (d) {
      if (!d.contains(event.target)) d.removeAttribute("open");
    });
  });
})();
