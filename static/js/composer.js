// The campaign composer (templates/campaigns/form.html) shows one step of its form at a time:
//   form[data-composer]        the form; data-step-start names the step to open first
//   [data-step="key"]          a step's section (all are shown when this script does not run)
//   [data-step-go="key"]       a link or button that opens that step
//   [data-step-tab="key"]      the step's entry in the step list (marked aria-current)
//   [data-channels="a b"]      content shown only while the channel chosen is one of a, b
// A step holding an error after a save is opened first, so the error is seen.
(function () {
  "use strict";

  function setUp(form) {
    var panels = Array.prototype.slice.call(form.querySelectorAll("[data-step]"));
    if (!panels.length) return;

    function show(key) {
      panels.forEach(function (panel) {
        panel.hidden = panel.getAttribute("data-step") !== key;
      });
      document.querySelectorAll("[data-step-tab]").forEach(function (tab) {
        if (tab.getAttribute("data-step-tab") === key) tab.setAttribute("aria-current", "step");
        else tab.removeAttribute("aria-current");
      });
    }

    function known(key) {
      return panels.some(function (panel) { return panel.getAttribute("data-step") === key; });
    }

    var channel = form.querySelector("select[name=channel]");
    function showChannel() {
      var key = channel ? channel.value : "";
      form.querySelectorAll("[data-channels]").forEach(function (block) {
        block.hidden = !!key && block.getAttribute("data-channels").split(" ").indexOf(key) < 0;
      });
    }
    if (channel) channel.addEventListener("change", showChannel);
    showChannel();

    form.querySelectorAll(".composer-nav").forEach(function (nav) { nav.hidden = false; });
    var withError = panels.filter(function (panel) { return panel.querySelector(".error"); })[0];
    var fromHash = window.location.hash.replace("#step-", "");
    var start = form.getAttribute("data-step-start");
    if (withError) show(withError.getAttribute("data-step"));
    else if (known(fromHash)) show(fromHash);
    else show(known(start) ? start : panels[0].getAttribute("data-step"));

    document.addEventListener("click", function (event) {
      var go = event.target.closest && event.target.closest("[data-step-go]");
      if (!go) return;
      var key = go.getAttribute("data-step-go");
      if (!known(key)) return;
      event.preventDefault();
      show(key);
      if (window.history && window.history.replaceState) {
        window.history.replaceState(null, "", "#step-" + key);
      }
      window.scrollTo(0, 0);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-composer]").forEach(setUp);
  });
})();
