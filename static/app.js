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

  // Dashboard: show who is signed in, fetched through the refreshing client.
  document.addEventListener("DOMContentLoaded", function () {
    var target = document.querySelector("[data-whoami]");
    if (!target) return;
    portcullisFetch("/api/me").then(function (res) { return res.ok ? res.json() : null; }).then(function (me) {
      if (me) target.textContent = me.username + " <" + me.email + ">";
    });
  });
})();
