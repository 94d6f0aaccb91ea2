// Draw the charts of a page: each is an empty div plus a JSON data block
// (<script type="application/json" data-chart-for="<div id>">, from core.charts.figure_html),
// so that no page runs inline script. Charts that htmx swaps in later are drawn the same way.
//
// Plotly measures a chart's width when it is drawn: drawing once the page is parsed (this deferred
// script runs then) fits each chart to its box; it is fitted again when the page is complete
// (fonts, images), and plotly's "responsive" follows later window resizes.
(function () {
  "use strict";

  function draw(root) {
    if (!window.Plotly) return;
    root.querySelectorAll("script[data-chart-for]").forEach(function (block) {
      var chart = document.getElementById(block.getAttribute("data-chart-for"));
      if (!chart || chart.classList.contains("js-plotly-plot")) return;
      var figure = JSON.parse(block.textContent);
      window.Plotly.newPlot(chart, figure.data, figure.layout, figure.config);
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
