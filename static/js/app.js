// Behaviour the templates ask for with data attributes, so that no page needs inline script or
// style (the Content-Security-Policy allows neither):
//   data-autosubmit        a select that submits its form when changed (the language switch)
//   data-open-dialog="id"  a button that opens the <dialog> with that id
//   data-close-dialog      a button that closes the <dialog> it sits in
//   data-confirm="text"    a form that asks before it is submitted
//   data-colour="#rrggbb"  an element whose background is that colour (tags and swatches)
(function () {
  "use strict";

  function paint(root) {
    root.querySelectorAll("[data-colour]").forEach(function (element) {
      element.style.backgroundColor = element.getAttribute("data-colour");
    });
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.matches && target.matches("select[data-autosubmit]") && target.form) {
      target.form.submit();
    }
  });

  document.addEventListener("click", function (event) {
    var opener = event.target.closest && event.target.closest("[data-open-dialog]");
    if (opener) {
      var dialog = document.getElementById(opener.getAttribute("data-open-dialog"));
      if (dialog) dialog.showModal();
      return;
    }
    var closer = event.target.closest && event.target.closest("[data-close-dialog]");
    if (closer && closer.closest("dialog")) closer.closest("dialog").close();
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.hasAttribute && form.hasAttribute("data-confirm")) {
      if (!window.confirm(form.getAttribute("data-confirm"))) event.preventDefault();
    }
  });

  paint(document);
  document.addEventListener("htmx:load", function (event) { paint(event.detail.elt); });
})();
