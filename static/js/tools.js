// The AI tools page: POST /api/ai/<action> with the session cookie, the CSRF token and a
// fresh Idempotency-Key per click; show the result and the new balance, or the
// insufficient-tokens dialog on a 402. The text actions stream: their text appears as the
// model writes it. All wording comes from the page (translated there).
(function () {
  "use strict";

  var form, textBox, result, statusLine, dialog, numberFormat;

  function format(template, values) {
    return template.replace(/\{(\w+)\}/g, function (match, name) {
      return Object.prototype.hasOwnProperty.call(values, name) ? values[name] : match;
    });
  }

  function number(value) {
    return numberFormat.format(value);
  }

  function message(name, values) {
    return format(form.dataset["msg" + name] || "", values || {});
  }

  // One key per click: a retried request (a flaky network) is charged once, a new click
  // is a new action. crypto.randomUUID needs a secure context; getRandomValues does not.
  function idempotencyKey() {
    if (window.crypto && window.crypto.randomUUID) {
      return window.crypto.randomUUID();
    }
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  function csrfToken() {
    var input = form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function textLength(text) {
    return Array.from(text.trim()).length; // what the server counts: code points, trimmed
  }

  function setBalance(tokens) {
    var badge = document.getElementById("token-badge");
    if (badge) {
      badge.textContent = "⚡ " + number(tokens) + " Token";
      badge.classList.remove("updated");
      void badge.offsetWidth; // restart the animation
      badge.classList.add("updated");
    }
    var inline = document.getElementById("tools-balance");
    if (inline) {
      inline.textContent = number(tokens);
    }
    var current = document.getElementById("insufficient-current");
    if (current) {
      current.textContent = number(tokens);
    }
  }

  function setBusy(busy) {
    form.setAttribute("aria-busy", busy ? "true" : "false");
    form.querySelectorAll("button[type=submit]").forEach(function (button) {
      button.disabled = busy;
    });
  }

  function showStatus(text, kind) {
    statusLine.textContent = text;
    statusLine.className = "result-meta" + (kind ? " alert alert-" + kind : "");
  }

  function showResult(value) {
    result.textContent = "";
    if (value && typeof value === "object") {
      var query = document.createElement("p");
      var label = document.createElement("strong");
      label.textContent = message("Search") + ": ";
      query.appendChild(label);
      query.appendChild(document.createTextNode(value.query || ""));
      result.appendChild(query);
      var list = document.createElement("ul");
      (value.suggestions || []).forEach(function (suggestion) {
        var item = document.createElement("li");
        item.textContent = suggestion;
        list.appendChild(item);
      });
      result.appendChild(list);
    } else {
      result.textContent = value == null ? "" : String(value);
    }
  }

  function planNames() {
    var element = document.getElementById("plan-names");
    try {
      return element ? JSON.parse(element.textContent) : {};
    } catch (error) {
      return {};
    }
  }

  function openInsufficientDialog(body) {
    var names = planNames();
    document.getElementById("insufficient-current").textContent = number(body.remaining);
    document.getElementById("insufficient-required").textContent = number(body.required);
    document.getElementById("insufficient-missing").textContent = number(body.missing);
    var plan = document.getElementById("insufficient-plan");
    if (body.plan_type) {
      plan.textContent = format(plan.dataset.template, {
        plan: names[body.plan_type] || body.plan_type,
        tokens: number(body.tokens_limit || 0),
      });
    }
    var suggestion = document.getElementById("insufficient-suggestion");
    var upgrade = document.getElementById("insufficient-upgrade");
    if (body.suggested_plan) {
      suggestion.textContent = format(suggestion.dataset.template, {
        plan: names[body.suggested_plan.slug] || body.suggested_plan.name,
        tokens: number(body.suggested_plan.tokens),
      });
      suggestion.hidden = false;
      upgrade.dataset.plansUrl = upgrade.dataset.plansUrl || upgrade.getAttribute("href");
      upgrade.setAttribute(
        "href",
        suggestion.dataset.upgradeUrl.replace("PLAN", encodeURIComponent(body.suggested_plan.slug))
      );
    } else {
      suggestion.hidden = true;
      if (upgrade.dataset.plansUrl) {
        upgrade.setAttribute("href", upgrade.dataset.plansUrl);
      }
    }
    setBalance(body.remaining);
    if (typeof dialog.showModal === "function") {
      dialog.showModal();
    } else {
      dialog.setAttribute("open", "");
    }
  }

  function errorText(body, fallback) {
    return (body && typeof body.error === "string" && body.error) || fallback;
  }

  function run(button) {
    var text = textBox.value;
    if (!text.trim()) {
      showStatus(message("Empty"), "warning");
      textBox.focus();
      return;
    }
    setBusy(true);
    showStatus(message("Working"), "");
    var streamed = button.dataset.stream === "true";
    fetch(button.dataset.url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        Accept: streamed ? "text/event-stream, application/json" : "application/json",
        "X-CSRFToken": csrfToken(),
        "Idempotency-Key": idempotencyKey(),
      },
      body: JSON.stringify(streamed ? { text: text, stream: true } : { text: text }),
    })
      .then(function (response) {
        var type = response.headers.get("Content-Type") || "";
        if (response.status === 200 && type.indexOf("text/event-stream") === 0) {
          return readStream(response);
        }
        return response
          .json()
          .catch(function () {
            return {};
          })
          .then(function (body) {
            return { status: response.status, body: body };
          });
      })
      .then(function (answer) {
        var body = answer.body;
        if (answer.status === 200) {
          showDone(body);
        } else if (answer.status === "error") {
          showStatus(message("ProviderError", { error: errorText(body, "502") }), "error");
        } else if (answer.status === 402) {
          showStatus("", "");
          openInsufficientDialog(body);
        } else if (answer.status === 504) {
          showStatus(message("Timeout"), "error");
        } else if (answer.status === 502) {
          showStatus(message("ProviderError", { error: errorText(body, "502") }), "error");
        } else if (answer.status === 401 || answer.status === 403) {
          showStatus(message("Session"), "error");
        } else {
          showStatus(message("Error", { error: errorText(body, String(answer.status)) }), "error");
        }
      })
      .catch(function () {
        showStatus(message("Network"), "error");
      })
      .then(function () {
        setBusy(false);
      });
  }

  function showDone(body) {
    showResult(body.result);
    setBalance(body.tokens_remaining);
    showStatus(
      message("Done", { used: number(body.tokens_used), remaining: number(body.tokens_remaining) }),
      "success"
    );
  }

  // A streamed answer (text/event-stream): each `data: {"delta"}` is added to the result
  // as it arrives; `event: done` carries the whole answer, `event: error` a failure
  // (nothing charged). Resolves like a JSON answer: {status: 200 | "error", body}.
  function readStream(response) {
    var reader = response.body.getReader();
    var decoder = new TextDecoder();
    var buffer = "";
    var outcome = { status: "error", body: {} };
    result.textContent = "";
    result.classList.add("streaming");

    function handle(block) {
      var event = "message";
      var data = "";
      block.split("\n").forEach(function (line) {
        if (line.indexOf("event: ") === 0) {
          event = line.slice(7);
        } else if (line.indexOf("data: ") === 0) {
          data += line.slice(6);
        }
      });
      if (!data) {
        return;
      }
      var payload = JSON.parse(data);
      if (event === "done") {
        outcome = { status: 200, body: payload };
      } else if (event === "error") {
        outcome = { status: "error", body: payload };
      } else if (typeof payload.delta === "string") {
        result.appendChild(document.createTextNode(payload.delta));
      }
    }

    function pump() {
      return reader.read().then(function (chunk) {
        buffer += decoder.decode(chunk.value || new Uint8Array(), { stream: !chunk.done });
        var blocks = buffer.split("\n\n");
        buffer = blocks.pop();
        blocks.forEach(handle);
        if (chunk.done) {
          if (buffer.trim()) {
            handle(buffer);
          }
          result.classList.remove("streaming");
          return outcome;
        }
        return pump();
      });
    }
    return pump();
  }

  function updateEstimate() {
    var estimate = document.getElementById("rewrite-estimate");
    var rewrite = form.querySelector("button[data-chars-per-token]");
    if (!estimate || !rewrite) {
      return;
    }
    var length = textLength(textBox.value);
    if (!length) {
      estimate.textContent = "";
      return;
    }
    var cost = Math.min(
      Number(rewrite.dataset.maxCost),
      Number(rewrite.dataset.cost) + Math.ceil(length / Number(rewrite.dataset.charsPerToken))
    );
    estimate.textContent = message("Estimate", { cost: number(cost) });
  }

  document.addEventListener("DOMContentLoaded", function () {
    form = document.getElementById("ai-tools");
    if (!form) {
      return;
    }
    textBox = document.getElementById("tools-text");
    result = document.getElementById("tools-result");
    statusLine = document.getElementById("tools-status");
    dialog = document.getElementById("insufficient-tokens");
    numberFormat = new Intl.NumberFormat(document.documentElement.lang || undefined);

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var button = event.submitter || form.querySelector("button[type=submit]:focus");
      if (button && button.dataset.url) {
        run(button);
      }
    });
    textBox.addEventListener("input", updateEstimate);
    dialog.querySelectorAll("[data-close-dialog]").forEach(function (button) {
      button.addEventListener("click", function () {
        if (typeof dialog.close === "function") {
          dialog.close();
        } else {
          dialog.removeAttribute("open");
        }
      });
    });
  });
})();
