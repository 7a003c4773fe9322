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

  function composerBox() { return document.querySelector("#composer textarea"); }

  function inTextField(el) {
    return !!(el && el.closest && el.closest("input, textarea, select, [contenteditable]:not([contenteditable=false])"));
  }

  function clickIfEnabled(button) {
    if (button && !button.disabled) { button.click(); return true; }
    return false;
  }

  function lastReply() {
    const replies = document.querySelectorAll("#messages > .msg.assistant:not(.streaming)");
    return replies.length ? replies[replies.length - 1] : null;
  }

  function panels() { return document.getElementById("chat-panels"); }

  function setPanels(open) {
    const aside = panels(), toggle = document.getElementById("panels-toggle");
    if (!aside || !toggle) return;
    aside.classList.toggle("open", open);
    toggle.setAttribute("aria-expanded", String(open));
    if (open) { const close = document.getElementById("panels-close"); if (close) close.focus(); }
    else toggle.focus();
  }

  function panelsAreADrawer() {
    const toggle = document.getElementById("panels-toggle");
    return !!toggle && toggle.offsetParent !== null;  // the toggle shows only where the panels are a drawer
  }

  // The chat's keys: Enter sends, Shift+Enter is a new line, Up in an empty composer edits your last
  // message, Left/Right move between the last reply's alternatives (outside text fields), Escape closes
  // what is open (an edit, the panels, a menu) or else stops the streaming reply.
  document.addEventListener("keydown", function (event) {
    const target = event.target;
    if (event.isComposing || event.altKey || event.ctrlKey || event.metaKey) return;
    const inComposer = target.matches && target.matches("#composer textarea");
    if (inComposer && event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      const send = document.getElementById("send");
      if (target.value.trim() && send && !send.disabled) htmx.trigger(target.form, "submit");
      return;
    }
    if (inComposer && event.key === "ArrowUp" && !event.shiftKey && !target.value) {
      const own = document.querySelectorAll("#messages > .msg[data-own] .tools .edit");
      if (own.length) { event.preventDefault(); own[own.length - 1].click(); }
      return;
    }
    if (event.key === "Escape") {
      const editing = target.closest && target.closest(".edit-form");
      if (editing) { event.preventDefault(); clickIfEnabled(editing.querySelector("[data-cancel]")); return; }
      if (panels() && panels().classList.contains("open")) { event.preventDefault(); setPanels(false); return; }
      const menu = document.querySelector("details.menu[open]");
      if (menu) { event.preventDefault(); menu.removeAttribute("open"); menu.querySelector("summary").focus(); return; }
      const stop = document.getElementById("stop");
      if (stop && !stop.hidden) { event.preventDefault(); stop.click(); }
      return;
    }
    if ((event.key === "ArrowLeft" || event.key === "ArrowRight") && !event.shiftKey && !inTextField(target)) {
      const reply = lastReply();
      if (!reply || !document.getElementById("messages")) return;
      const button = reply.querySelector(event.key === "ArrowLeft" ? ".swipe-left" : ".swipe-right");
      if (clickIfEnabled(button)) event.preventDefault();
    }
  });

  document.addEventListener("click", function (event) {
    const el = event.target.closest && event.target.closest("#panels-toggle, #panels-close");
    if (el) setPanels(el.id === "panels-toggle" && !panels().classList.contains("open"));
  });

  // Message times: the server writes UTC; show them in the reader's own time zone.
  function localTimes(root) {
    if (!root || !root.querySelectorAll) return;
    root.querySelectorAll(".msg time[datetime]").forEach(function (el) {
      const when = new Date(el.getAttribute("datetime"));
      if (isNaN(when)) return;
      const today = new Date().toDateString() === when.toDateString();
      el.textContent = today ? when.toLocaleTimeString([], {hour: "2-digit", minute: "2-digit"})
        : when.toLocaleString([], {dateStyle: "medium", timeStyle: "short"});
    });
  }
  document.addEventListener("htmx:load", function (event) { localTimes(event.detail.elt); });

  // A table wider than a phone scrolls in its own box: make that box reachable by keyboard.
  function scrollableTables() {
    document.querySelectorAll("table.data, table.users, table.decisions, .prompt-view table").forEach(function (table) {
      if (table.scrollWidth > table.clientWidth + 1) table.setAttribute("tabindex", "0");
      else if (table.getAttribute("tabindex") === "0") table.removeAttribute("tabindex");
    });
  }
  window.addEventListener("resize", scrollableTables);
  document.addEventListener("htmx:afterSettle", scrollableTables);

  // Screen readers: a reply is announced once, when it is complete (the list itself is not live, or every
  // streamed token would be read out).
  let streamingIds = [];
  function announceFinishedReplies() {
    const now = Array.prototype.map.call(document.querySelectorAll("#messages .msg.streaming"), function (el) { return el.id; });
    streamingIds.forEach(function (id) {
      if (now.indexOf(id) !== -1) return;
      const done = document.getElementById(id), out = document.getElementById("reply-announcer");
      if (!done || !out || done.classList.contains("error")) return;
      const name = done.querySelector(".name span"), content = done.querySelector(".content");
      out.textContent = (name ? name.textContent + ": " : "") + (content ? content.textContent.trim() : "");
    });
    streamingIds = now;
  }

  // <form data-confirm="..."> asks before submitting (no inline JavaScript: the CSP forbids it).
  document.addEventListener("submit", function (event) {
    const question = event.target.getAttribute && event.target.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  }, true);

  document.addEventListener("htmx:afterRequest", function (event) {
    const form = event.detail.elt;
    if (form.id === "composer" && event.detail.successful) form.reset();
    if (form.classList && form.classList.contains("edit-form") && event.detail.successful) {
      const box = composerBox();
      if (box) box.focus();
    }
    // Forms with data-saved say so next to their button (and that it failed, when it did).
    const state = form.getAttribute && form.getAttribute("data-saved") !== null && form.querySelector(".save-state");
    if (state) {
      state.classList.toggle("failed", !event.detail.successful);
      state.textContent = event.detail.successful ? form.getAttribute("data-saved") : "";
    }
  });
  document.addEventListener("input", function (event) {
    const form = event.target.closest && event.target.closest("form[data-saved]");
    const state = form && form.querySelector(".save-state");
    if (state) state.textContent = "";
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    const box = event.detail.target && event.detail.target.querySelector && event.detail.target.querySelector(".edit-form textarea");
    if (box) { box.focus(); box.setSelectionRange(box.value.length, box.value.length); }
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
    localTimes(document);
    scrollableTables();
    const el = messages();
    if (el) new MutationObserver(function () { updateStopButton(); scrollToEnd(false); announceFinishedReplies(); })
      .observe(el, {childList: true, subtree: true});
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
