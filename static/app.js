// portcullis page script: JSON calls that survive access-token expiry.
//
// portcullis.fetch(url, options) sends the cookies and the CSRF header. When the answer is
// 401 with token_expired (or missing_token: the browser drops an expired access cookie), it
// refreshes once and retries once. However many calls fail together, one refresh is in flight
// per tab, and a Web Lock makes tabs of the same browser take turns: a tab that gets the lock
// right after another tab refreshed reuses that refresh instead of rotating again.
(function () {
  "use strict";
  var LOCK = "portcullis-refresh";
  var STAMP = "portcullis-refreshed-at";
  var FRESH_MS = 5000;
  var inFlight = null;

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function withCsrf(options) {
    var opts = Object.assign({ credentials: "same-origin" }, options || {});
    var headers = new Headers(opts.headers || {});
    headers.set("X-CSRF-Token", csrfToken());
    if (!headers.has("Accept")) headers.set("Accept", "application/json");
    opts.headers = headers;
    return opts;
  }

  function recentlyRefreshed() {
    try {
      return Date.now() - Number(localStorage.getItem(STAMP) || 0) < FRESH_MS;
    } catch (e) {
      return false;
    }
  }

  function doRefresh() {
    if (recentlyRefreshed()) return Promise.resolve(true);
    return window.fetch("/auth/refresh", withCsrf({ method: "POST" })).then(function (res) {
      if (res.ok) {
        try { localStorage.setItem(STAMP, String(Date.now())); } catch (e) { /* private mode */ }
      }
      return res.ok;
    });
  }

  function refreshOnce() {
    if (!inFlight) {
      var run = navigator.locks ? navigator.locks.request(LOCK, doRefresh) : doRefresh();
      inFlight = run.finally(function () { inFlight = null; });
    }
    return inFlight;
  }

  function isExpiry(res) {
    if (res.status !== 401) return Promise.resolve(false);
    return res.clone().json().then(function (body) {
      return body && (body.error === "token_expired" || body.error === "missing_token");
    }, function () { return false; });
  }

  function portcullisFetch(url, options) {
    return window.fetch(url, withCsrf(options)).then(function (res) {
      return isExpiry(res).then(function (expired) {
        if (!expired) return res;
        return refreshOnce().then(function (ok) {
          if (!ok) {
            window.location.assign("/login?next=" + encodeURIComponent(window.location.pathname));
            return res;
          }
          return window.fetch(url, withCsrf(options));
        });
      });
    });
  }

  window.portcullis = { fetch: portcullisFetch, refresh: refreshOnce };

  // Passkeys: "Add a passkey" on /account, "Sign in with a passkey" on /login. The JSON
  // ceremonies are the server's; the browser's own parse*FromJSON / toJSON do the encoding.
  function passkeysSupported() {
    return !!(window.PublicKeyCredential && PublicKeyCredential.parseCreationOptionsFromJSON &&
      PublicKeyCredential.parseRequestOptionsFromJSON && navigator.credentials);
  }

  function say(id, text) {
    var el = document.getElementById(id);
    if (el) el.textContent = text;
  }

  function jsonOrFail(res) {
    return res.json().catch(function () { return {}; }).then(function (body) {
      if (!res.ok) throw new Error(body.error_description || ("the server answered " + res.status));
      return body;
    });
  }

  function problem(err) {
    if (err && err.name === "NotAllowedError") return "The passkey prompt was cancelled or timed out.";
    return (err && err.message) || "Something went wrong.";
  }

  function addPasskey(event) {
    event.preventDefault();
    var name = (document.getElementById("passkey_name") || {}).value || "Passkey";
    say("passkey-status", "Follow your browser's prompt…");
    portcullisFetch("/auth/passkeys/register/start", { method: "POST" }).then(jsonOrFail).then(function (options) {
      var publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(options.publicKey);
      return navigator.credentials.create({ publicKey: publicKey });
    }).then(function (credential) {
      return portcullisFetch("/auth/passkeys/register/finish", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ name: name, credential: credential.toJSON() })
      }).then(jsonOrFail);
    }).then(function () {
      window.location.reload();
    }, function (err) {
      say("passkey-status", "No passkey was added: " + problem(err));
    });
  }

  function safeNext() {
    var field = document.querySelector('form[action="/auth/login"] input[name="next"]');
    try {
      // Resolved the way the browser will navigate (it drops tabs and newlines): same origin only.
      var target = new URL(field ? field.value : "", window.location.origin);
      if (field && field.value && target.origin === window.location.origin) {
        return target.pathname + target.search + target.hash;
      }
    } catch (e) { /* not a URL */ }
    return "/dashboard";
  }

  function signInWithPasskey() {
    say("passkey-login-status", "Follow your browser's prompt…");
    var loginId;
    window.fetch("/auth/passkeys/login/start", withCsrf({ method: "POST" })).then(jsonOrFail).then(function (options) {
      loginId = options.login_id;
      var publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(options.publicKey);
      return navigator.credentials.get({ publicKey: publicKey });
    }).then(function (credential) {
      return window.fetch("/auth/passkeys/login/finish", withCsrf({
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ login_id: loginId, credential: credential.toJSON() })
      })).then(jsonOrFail);
    }).then(function () {
      window.location.assign(safeNext());
    }, function (err) {
      say("passkey-login-status", "Not signed in: " + problem(err));
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var addForm = document.getElementById("add-passkey-form");
    var loginButton = document.getElementById("passkey-login");
    if (!passkeysSupported()) {
      var why = "This browser cannot use passkeys here.";
      if (addForm) { addForm.querySelector("button").disabled = true; say("passkey-status", why); }
      if (loginButton) { loginButton.disabled = true; say("passkey-login-status", why); }
      return;
    }
    if (addForm) addForm.addEventListener("submit", addPasskey);
    if (loginButton) loginButton.addEventListener("click", signInWithPasskey);
  });
})();
