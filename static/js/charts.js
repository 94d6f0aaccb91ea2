// Plotly measures a chart's width when the chart's own script runs, before the rest of the page
// exists: a chart that comes first in a grid row is measured as if it were alone in the row, and
// overflows its card once the other cards arrive. Fit every chart to its box once the page is
// parsed (this deferred script runs then), and again when it is complete (fonts, images); plotly's
// "responsive" only reacts to later window resizes.
(function () {
  function fit() {
    if (!window.Plotly) return;
    document.querySelectorAll(".js-plotly-plot").forEach(function (chart) {
      window.Plotly.Plots.resize(chart);
    });
  }
  fit();
  window.addEventListener("load", fit);
})();
