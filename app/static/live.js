// Progressive enhancement: refresh the pool's demand and best price while it is open.
// The page is complete without this script; it only keeps the numbers current.
(function () {
  "use strict";
  var root = document.querySelector("[data-live-url]");
  if (!root || !window.fetch) { return; }
  var url = root.getAttribute("data-live-url");
  function text(selector, value) {
    var node = root.querySelector(selector);
    if (node && value !== null && value !== undefined) { node.textContent = value; }
  }
  function refresh() {
    fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (!data) { return; }
        text("[data-live=committed]", String(data.committed_quantity));
        text("[data-live=members]", String(data.member_count));
        text("[data-live=best]", data.best_price_text);
        text("[data-live=next-drop]", data.next_drop_text);
        text("[data-live=clearing]", data.clearing ? data.clearing.text : data.no_clearing_text);
        var bar = root.querySelector("[data-live=bar]");
        if (bar) { bar.style.width = data.progress_pct + "%"; }
        var progress = root.querySelector("[role=progressbar]");
        if (progress) { progress.setAttribute("aria-valuenow", String(Math.min(data.committed_quantity, Number(progress.getAttribute("aria-valuemax"))))); }
        if (data.status !== "open") { window.location.reload(); }
      })
      .catch(function () { /* offline for a moment: try again on the next tick */ });
  }
  setInterval(refresh, 5000);
})();
