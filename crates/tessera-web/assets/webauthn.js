// Security keys and passkeys in the browser: turns the server's WebAuthn
// options (binary fields as base64url) into what navigator.credentials
// takes, and the browser's answers back into JSON. Pages opt in with data
// attributes; every message shown comes from the server or is written
// here for people.
(function () {
  'use strict';

  function fromB64url(s) {
    var b64 = s.replace(/-/g, '+').replace(/_/g, '/');
    while (b64.length % 4) { b64 += '='; }
    var bin = atob(b64);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) { out[i] = bin.charCodeAt(i); }
    return out.buffer;
  }

  function toB64url(buf) {
    var bytes = new Uint8Array(buf);
    var bin = '';
    for (var i = 0; i < bytes.length; i++) { bin += String.fromCharCode(bytes[i]); }
    return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  function withIds(list) {
    return (list || []).map(function (c) {
      var copy = Object.assign({}, c);
      copy.id = fromB64url(c.id);
      return copy;
    });
  }

  function creationOptions(json) {
    var pk = Object.assign({}, json.publicKey);
    pk.challenge = fromB64url(pk.challenge);
    pk.user = Object.assign({}, pk.user, { id: fromB64url(pk.user.id) });
    pk.excludeCredentials = withIds(pk.excludeCredentials);
    return { publicKey: pk };
  }

  function requestOptions(json, mediation, signal) {
    var pk = Object.assign({}, json.publicKey);
    pk.challenge = fromB64url(pk.challenge);
    pk.allowCredentials = withIds(pk.allowCredentials);
    var opts = { publicKey: pk };
    if (mediation) { opts.mediation = mediation; }
    if (signal) { opts.signal = signal; }
    return opts;
  }

  function credentialJSON(cred) {
    var r = cred.response;
    var response = { clientDataJSON: toB64url(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toB64url(r.attestationObject);
      if (r.getTransports) { response.transports = r.getTransports(); }
    } else {
      response.authenticatorData = toB64url(r.authenticatorData);
      response.signature = toB64url(r.signature);
      response.userHandle = r.userHandle ? toB64url(r.userHandle) : null;
    }
    return {
      id: cred.id,
      rawId: toB64url(cred.rawId),
      type: cred.type,
      response: response,
      extensions: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {}
    };
  }

  // Sends JSON to our own server; resolves with the parsed body, or
  // rejects with a sentence for people (the problem document's detail).
  function post(url, body, csrf) {
    var headers = { 'Content-Type': 'application/json', 'Accept': 'application/json' };
    if (csrf) { headers['X-CSRF-Token'] = csrf; }
    return fetch(url, {
      method: 'POST', credentials: 'same-origin', headers: headers,
      body: JSON.stringify(body || {})
    }).then(function (res) {
      return res.text().then(function (text) {
        var data = {};
        try { data = text ? JSON.parse(text) : {}; } catch (e) { data = {}; }
        if (!res.ok) {
          throw new Error(data.detail || 'That didn\u2019t work. Reload the page and try again.');
        }
        return data;
      });
    });
  }

  // The browser's own refusals, in words for people.
  function browserError(e) {
    if (e && e.name === 'NotAllowedError') {
      return 'The request was cancelled or timed out. Try again when your key is ready.';
    }
    if (e && e.name === 'InvalidStateError') {
      return 'That key is already registered to this account.';
    }
    if (e && e.name === 'SecurityError') {
      return 'This page\u2019s address doesn\u2019t match the site your keys belong to.';
    }
    if (e && e.name === 'NotSupportedError') {
      return 'This browser or key can\u2019t create this kind of key. Try another key or browser.';
    }
    // Anything else is browser-internal wording; people get a plain sentence.
    return 'Something went wrong with your key. Try again.';
  }

  function say(el, text, ok) {
    if (!el) { return; }
    el.textContent = text;
    el.hidden = !text;
    el.className = ok ? 'notice' : 'alert';
  }

  var supported = !!(window.PublicKeyCredential && navigator.credentials);

  // Registering a security key or passkey (Security page).
  document.querySelectorAll('form[data-register-key]').forEach(function (form) {
    var status = document.getElementById(form.dataset.status);
    if (!supported) {
      say(status, 'This browser can\u2019t use security keys or passkeys.', false);
      return;
    }
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      var name = form.querySelector('input[name=name]').value;
      var kind = form.dataset.registerKey;
      var button = form.querySelector('button');
      button.disabled = true;
      say(status, kind === 'passkey' ? 'Follow your browser\u2019s prompts to create the passkey\u2026'
                                     : 'Insert or touch your security key\u2026', true);
      post(kind === 'passkey' ? '/api/v1/me/two-step/passkeys' : '/api/v1/me/two-step/security-keys',
           { name: name })
        .then(function (res) {
          return navigator.credentials.create(creationOptions(res.options))
            .catch(function (e) { throw new Error(browserError(e)); });
        })
        .then(function (cred) {
          return post('/api/v1/me/two-step/keys/finish', { credential: credentialJSON(cred) });
        })
        .then(function (done) {
          if (done.recovery_key) {
            var box = document.getElementById('new-recovery');
            document.getElementById('new-recovery-key').textContent = done.recovery_key;
            box.hidden = false;
            form.hidden = true;
            say(status, 'Added. Two-step verification is on.', true);
            box.focus();
          } else {
            window.location.assign('/security?notice=key-added');
          }
        })
        .catch(function (e) {
          if (/verify it/i.test(e.message)) {
            window.location.assign('/security/verify');
            return;
          }
          say(status, e.message, false);
        })
        .then(function () { button.disabled = false; });
    });
  });

  // Answering a key challenge: the sign-in's second step, or step-up.
  document.querySelectorAll('button[data-key-challenge]').forEach(function (button) {
    var status = document.getElementById(button.dataset.status);
    var url = button.dataset.keyChallenge;
    var csrf = button.dataset.csrf;
    var next = button.dataset.next || '/security';
    if (!supported) {
      say(status, 'This browser can\u2019t use security keys or passkeys. Choose another method.', false);
      button.disabled = true;
      return;
    }
    button.addEventListener('click', function () {
      button.disabled = true;
      say(status, 'Insert or touch your security key, or use your passkey\u2026', true);
      post(url, {}, csrf)
        .then(function (res) {
          var options = res.public_key || res.options;
          return navigator.credentials.get(requestOptions(options))
            .catch(function (e) { throw new Error(browserError(e)); });
        })
        .then(function (cred) {
          return post(url, { credential: credentialJSON(cred) }, csrf);
        })
        .then(function (done) {
          if (done.new_recovery_key) {
            window.location.assign('/security?notice=verified');
            return;
          }
          window.location.assign(done.redirect || next);
        })
        .catch(function (e) { say(status, e.message, false); })
        .then(function () { button.disabled = false; });
    });
  });

  // Signing in with a passkey, no password: a button, and the browser's
  // autofill on the email field where it supports conditional mediation.
  var passkeyButton = document.querySelector('button[data-passkey-signin]');
  if (passkeyButton) {
    var status = document.getElementById(passkeyButton.dataset.status);
    var pending = null;
    var finish = function (mediation) {
      if (pending) { pending.abort(); }
      var controller = window.AbortController ? new AbortController() : null;
      pending = controller;
      return post('/api/v1/signin/passkey/start', { client: 'web' })
        .then(function (start) {
          return navigator.credentials
            .get(requestOptions(start.options, mediation, controller && controller.signal))
            .then(function (cred) {
              if (!cred) { throw new Error('No passkey was chosen.'); }
              return post('/api/v1/signin/passkey/finish',
                          { ceremony_id: start.ceremony_id, credential: credentialJSON(cred) });
            }, function (e) {
              if (e && e.name === 'AbortError') { return null; }
              throw new Error(browserError(e));
            });
        })
        .then(function (done) {
          if (done) { window.location.assign(passkeyButton.dataset.next || '/security'); }
        });
    };
    if (!supported) {
      passkeyButton.hidden = true;
    } else {
      passkeyButton.addEventListener('click', function () {
        passkeyButton.disabled = true;
        say(status, 'Choose your passkey in the browser\u2019s prompt\u2026', true);
        finish(undefined)
          .catch(function (e) { say(status, e.message, false); })
          .then(function () { passkeyButton.disabled = false; });
      });
      if (PublicKeyCredential.isConditionalMediationAvailable) {
        PublicKeyCredential.isConditionalMediationAvailable().then(function (ok) {
          if (ok) {
            document.documentElement.dataset.passkeyAutofill = 'on';
            // Nobody asked for this request: when it ends on its own (a
            // timeout, an empty authenticator) the page stays quiet.
            finish('conditional').catch(function () {});
          }
        });
      }
    }
  }
})();
