// Volx: small enhancements for every page. The pages work without them.
(function () {
  "use strict";

  document.documentElement.classList.add("js");

  // The clipboard API needs a secure context (HTTPS or localhost); elsewhere a hidden
  // text box and execCommand still copy.
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).catch(function () {
        return fallbackCopy(text);
      });
    }
    return Promise.resolve(fallbackCopy(text));
  }

  function fallbackCopy(text) {
    var box = document.createElement("textarea");
    box.value = text;
    box.setAttribute("readonly", "");
    box.style.position = "fixed";
    box.style.opacity = "0";
    document.body.appendChild(box);
    box.select();
    try {
      document.execCommand("copy");
    } finally {
      document.body.removeChild(box);
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    // The phone-sized header: the menu is shut behind its button (the CSS shows the
    // button and hides the menu only below 720px, and only with this script running).
    var toggle = document.getElementById("menu-toggle");
    var menu = document.getElementById("site-menu");
    if (toggle && menu) {
      toggle.hidden = false;
      toggle.addEventListener("click", function () {
        var open = toggle.getAttribute("aria-expanded") !== "true";
        toggle.setAttribute("aria-expanded", open ? "true" : "false");
        menu.classList.toggle("open", open);
      });
    }

    // The language switcher submits itself when a language is picked.
    document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
      select.addEventListener("change", function () {
        select.form.submit();
      });
    });

    // Copy buttons: `data-copy-text` (the text itself) or `data-copy-target` (the
    // selector of the field or element whose text to copy); the label says "Copied" for
    // a moment (`data-copied-label`).
    document.addEventListener("click", function (event) {
      var button = event.target.closest("[data-copy-text], [data-copy-target]");
      if (!button) {
        return;
      }
      var text = button.dataset.copyText;
      if (text === undefined) {
        var source = document.querySelector(button.dataset.copyTarget);
        text = source ? ("value" in source ? source.value : source.textContent) : "";
      }
      copyText(text.trim()).then(function () {
        var label = button.textContent;
        button.textContent = button.dataset.copiedLabel || label;
        button.classList.add("copied");
        window.setTimeout(function () {
          button.textContent = label;
          button.classList.remove("copied");
        }, 1500);
      });
    });

    // Forms that must not be sent twice by a double click.
    document.querySelectorAll("form[data-submit-once]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (form.dataset.submitted) {
          event.preventDefault();
          return;
        }
        form.dataset.submitted = "true";
        form.querySelectorAll("button[type=submit]").forEach(function (button) {
          button.setAttribute("aria-disabled", "true");
        });
      });
    });
  });
})();
