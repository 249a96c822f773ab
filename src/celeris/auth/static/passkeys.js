// celeris.auth passkeys: buttons with data-passkey="register" or data-passkey="login".
(() => {
  const prefix = document.documentElement.dataset.authPrefix || "/auth";
  const csrf = () => (document.querySelector("input[name=csrf_token]") || {}).value || "";

  async function post(path, body) {
    const response = await fetch(prefix + path, {
      method: "POST",
      credentials: "same-origin",
      headers: {"content-type": "application/json", accept: "application/json", "x-csrf-token": csrf()},
      body: JSON.stringify(body || {}),
    });
    const data = response.status === 204 ? {} : await response.json();
    if (!response.ok) throw new Error(data.detail || response.statusText);
    return data;
  }

  async function register(name) {
    const options = await post("/passkeys/register/options");
    const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(options);
    const credential = await navigator.credentials.create({publicKey});
    return post("/passkeys/register", {name, credential: credential.toJSON()});
  }

  async function signIn() {
    const options = await post("/passkeys/login/options");
    const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(options);
    const credential = await navigator.credentials.get({publicKey});
    return post("/passkeys/login", {credential: credential.toJSON()});
  }

  document.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-passkey]");
    if (!button) return;
    event.preventDefault();
    const status = document.getElementById("passkey-status");
    try {
      if (button.dataset.passkey === "register") {
        const name = (document.getElementById("passkey-name") || {}).value || "passkey";
        await register(name);
        if (status) status.textContent = "Passkey added.";
        window.location.reload();
      } else {
        await signIn();
        window.location.assign(button.dataset.next || "/");
      }
    } catch (error) {
      if (status) status.textContent = error.message;
    }
  });
})();
