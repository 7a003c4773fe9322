// Small behaviours around HTMX: Enter to send, keep the chat scrolled, show errors, Stop while streaming.
(function () {
  "use strict";

  function messages() { return document.getElementById("messages"); }

  function nearBottom(el) { return el.scrollHeight - el.scrollTop - el.clientHeight < 120; }

  function scrollToEnd(force) {
    const el = messages();
    if (el && (force || nearBottom(el))) el.scrollTop = el.scrollHeight;
  }

  function updateStopButton() {
    const stop = document.getElementById("stop");
    if (stop) stop.hidden = !document.querySelector(".msg.streaming");
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
      if (target.value.trim()) htmx.trigger(target.form, "submit");
    }
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    const form = event.detail.elt;
    if (form.id === "composer" && event.detail.successful) form.reset();
  });

  document.addEventListener("htmx:responseError", function (event) {
    let text = "Something went wrong (" + event.detail.xhr.status + ").";
    try { text = JSON.parse(event.detail.xhr.responseText).error.message || text; } catch (e) { /* not JSON */ }
    toast(text);
  });

  document.addEventListener("htmx:sendError", function () { toast("The server cannot be reached."); });

  // Forms that need a second thought carry data-confirm="question" (no inline handlers: the CSP forbids them).
  document.addEventListener("submit", function (event) {
    const form = event.target;
    const question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  }, true);

  // The theme picker applies its choice at once; the preferences form saves it (HTMX, on change).
  document.addEventListener("change", function (event) {
    const picker = event.target;
    if (picker.matches && picker.matches("[data-theme-picker]")) document.documentElement.dataset.theme = picker.value;
  });
  document.addEventListener("htmx:afterSwap", function () { scrollToEnd(true); updateStopButton(); });
  document.addEventListener("htmx:sseMessage", function () { scrollToEnd(false); updateStopButton(); });
  document.addEventListener("htmx:sseClose", updateStopButton);
  document.addEventListener("DOMContentLoaded", function () { scrollToEnd(true); updateStopButton(); });
})();
