// Draw the charts of a page: each is an empty div plus a JSON data block
// (<script type="application/json" data-chart-for="<div id>">, from core.charts.figure_html),
// so that no page runs inline script. Charts that htmx swaps in later are drawn the same way.
//
// Plotly measures a chart's width when it is drawn: drawing once the page is parsed (this deferred
// script runs then) fits each chart to its box; it is fitted again when the page is complete
// (fonts, images). Plotly's "responsive" follows only window resizes: a box that changes width
// for another reason (a grid that reflows, a scroll bar that appears, a panel that opens) is
// watched with a ResizeObserver, and its chart fitted again whenever its width changes.
(function () {
  "use strict";

  var widths = new WeakMap();
  var observer = window.ResizeObserver ? new ResizeObserver(function (entries) {
    entries.forEach(function (entry) {
      var box = entry.target;
      var width = Math.round(entry.contentRect.width);
      if (widths.get(box) === width) return;
      widths.set(box, width);
      var chart = box.querySelector(".js-plotly-plot");
      if (chart && window.Plotly && document.body.contains(chart)) window.Plotly.Plots.resize(chart);
    });
  }) : null;

  function draw(root) {
    if (!window.Plotly) return;
    root.querySelectorAll("script[data-chart-for]").forEach(function (block) {
      var chart = document.getElementById(block.getAttribute("data-chart-for"));
      if (!chart || chart.classList.contains("js-plotly-plot")) return;
      var figure = JSON.parse(block.textContent);
      window.Plotly.newPlot(chart, figure.data, figure.layout, figure.config);
      if (observer && chart.parentElement) {
        widths.set(chart.parentElement, Math.round(chart.parentElement.getBoundingClientRect().width));
        observer.observe(chart.parentElement);
      }
    });
  }

  function fit() {
    if (!window.Plotly) return;
    document.querySelectorAll(".js-plotly-plot").forEach(function (chart) {
      window.Plotly.Plots.resize(chart);
    });
  }

  draw(document);
  window.addEventListener("load", fit);
  document.addEventListener("htmx:load", function (event) { draw(event.detail.elt); });
})();
