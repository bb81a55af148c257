// The AI tools page: the text box's actions through the shared client (ai.js). The
// text actions stream: their text appears as the model writes it. The last result is
// kept in this browser (localStorage, per user), so a reload does not lose it.
(function () {
  "use strict";

  var ai, form, textBox, result, statusLine, copy, last;

  function showStatus(text, kind) {
    statusLine.textContent = text;
    statusLine.className = "result-meta" + (kind ? " alert alert-" + kind : "");
  }

  function setBusy(busy) {
    form.setAttribute("aria-busy", busy ? "true" : "false");
    form.querySelectorAll("button[type=submit]").forEach(function (button) {
      button.disabled = busy;
    });
  }

  function storageKey() {
    return form.dataset.storageKey;
  }

  function remember(label, value) {
    try {
      window.localStorage.setItem(storageKey(), JSON.stringify({ label: label, result: value }));
    } catch (error) {
      // Storage full or turned off: the result is still on the page.
    }
  }

  function restore() {
    var kept;
    try {
      kept = JSON.parse(window.localStorage.getItem(storageKey()) || "null");
    } catch (error) {
      kept = null;
    }
    if (!kept || kept.result == null) {
      return;
    }
    ai.showResult(result, kept.result);
    last.textContent = ai.message("Last", { action: kept.label || "" });
    last.hidden = false;
    copy.hidden = typeof kept.result === "object";
  }

  // On a phone the result is below the buttons: bring it into view when it starts.
  function revealResult() {
    if (window.matchMedia("(max-width: 719px)").matches) {
      document.getElementById("tools-result-card").scrollIntoView({ behavior: "smooth" });
    }
  }

  function run(button) {
    var text = textBox.value;
    if (!text.trim()) {
      showStatus(ai.message("Empty"), "warning");
      textBox.focus();
      return;
    }
    setBusy(true);
    last.hidden = true;
    ai.run({
      button: button,
      text: text,
      onStatus: showStatus,
      onStream: function () {
        result.textContent = "";
        result.classList.add("streaming");
        copy.hidden = true;
        revealResult();
      },
      onDelta: function (piece) {
        result.appendChild(document.createTextNode(piece));
      },
      onDone: function (body) {
        ai.showResult(result, body.result);
        copy.hidden = typeof body.result === "object"; // each search query has its own
        remember(button.dataset.label, body.result);
        revealResult();
      },
    }).then(function () {
      result.classList.remove("streaming");
      setBusy(false);
    });
  }

  function updateEstimate() {
    var estimate = document.getElementById("rewrite-estimate");
    var rewrite = form.querySelector("button[data-chars-per-token]");
    if (!estimate || !rewrite) {
      return;
    }
    if (!textBox.value.trim()) {
      estimate.textContent = "";
      delete rewrite.dataset.currentCost;
    } else {
      var cost = ai.cost(rewrite, textBox.value);
      rewrite.dataset.currentCost = String(cost);
      estimate.textContent = ai.message("Estimate", { cost: ai.number(cost) });
    }
    ai.refreshAffordability();
  }

  document.addEventListener("DOMContentLoaded", function () {
    form = document.getElementById("ai-tools");
    if (!form) {
      return;
    }
    ai = window.VolxAI;
    textBox = document.getElementById("tools-text");
    result = document.getElementById("tools-result");
    statusLine = document.getElementById("tools-status");
    copy = document.getElementById("tools-copy");
    last = document.getElementById("tools-last");

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var button = event.submitter || form.querySelector("button[type=submit]:focus");
      if (button && button.dataset.url) {
        run(button);
      }
    });
    textBox.addEventListener("input", updateEstimate);
    restore();
  });
})();
