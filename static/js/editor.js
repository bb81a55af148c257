// The article editor: the four AI actions on the article, through the shared client
// (ai.js), each recorded with the article's id. The SEO title and the meta description
// stream into their fields; a rewrite streams into a preview of the selected text (or of
// the whole content) that the user accepts or discards; find-image lists search queries
// to copy. Saving is the form's ordinary POST; leaving with unsaved changes asks first.
(function () {
  "use strict";

  var ai, form, content, dirty = false, saving = false;

  function editorMessage(name, values) {
    var element = document.getElementById("editor-messages");
    var template = (element && element.dataset["msg" + name]) || "";
    return template.replace(/\{(\w+)\}/g, function (match, key) {
      return values && key in values ? values[key] : match;
    });
  }

  function markDirty() {
    dirty = true;
    document.getElementById("unsaved-note").hidden = false;
  }

  function statusFor(id) {
    var line = document.getElementById(id);
    return function (text, kind) {
      line.textContent = text;
      line.className = "result-meta" + (kind ? " alert alert-" + kind : "");
    };
  }

  // Only the buttons wait: the field or preview being written stays readable.
  function setBusy(busy) {
    form.querySelectorAll("button[data-ai-action]").forEach(function (button) {
      button.disabled = busy;
    });
  }

  // What the actions work on: the content, or the title when there is no content yet.
  function articleText() {
    return content.value.trim() ? content.value : document.getElementById("article-title").value;
  }

  // The text a rewrite replaces: the selection in the content, or all of it.
  function rewriteRange() {
    var start = content.selectionStart;
    var end = content.selectionEnd;
    if (typeof start === "number" && end > start && content.value.slice(start, end).trim()) {
      return { start: start, end: end, selected: true };
    }
    return { start: 0, end: content.value.length, selected: false };
  }

  function updateCounts() {
    document.querySelectorAll("[data-count-for]").forEach(function (counter) {
      var field = document.getElementById(counter.dataset.countFor);
      counter.textContent = editorMessage("Counter", {
        count: ai.number(Array.from(field.value).length),
        max: ai.number(Number(counter.dataset.max)),
      });
    });
  }

  function updateEstimate() {
    var rewrite = form.querySelector('button[data-action="rewrite"]');
    var estimate = document.getElementById("rewrite-estimate");
    var range = rewriteRange();
    var text = content.value.slice(range.start, range.end);
    if (!text.trim()) {
      delete rewrite.dataset.currentCost;
      estimate.textContent = "";
    } else {
      var cost = ai.cost(rewrite, text);
      rewrite.dataset.currentCost = String(cost);
      estimate.textContent = ai.message("Estimate", { cost: ai.number(cost) });
    }
    ai.refreshAffordability();
  }

  // The SEO title or the meta description, streamed into its field; the field gets its
  // old value back if the action fails.
  function fillField(button, field, status) {
    var before = field.value;
    var text = articleText();
    if (!text.trim()) {
      status(editorMessage("EmptyContent"), "warning");
      return;
    }
    setBusy(true);
    ai.run({
      button: button,
      text: text,
      articleId: form.dataset.articleId,
      onStatus: status,
      onStream: function () {
        field.value = "";
        field.classList.add("streaming");
      },
      onDelta: function (piece) {
        field.value += piece;
        updateCounts();
      },
      onDone: function (body) {
        field.value = body.result;
        markDirty();
      },
    }).then(function (answer) {
      field.classList.remove("streaming");
      if (answer.status !== 200) {
        field.value = before;
      }
      updateCounts();
      setBusy(false);
    });
  }

  var pendingRewrite = null;

  function rewrite(button, status) {
    updateEstimate(); // the selection may have changed without an event (a script)
    var range = rewriteRange();
    var text = content.value.slice(range.start, range.end);
    if (!text.trim()) {
      status(editorMessage("EmptyContent"), "warning");
      return;
    }
    var panel = document.getElementById("rewrite-panel");
    var preview = document.getElementById("rewrite-preview");
    var accept = document.getElementById("rewrite-accept");
    var scope = document.getElementById("rewrite-scope");
    pendingRewrite = null;
    accept.disabled = true;
    scope.textContent = range.selected ? scope.dataset.selection : scope.dataset.whole;
    setBusy(true);
    ai.run({
      button: button,
      text: text,
      articleId: form.dataset.articleId,
      onStatus: status,
      onStream: function () {
        preview.textContent = "";
        preview.classList.add("streaming");
        panel.hidden = false;
        panel.scrollIntoView({ behavior: "smooth", block: "nearest" });
      },
      onDelta: function (piece) {
        preview.appendChild(document.createTextNode(piece));
      },
      onDone: function (body) {
        preview.textContent = body.result;
        panel.hidden = false;
        // The content may have been edited meanwhile: replace only if the text is unchanged.
        pendingRewrite = { start: range.start, end: range.end, original: text, result: body.result };
        accept.disabled = false;
      },
    }).then(function () {
      preview.classList.remove("streaming");
      setBusy(false);
    });
  }

  function acceptRewrite() {
    var change = pendingRewrite;
    if (!change) {
      return;
    }
    var value = content.value;
    var start = change.start;
    if (value.slice(start, change.end) !== change.original) {
      start = value.indexOf(change.original); // edited around it: find the text again
    }
    if (start >= 0) {
      content.value =
        value.slice(0, start) + change.result + value.slice(start + change.original.length);
      content.focus();
      content.setSelectionRange(start, start + change.result.length);
    } else {
      content.value = change.result; // the original text is gone: the result is kept
    }
    markDirty();
    discardRewrite();
    updateEstimate();
  }

  function discardRewrite() {
    pendingRewrite = null;
    document.getElementById("rewrite-panel").hidden = true;
    document.getElementById("rewrite-preview").textContent = "";
  }

  function findImage(button, status) {
    var text = articleText();
    if (!text.trim()) {
      status(editorMessage("EmptyContent"), "warning");
      return;
    }
    var panel = document.getElementById("image-panel");
    setBusy(true);
    ai.run({
      button: button,
      text: text,
      articleId: form.dataset.articleId,
      onStatus: status,
      onDone: function (body) {
        ai.showResult(document.getElementById("image-queries"), body.result);
        panel.hidden = false;
        panel.scrollIntoView({ behavior: "smooth", block: "nearest" });
      },
    }).then(function () {
      setBusy(false);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    form = document.getElementById("article-editor");
    if (!form) {
      return;
    }
    ai = window.VolxAI;
    content = document.getElementById("article-content");

    form.querySelectorAll("button[data-ai-action]").forEach(function (button) {
      button.addEventListener("click", function () {
        var action = button.dataset.action;
        if (action === "generate-seo-title") {
          fillField(button, document.getElementById("seo-title"), statusFor("status-" + action));
        } else if (action === "generate-meta-description") {
          fillField(button, document.getElementById("meta-description"), statusFor("status-" + action));
        } else if (action === "rewrite") {
          rewrite(button, statusFor("status-content"));
        } else if (action === "find-image") {
          findImage(button, statusFor("status-content"));
        }
      });
    });
    document.getElementById("rewrite-accept").addEventListener("click", acceptRewrite);
    document.getElementById("rewrite-discard").addEventListener("click", discardRewrite);

    form.addEventListener("input", function (event) {
      markDirty();
      if (event.target === content) {
        updateEstimate();
      }
      updateCounts();
    });
    ["select", "keyup", "mouseup"].forEach(function (name) {
      content.addEventListener(name, updateEstimate);
    });
    form.addEventListener("submit", function () {
      saving = true;
    });
    window.addEventListener("beforeunload", function (event) {
      if (dirty && !saving) {
        event.preventDefault();
        event.returnValue = editorMessage("Unsaved"); // browsers show their own wording
        return event.returnValue;
      }
    });
    updateCounts();
    updateEstimate();
  });
})();
