/* The flow editor's one behaviour of its own: in a form, show only the fields that belong to
   the option chosen in a <select data-toggle="name"> (fields marked data-when="name:a,b").
   It runs on load and after every htmx swap; without script every field stays visible. */
(function () {
  "use strict";

  function apply(root) {
    root.querySelectorAll("select[data-toggle]").forEach(function (select) {
      var group = select.getAttribute("data-toggle");
      var scope = select.form || document;
      scope.querySelectorAll("[data-when^='" + group + ":']").forEach(function (node) {
        var values = node.getAttribute("data-when").slice(group.length + 1).split(",");
        node.hidden = values.indexOf(select.value) < 0;
      });
    });
  }

  document.addEventListener("change", function (event) {
    if (event.target.matches && event.target.matches("select[data-toggle]")) apply(document);
  });
  document.addEventListener("htmx:afterSwap", function () { apply(document); });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { apply(document); });
  } else {
    apply(document);
  }
})();
