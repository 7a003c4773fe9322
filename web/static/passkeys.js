// Passkeys: the browser half of WebAuthn. The server hands out options (base64url JSON) and verifies the
// authenticator's answer; this file only converts between JSON and the ArrayBuffers the browser wants.
(function () {
  "use strict";

  function toBuffer(value) {
    const base64 = value.replace(/-/g, "+").replace(/_/g, "/");
    const binary = atob(base64 + "===".slice((base64.length + 3) % 4));
    return Uint8Array.from(binary, function (c) { return c.charCodeAt(0); }).buffer;
  }

  function toBase64url(buffer) {
    let binary = "";
    new Uint8Array(buffer).forEach(function (byte) { binary += String.fromCharCode(byte); });
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function creationOptions(json) {
    if (window.PublicKeyCredential && PublicKeyCredential.parseCreationOptionsFromJSON) {
      return PublicKeyCredential.parseCreationOptionsFromJSON(json);
    }
    const options = Object.assign({}, json, { challenge: toBuffer(json.challenge) });
    options.user = Object.assign({}, json.user, { id: toBuffer(json.user.id) });
    options.excludeCredentials = (json.excludeCredentials || []).map(function (c) {
      return Object.assign({}, c, { id: toBuffer(c.id) });
    });
    return options;
  }

  function requestOptions(json) {
    if (window.PublicKeyCredential && PublicKeyCredential.parseRequestOptionsFromJSON) {
      return PublicKeyCredential.parseRequestOptionsFromJSON(json);
    }
    const options = Object.assign({}, json, { challenge: toBuffer(json.challenge) });
    options.allowCredentials = (json.allowCredentials || []).map(function (c) {
      return Object.assign({}, c, { id: toBuffer(c.id) });
    });
    return options;
  }

  function credentialJSON(credential) {
    if (credential.toJSON) return credential.toJSON();
    const response = credential.response;
    const json = { id: credential.id, rawId: toBase64url(credential.rawId), type: credential.type, response: {} };
    json.response.clientDataJSON = toBase64url(response.clientDataJSON);
    if (response.attestationObject) json.response.attestationObject = toBase64url(response.attestationObject);
    if (response.authenticatorData) json.response.authenticatorData = toBase64url(response.authenticatorData);
    if (response.signature) json.response.signature = toBase64url(response.signature);
    if (response.userHandle) json.response.userHandle = toBase64url(response.userHandle);
    json.clientExtensionResults = credential.getClientExtensionResults ? credential.getClientExtensionResults() : {};
    return json;
  }

  function csrfToken() {
    try { return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["x-csrftoken"] || ""; }
    catch (error) { return ""; }
  }

  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json", accept: "application/json", "x-csrftoken": csrfToken() },
      body: JSON.stringify(body),
    });
    const data = await response.json().catch(function () { return {}; });
    if (!response.ok) throw new Error((data.error && data.error.message) || response.statusText);
    return data;
  }

  function showError(error) {
    const el = document.getElementById("passkey-error");
    if (!el) return;
    // A dismissed prompt is the user's choice, not a failure worth a red line.
    el.textContent = error.name === "NotAllowedError" ? "The passkey prompt was closed." : error.message;
    el.hidden = false;
  }

  async function register(button) {
    const started = await post("/api/v1/auth/passkeys/register/options", {});
    const credential = await navigator.credentials.create({ publicKey: creationOptions(started.options) });
    const name = document.getElementById("passkey-name");
    await post("/api/v1/auth/passkeys/register", {
      ceremony: started.ceremony,
      credential: credentialJSON(credential),
      name: name ? name.value : "",
    });
    if (window.htmx) htmx.ajax("GET", "/account/passkeys", { target: "#passkeys", swap: "innerHTML" });
    else window.location.reload();
  }

  async function signIn(button) {
    const started = await post("/api/v1/auth/passkeys/login/options", {});
    const credential = await navigator.credentials.get({ publicKey: requestOptions(started.options) });
    const next = button.form && button.form.elements.next ? button.form.elements.next.value : "/";
    const done = await post("/login/passkey", { ceremony: started.ceremony, credential: credentialJSON(credential), next: next });
    window.location.assign(done.redirect || "/");
  }

  document.addEventListener("click", function (event) {
    const button = event.target.closest && event.target.closest("[data-passkey-register], [data-passkey-login]");
    if (!button) return;
    event.preventDefault();
    if (!window.PublicKeyCredential) {
      showError(new Error("This browser has no passkey support."));
      return;
    }
    button.disabled = true;
    const action = button.hasAttribute("data-passkey-register") ? register : signIn;
    action(button).catch(showError).finally(function () { button.disabled = false; });
  });
})();
