// Small progressive enhancements; every page works without this file.
(function () {
  "use strict";

  var TOAST_MS = 6000;

  function dismissLater(toast) {
    var close = document.createElement("button");
    close.type = "button";
    close.setAttribute("aria-label", "Dismiss");
    close.textContent = "×";
    close.addEventListener("click", function () { toast.remove(); });
    toast.appendChild(close);
    window.setTimeout(function () { toast.remove(); }, TOAST_MS);
  }

  function showToast(text, level) {
    var box = document.getElementById("toasts");
    if (!box) return;
    var toast = document.createElement("div");
    toast.className = "toast toast-" + (level || "info");
    toast.setAttribute("role", "status");
    var span = document.createElement("span");
    span.textContent = text;
    toast.appendChild(span);
    box.appendChild(toast);
    dismissLater(toast);
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("#toasts .toast").forEach(dismissLater);
  });

  // Messages queued during an htmx request arrive as an HX-Trigger event.
  // htmx dispatches it on the element that made the request; it bubbles here.
  document.addEventListener("messages", function (event) {
    (event.detail.items || []).forEach(function (m) { showToast(m.message, m.level); });
  });

  // Close the agency switcher when clicking elsewhere.
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details.switcher[open]").forEach(function (d) {
      if (!d.contains(event.target)) d.removeAttribute("open");
    });
  });
})();
