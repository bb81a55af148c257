// The AI actions' client, shared by the tools page and the article editor: POST
// /api/ai/<action> with the session cookie, the CSRF token and a fresh Idempotency-Key
// per click; read a streamed answer (server-sent events) piece by piece; keep the
// balance, the buttons' affordability and the insufficient-tokens dialog up to date.
// All wording comes from the page (#ai-messages, translated there).
(function () {
  "use strict";

  var numberFormat = new Intl.NumberFormat(document.documentElement.lang || undefined);
  var balance = null;

  function format(template, values) {
    return template.replace(/\{(\w+)\}/g, function (match, name) {
      return Object.prototype.hasOwnProperty.call(values, name) ? values[name] : match;
    });
  }

  function number(value) {
    return numberFormat.format(value);
  }

  function message(name, values) {
    var element = document.getElementById("ai-messages");
    return format((element && element.dataset["msg" + name]) || "", values || {});
  }

  // One key per click: a retried request (a flaky network) is charged once, a new click
  // is a new action. crypto.randomUUID needs a secure context; getRandomValues does not.
  function idempotencyKey() {
    if (window.crypto && window.crypto.randomUUID) {
      return window.crypto.randomUUID();
    }
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map
      .call(bytes, function (b) {
        return ("0" + b.toString(16)).slice(-2);
      })
      .join("");
  }

  function csrfToken() {
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function textLength(text) {
    return Array.from(text.trim()).length; // what the server counts: code points, trimmed
  }

  // What an action costs for `text`: the button's price, by length for rewrite.
  function cost(button, text) {
    var base = Number(button.dataset.cost);
    if (!button.dataset.charsPerToken) {
      return base;
    }
    var length = textLength(text || "");
    return Math.min(
      Number(button.dataset.maxCost),
      base + Math.ceil(length / Number(button.dataset.charsPerToken))
    );
  }

  // A button the balance does not cover looks disabled and says why; a click still asks
  // the server (the balance may have grown in another tab), which answers 402 if not.
  function refreshAffordability() {
    if (balance === null) {
      return;
    }
    document.querySelectorAll("button[data-ai-action]").forEach(function (button) {
      var price = Number(button.dataset.currentCost || button.dataset.cost);
      var short = price > balance;
      button.classList.toggle("unaffordable", short);
      if (short) {
        button.setAttribute("aria-disabled", "true");
        button.title = message("Unaffordable", { cost: number(price), remaining: number(balance) });
      } else {
        button.removeAttribute("aria-disabled");
        button.removeAttribute("title");
      }
    });
  }

  function setBalance(tokens) {
    balance = Number(tokens);
    var badge = document.getElementById("token-badge");
    if (badge) {
      badge.textContent = "⚡ " + number(tokens) + " Token";
      badge.classList.remove("updated");
      void badge.offsetWidth; // restart the animation
      badge.classList.add("updated");
    }
    document.querySelectorAll("#tools-balance, #editor-balance, #insufficient-current").forEach(function (element) {
      element.textContent = number(tokens);
    });
    refreshAffordability();
  }

  function planNames() {
    var element = document.getElementById("plan-names");
    try {
      return element ? JSON.parse(element.textContent) : {};
    } catch (error) {
      return {};
    }
  }

  // The actions the balance still covers, by their labels, for the dialog.
  function coveredActions(remaining) {
    var labels = [];
    document.querySelectorAll("button[data-ai-action]").forEach(function (button) {
      var price = Number(button.dataset.currentCost || button.dataset.cost);
      if (price <= remaining && labels.indexOf(button.dataset.label) < 0) {
        labels.push(button.dataset.label + " (⚡\u00a0" + number(price) + ")");
      }
    });
    return labels;
  }

  function openInsufficientDialog(body) {
    var dialog = document.getElementById("insufficient-tokens");
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
    var covers = document.getElementById("insufficient-covers");
    if (covers) {
      var labels = coveredActions(body.remaining);
      covers.textContent = labels.length
        ? format(covers.dataset.template, { actions: labels.join(", ") })
        : covers.dataset.none;
    }
    if (typeof dialog.showModal === "function") {
      dialog.showModal();
    } else {
      dialog.setAttribute("open", "");
    }
  }

  function errorText(body, fallback) {
    return (body && typeof body.error === "string" && body.error) || fallback;
  }

  // A streamed answer (text/event-stream): `onDelta` gets each `data: {"delta"}` as it
  // arrives; `event: done` carries the whole answer, `event: error` a failure (nothing
  // charged). Resolves like a JSON answer: {status: 200 | "error", body}.
  function readStream(response, onDelta) {
    var reader = response.body.getReader();
    var decoder = new TextDecoder();
    var buffer = "";
    var outcome = { status: "error", body: {} };

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
      } else if (typeof payload.delta === "string" && onDelta) {
        onDelta(payload.delta);
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
          return outcome;
        }
        return pump();
      });
    }
    return pump();
  }

  // Run one action. `options`: button (its data-url, data-stream), text, articleId,
  // onStream() when the streamed answer begins, onDelta(piece), onDone(body) on success;
  // onStatus(text, kind) gets every message for the user. Resolves with the answer.
  function run(options) {
    var button = options.button;
    var streamed = button.dataset.stream === "true";
    var body = { text: options.text };
    if (options.articleId) {
      body.article_id = Number(options.articleId);
    }
    if (streamed) {
      body.stream = true;
    }
    var status = options.onStatus || function () {};
    status(message("Working"), "");
    return fetch(button.dataset.url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        Accept: streamed ? "text/event-stream, application/json" : "application/json",
        "X-CSRFToken": csrfToken(),
        "Idempotency-Key": idempotencyKey(),
      },
      body: JSON.stringify(body),
    })
      .then(function (response) {
        var type = response.headers.get("Content-Type") || "";
        if (response.status === 200 && type.indexOf("text/event-stream") === 0) {
          if (options.onStream) {
            options.onStream();
          }
          return readStream(response, options.onDelta);
        }
        return response
          .json()
          .catch(function () {
            return {};
          })
          .then(function (answer) {
            return { status: response.status, body: answer };
          });
      })
      .then(function (answer) {
        var answerBody = answer.body;
        if (answer.status === 200) {
          setBalance(answerBody.tokens_remaining);
          if (answerBody.note) {
            status(message("Unchanged", { remaining: number(answerBody.tokens_remaining) }), "info");
          } else {
            status(
              message("Done", {
                used: number(answerBody.tokens_used),
                remaining: number(answerBody.tokens_remaining),
              }),
              "success"
            );
          }
          if (options.onDone) {
            options.onDone(answerBody);
          }
        } else if (answer.status === "error" || answer.status === 502) {
          status(message("ProviderError", { error: errorText(answerBody, "502") }), "error");
        } else if (answer.status === 402) {
          status("", "");
          openInsufficientDialog(answerBody);
        } else if (answer.status === 504) {
          status(message("Timeout"), "error");
        } else if (answer.status === 403 && answerBody.code === "email_not_verified") {
          status(answerBody.error, "error"); // the banner above offers to send the link again
        } else if (answer.status === 401 || answer.status === 403) {
          status(message("Session"), "error");
        } else {
          status(message("Error", { error: errorText(answerBody, String(answer.status)) }), "error");
        }
        return answer;
      })
      .catch(function () {
        status(message("Network"), "error");
        return { status: "network", body: {} };
      });
  }

  // A result as the pages show it: text, or find-image's search queries, each with a
  // copy button.
  function showResult(element, value) {
    element.textContent = "";
    if (value && typeof value === "object") {
      var heading = document.createElement("p");
      var label = document.createElement("strong");
      label.textContent = message("Search");
      heading.appendChild(label);
      element.appendChild(heading);
      var list = document.createElement("ul");
      list.className = "query-list";
      var queries = [value.query].concat(value.suggestions || []).filter(function (query, i, all) {
        return query && all.indexOf(query) === i;
      });
      queries.forEach(function (query) {
        var item = document.createElement("li");
        var text = document.createElement("span");
        text.textContent = query;
        item.appendChild(text);
        item.appendChild(copyButton(query));
        list.appendChild(item);
      });
      element.appendChild(list);
    } else {
      element.textContent = value == null ? "" : String(value);
    }
  }

  function copyButton(text) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "secondary small copy-button";
    button.textContent = message("Copy");
    button.dataset.copyText = text;
    button.dataset.copiedLabel = message("Copied");
    return button;
  }

  function closeDialogs() {
    var dialog = document.getElementById("insufficient-tokens");
    if (!dialog) {
      return;
    }
    dialog.querySelectorAll("[data-close-dialog]").forEach(function (button) {
      button.addEventListener("click", function () {
        if (typeof dialog.close === "function") {
          dialog.close();
        } else {
          dialog.removeAttribute("open");
        }
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var messages = document.getElementById("ai-messages");
    if (messages && messages.dataset.remaining) {
      balance = Number(messages.dataset.remaining);
    }
    refreshAffordability();
    closeDialogs();
  });

  window.VolxAI = {
    run: run,
    cost: cost,
    number: number,
    message: message,
    setBalance: setBalance,
    showResult: showResult,
    copyButton: copyButton,
    refreshAffordability: refreshAffordability,
  };
})();
