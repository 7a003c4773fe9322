// Small behaviours around HTMX: Enter to send, keep the chat scrolled, show errors, Stop while streaming,
// send only once the chat's event stream is connected, confirmations without inline handlers.
(function () {
  "use strict";

  function messages() { return document.getElementById("messages"); }

  function nearBottom(el) { return el.scrollHeight - el.scrollTop - el.clientHeight < 160; }

  function scrollToEnd(force) {
    const el = messages();
    if (el && (force || nearBottom(el))) el.scrollTop = el.scrollHeight;
  }

  function updateStopButton() {
    const stop = document.getElementById("stop");
    if (!stop) return;
    const streaming = !!document.querySelector(".msg.streaming");
    stop.hidden = !streaming;
    // Swaps can land in any order (the stream, the Stop request's answer): re-check until it is over.
    clearTimeout(updateStopButton.timer);
    if (streaming) updateStopButton.timer = setTimeout(updateStopButton, 300);
  }

  function setConnected(connected) {
    const send = document.getElementById("send");
    if (send) send.disabled = !connected;
    document.body.classList.toggle("disconnected", !connected);
  }

  function toast(text) {
    const el = document.getElementById("toast");
    if (!el) return;
    el.textContent = text;
    el.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(function () { el.hidden = true; }, 5000);
  }

  document.addEventListener("keydown", function (event) {
    const target = event.target;
    if (target.matches && target.matches("#composer textarea") && event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      const send = document.getElementById("send");
      if (target.value.trim() && send && !send.disabled) htmx.trigger(target.form, "submit");
    }
  });

  // <form data-confirm="..."> asks before submitting (no inline JavaScript: the CSP forbids it).
  document.addEventListener("submit", function (event) {
    const question = event.target.getAttribute && event.target.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  }, true);

  document.addEventListener("htmx:afterRequest", function (event) {
    const form = event.detail.elt;
    if (form.id === "composer" && event.detail.successful) form.reset();
  });

  document.addEventListener("htmx:responseError", function (event) {
    let text = "Something went wrong (" + event.detail.xhr.status + ").";
    try { text = JSON.parse(event.detail.xhr.responseText).error.message || text; } catch (e) { /* not JSON */ }
    toast(text);
  });

  // Builder: remove a repeated row (alternate greeting, lore entry).
  document.addEventListener("click", function (event) {
    const button = event.target.closest && event.target.closest("[data-remove-row]");
    if (button) button.closest("[data-row]").remove();
  });

  document.addEventListener("htmx:sendError", function () { toast("The server cannot be reached."); });
  document.addEventListener("htmx:sseOpen", function () { setConnected(true); });
  document.addEventListener("htmx:sseError", function () { setConnected(false); });
  document.addEventListener("htmx:oobAfterSwap", function () { scrollToEnd(false); updateStopButton(); });

  // The theme picker applies its choice at once; the preferences form saves it (HTMX, on change).
  document.addEventListener("change", function (event) {
    const picker = event.target;
    if (picker.matches && picker.matches("[data-theme-picker]")) document.documentElement.dataset.theme = picker.value;
  });
  document.addEventListener("htmx:sseMessage", function () { scrollToEnd(false); updateStopButton(); });
  document.addEventListener("htmx:afterSwap", function () { updateStopButton(); });
  document.addEventListener("DOMContentLoaded", function () {
    scrollToEnd(true);
    updateStopButton();
    // Whatever changes the conversation (a stream, another tab, a swipe), keep the controls in step.
    const el = messages();
    if (el) new MutationObserver(function () { updateStopButton(); scrollToEnd(false); }).observe(el, {childList: true, subtree: true});
  });

  // A typing notice from another tab fades by itself.
  document.addEventListener("htmx:oobAfterSwap", function (event) {
    const el = event.detail.target;
    if (el && el.id === "typing-indicator" && el.classList.contains("active")) {
      clearTimeout(setConnected.typingTimer);
      setConnected.typingTimer = setTimeout(function () { el.classList.remove("active"); el.textContent = ""; }, 4000);
    }
  });
  // Installable app: the service worker keeps the shell and static files for offline starts.
  if ("serviceWorker" in navigator && window.isSecureContext) {
    window.addEventListener("load", function () { navigator.serviceWorker.register("/sw.js").catch(function () {}); });
  }
})();
