// Voice in the chat page: replies read aloud while they stream (the /api/v1/voice/stream socket, PCM per
// sentence played back to back with Web Audio), a play button on each message, stop (barge-in), push-to-talk
// and a call mode; in the builder, "Try it" for the character's voice. Protocol: docs/voice.md.
(function () {
  "use strict";

  // Test hook: what arrived (counted on receipt, not by listening), for the browser tests.
  const hook = window.bostoniaVoice = {frames: 0, bytes: 0, framesWhileStreaming: 0, sentences: [], utterances: 0, following: null};
  const bar = () => document.getElementById("voice-bar");
  let socket = null;
  let current = 0; // the utterance being played; audio of any other is dropped
  let context = null;
  let playHead = 0;
  let sources = [];
  let recorder = null;

  function csrf() {
    try { return JSON.parse(document.body.getAttribute("hx-headers"))["x-csrftoken"]; } catch (e) { return ""; }
  }

  function status(text) {
    const el = document.getElementById("voice-status");
    if (el) el.textContent = text;
  }

  function pressed(id) {
    const el = document.getElementById(id);
    return !!el && el.getAttribute("aria-pressed") === "true";
  }

  function setPressed(id, on) {
    const el = document.getElementById(id);
    if (el) el.setAttribute("aria-pressed", on ? "true" : "false");
  }

  // -- playback --------------------------------------------------------------------------------------

  function audio() {
    if (!context) context = new (window.AudioContext || window.webkitAudioContext)();
    if (context.state === "suspended") context.resume();
    return context;
  }

  function setSpeaking(on) {
    const stop = document.getElementById("voice-stop");
    if (stop) stop.hidden = !on;
  }

  function play(header, bytes) {
    const ctx = audio();
    const samples = new Int16Array(bytes);
    const buffer = ctx.createBuffer(1, samples.length, header.sample_rate);
    const channel = buffer.getChannelData(0);
    for (let i = 0; i < samples.length; i++) channel[i] = samples[i] / 32768;
    const source = ctx.createBufferSource();
    source.buffer = buffer;
    source.connect(ctx.destination);
    const at = Math.max(ctx.currentTime + 0.05, playHead);
    source.start(at);
    playHead = at + buffer.duration;
    sources.push(source);
    setSpeaking(true);
    source.onended = function () {
      sources = sources.filter(function (s) { return s !== source; });
      if (!sources.length) setSpeaking(false);
    };
  }

  function silence() {
    sources.forEach(function (s) { try { s.stop(); } catch (e) { /* not started */ } });
    sources = [];
    playHead = 0;
    setSpeaking(false);
  }

  // -- the socket --------------------------------------------------------------------------------------

  function send(event, data) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({event: event, data: data || {}}));
  }

  function options() {
    const skip = document.getElementById("voice-skip-actions");
    return {skip_actions: !!(skip && skip.checked)};
  }

  function follow() {
    const el = bar();
    if (pressed("voice-autoplay") || pressed("voice-call")) {
      send("voice:follow", Object.assign({conversation_id: el.dataset.conversation}, options()));
    } else {
      send("voice:unfollow");
    }
  }

  function onAudio(data) {
    const size = new DataView(data).getUint32(0);
    const header = JSON.parse(new TextDecoder().decode(new Uint8Array(data, 4, size)));
    if (header.utterance !== current) return;
    const pcm = data.slice(4 + size);
    hook.frames += 1;
    hook.bytes += pcm.byteLength;
    hook.sentences.push({utterance: header.utterance, index: header.index, text: header.text});
    if (document.querySelector(".msg.streaming")) hook.framesWhileStreaming += 1;
    play(header, pcm);
  }

  function onEvent(message) {
    const data = message.data;
    if (message.event === "voice:following") {
      hook.following = data.conversation_id;
    } else if (message.event === "voice:unfollowed") {
      hook.following = null;
    } else if (message.event === "voice:utterance:start") {
      silence();
      current = data.utterance;
      hook.utterances += 1;
      status("");
    } else if (message.event === "voice:utterance:end" && data.error) {
      status(data.error.message);
    } else if (message.event === "error") {
      status(data.message);
    }
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + "/api/v1/voice/stream");
    socket.binaryType = "arraybuffer";
    socket.onopen = function () { bar().classList.add("connected"); follow(); };
    socket.onmessage = function (event) {
      if (typeof event.data === "string") onEvent(JSON.parse(event.data)); else onAudio(event.data);
    };
    socket.onclose = function () { bar().classList.remove("connected"); setTimeout(connect, 2000); };
  }

  function stop(cancelReply) {
    current = -1;
    silence();
    send("voice:stop", {cancel_reply: !!cancelReply});
  }

  function savePreference(on) {
    fetch("/api/v1/users/me/preferences", {
      method: "PATCH",
      headers: {"content-type": "application/json", "x-csrftoken": csrf()},
      body: JSON.stringify({voice_autoplay: on}),
    });
  }

  // -- push-to-talk --------------------------------------------------------------------------------------

  function transcribe(blob) {
    status("Listening back…");
    fetch("/api/v1/voice/transcribe", {method: "POST", headers: {"content-type": blob.type, "x-csrftoken": csrf()}, body: blob})
      .then(function (response) { return response.json(); })
      .then(function (body) {
        if (body.error) { status(body.error.message); return; }
        status("");
        const box = document.querySelector("#composer textarea");
        if (!box || !body.text) return;
        box.value = body.text;
        const send = document.getElementById("send");
        if (pressed("voice-call") && send && !send.disabled) htmx.trigger(box.form, "submit");
      });
  }

  function talk() {
    const button = document.getElementById("voice-talk");
    if (recorder) { recorder.stop(); return; }
    stop(pressed("voice-call")); // the user speaks: the character stops (and, in a call, its reply too)
    navigator.mediaDevices.getUserMedia({audio: true}).then(function (stream) {
      const chunks = [];
      recorder = new MediaRecorder(stream);
      recorder.ondataavailable = function (event) { if (event.data.size) chunks.push(event.data); };
      recorder.onstop = function () {
        stream.getTracks().forEach(function (track) { track.stop(); });
        recorder = null;
        button.setAttribute("aria-pressed", "false");
        transcribe(new Blob(chunks, {type: chunks.length ? chunks[0].type : "audio/webm"}));
      };
      recorder.start();
      button.setAttribute("aria-pressed", "true");
      status("Recording… press again to send.");
    }, function () { status("The microphone is not available."); });
  }

  // -- wiring ------------------------------------------------------------------------------------------------

  document.addEventListener("click", function (event) {
    const target = event.target.closest ? event.target.closest("button") : null;
    if (!target) return;
    if (bar()) audio(); // a click lets the page play sound (browsers' autoplay rule)
    if (target.id === "voice-autoplay") {
      const on = !pressed("voice-autoplay");
      setPressed("voice-autoplay", on);
      savePreference(on);
      follow();
    } else if (target.id === "voice-call") {
      setPressed("voice-call", !pressed("voice-call"));
      follow();
    } else if (target.id === "voice-stop") {
      stop(pressed("voice-call"));
    } else if (target.id === "voice-talk") {
      talk();
    } else if (target.id === "stop") {
      stop(false); // the chat's Stop ends the reply; the voice goes quiet with it
    } else if (target.hasAttribute("data-speak")) {
      send("voice:speak", Object.assign({conversation_id: bar().dataset.conversation, message_id: target.dataset.speak}, options()));
    } else if (target.hasAttribute("data-voice-try")) {
      tryVoice(target);
    }
  });

  document.addEventListener("change", function (event) {
    if (event.target.id === "voice-skip-actions") {
      localStorage.setItem("voice.skipActions", event.target.checked ? "1" : "");
      follow();
    }
  });

  // The builder: hear the first message in the chosen voice and speed.
  function tryVoice(button) {
    const picker = button.closest("form");
    const greeting = document.getElementById("f-greeting");
    fetch("/api/v1/voice/voices").then(function (r) { return r.json(); }).then(function (voices) {
      const chosen = picker.querySelector("[name=voice_id]").value;
      const fallback = voices.items.find(function (v) { return v.is_default; });
      return fetch("/api/v1/voice/synthesize", {
        method: "POST",
        headers: {"content-type": "application/json", "x-csrftoken": csrf()},
        body: JSON.stringify({
          text: (greeting && greeting.value.trim()) || "Hello! This is how I sound.",
          voice_id: chosen || (fallback && fallback.id),
          speed: parseFloat(picker.querySelector("[name=speed]").value) || 1,
          skip_actions: true,
        }),
      });
    }).then(function (response) { return response.blob(); }).then(function (blob) {
      new Audio(URL.createObjectURL(blob)).play();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    const el = bar();
    if (!el) return;
    const skip = document.getElementById("voice-skip-actions");
    if (skip) skip.checked = localStorage.getItem("voice.skipActions") === "1";
    fetch("/api/v1/voice/voices").then(function (r) { return r.json(); }).then(function (voices) {
      if (!voices.items.length) return;
      document.body.classList.add("voice-ready");
      const talkButton = document.getElementById("voice-talk");
      const callButton = document.getElementById("voice-call");
      const canRecord = voices.speech_input && navigator.mediaDevices && window.MediaRecorder;
      if (talkButton) talkButton.hidden = !canRecord;
      if (callButton) callButton.hidden = !canRecord;
      return fetch("/api/v1/users/me/preferences").then(function (r) { return r.json(); }).then(function (prefs) {
        setPressed("voice-autoplay", !!prefs.voice_autoplay);
        connect();
      });
    });
  });
})();
