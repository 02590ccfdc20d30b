// Draws the plotly charts of a page: every <div data-chart="ID"> is drawn from
// the figure JSON in <script type="application/json" id="ID"> (Django's
// json_script), on load and inside whatever htmx swaps in. Load it with
// `defer`, after plotly.min.js. No inline script or eval: fits the site's CSP.
(function () {
  "use strict";

  var CONFIG = { displayModeBar: false, responsive: true };

  function draw(el) {
    var source = document.getElementById(el.getAttribute("data-chart"));
    // htmx may settle a chart and its parent: draw each figure once.
    if (!source || el.chartSource === source) return;
    var fig;
    try {
      fig = JSON.parse(source.textContent);
    } catch (error) {
      return;
    }
    el.chartSource = source;
    window.Plotly.newPlot(el, fig.data || [], fig.layout || {}, CONFIG);
  }

  function render(root) {
    if (!window.Plotly || !root || !root.querySelectorAll) return;
    if (root.matches && root.matches("[data-chart]")) draw(root);
    root.querySelectorAll("[data-chart]").forEach(draw);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { render(document); });
  } else {
    render(document);
  }

  // htmx dispatches afterSettle on each element it settled (for an outerHTML
  // swap, the new element: the old target is already detached).
  document.body.addEventListener("htmx:afterSettle", function (event) {
    var root = event.target;
    render(root && root.isConnected ? root : event.detail && event.detail.target);
  });

  // A chart swapped out would otherwise keep its window resize listener.
  document.body.addEventListener("htmx:beforeCleanupElement", function (event) {
    var el = event.target;
    if (window.Plotly && el.classList && el.classList.contains("js-plotly-plot")) {
      window.Plotly.purge(el);
    }
  });
})();
