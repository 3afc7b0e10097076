"""A tiny relying party for Tessera's OpenID Connect provider.

Sign-in is the authorization code flow with PKCE (S256) and a nonce;
the ID token is checked against the provider's published keys (issuer,
audience, nonce, expiry, signature). /sensitive asks for a fresh
two-step verification (acr_values=urn:tessera:acr:aal2 with max_age), the
way a real application would guard a dangerous page. Sign-out is
RP-initiated logout. Everything lives in memory: restart, and everyone is
signed out.

Config (environment): TESSERA_URL, CLIENT_ID, CLIENT_SECRET (empty for a
public client), APP_PORT (8000), APP_URL (http://localhost:APP_PORT),
STEP_UP_MAX_AGE (300: how old, in seconds, a verification may be for
/sensitive).
"""

import html
import os
import secrets
import time
import warnings
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session

with warnings.catch_warnings():  # authlib.jose is deprecated in favour of joserfc
    warnings.simplefilter("ignore")
    from authlib.jose import JsonWebKey, jwt

TESSERA_URL = os.environ.get("TESSERA_URL", "http://localhost:8080").rstrip("/")
CLIENT_ID = os.environ["CLIENT_ID"]
CLIENT_SECRET = os.environ.get("CLIENT_SECRET") or None
APP_PORT = int(os.environ.get("APP_PORT", "8000"))
APP_URL = os.environ.get("APP_URL", f"http://localhost:{APP_PORT}").rstrip("/")
STEP_UP_MAX_AGE = int(os.environ.get("STEP_UP_MAX_AGE", "300"))
AAL2 = "urn:tessera:acr:aal2"

PROVIDER = requests.get(f"{TESSERA_URL}/.well-known/openid-configuration", timeout=10).json()
SESSIONS = {}  # our cookie -> {"id_token": str, "claims": dict}
PENDING = {}  # state -> {"verifier", "nonce", "next"}


def oauth_client():
    return OAuth2Session(
        CLIENT_ID,
        CLIENT_SECRET,
        scope="openid email profile",
        redirect_uri=f"{APP_URL}/callback",
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic" if CLIENT_SECRET else "none",
    )


def validated_claims(id_token, nonce):
    """The ID token's claims once its signature (by a published key),
    issuer, audience, nonce and expiry check out; raises otherwise."""
    keys = JsonWebKey.import_key_set(requests.get(PROVIDER["jwks_uri"], timeout=10).json())
    claims = jwt.decode(
        id_token,
        keys,
        claims_options={
            "iss": {"essential": True, "value": PROVIDER["issuer"]},
            "aud": {"essential": True, "value": CLIENT_ID},
            "nonce": {"essential": True, "value": nonce},
            "exp": {"essential": True},
            "sub": {"essential": True},
        },
    )
    claims.validate(leeway=30)
    return dict(claims)


def is_fresh_aal2(claims):
    return claims.get("acr") == AAL2 and time.time() - claims.get("auth_time", 0) < STEP_UP_MAX_AGE


def page(title, body):
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{title}</title></head>
<body><h1>{title}</h1>{body}</body></html>"""


def claims_table(claims):
    def text(v):
        return " ".join(v) if isinstance(v, list) else str(v)

    rows = "".join(
        f'<tr><th>{k}</th><td id="{k}">{html.escape(text(claims.get(k)))}</td></tr>'
        for k in ("sub", "email", "acr", "amr", "auth_time")
    )
    return f"<table>{rows}</table>"


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        route = {"/": self.home, "/login": self.login, "/callback": self.callback,
                 "/sensitive": self.sensitive, "/logout": self.logout}.get(url.path)
        if route is None:
            return self.send(404, page("Not found", ""))
        try:
            route(query)
        except Exception as e:  # a demo: say what went wrong
            self.send(400, page("Sign-in failed", f"<p id='error'>{html.escape(repr(e))}</p>"))

    def session(self):
        cookie = SimpleCookie(self.headers.get("Cookie", "")).get("rp_session")
        return SESSIONS.get(cookie.value) if cookie else None

    def home(self, _query):
        s = self.session()
        if s is None:
            return self.send(200, page("Relying app", '<a href="/login">Sign in</a>'))
        links = '<a href="/sensitive">Sensitive page</a> · <a href="/logout">Sign out</a>'
        self.send(200, page("Signed in", claims_table(s["claims"]) + links))

    def login(self, _query, next_path="/", **extra):
        """Off to the provider's authorization endpoint, `extra` added."""
        state, nonce, verifier = generate_token(24), generate_token(24), generate_token(64)
        url, _ = oauth_client().create_authorization_url(
            PROVIDER["authorization_endpoint"], state=state, nonce=nonce,
            code_verifier=verifier, **extra)
        PENDING[state] = {"verifier": verifier, "nonce": nonce, "next": next_path}
        self.redirect(url)

    def callback(self, query):
        pending = PENDING.pop(query.get("state", ""), None)
        if pending is None:
            raise ValueError("unknown or reused state")
        if "error" in query:
            raise ValueError(f"{query['error']}: {query.get('error_description', '')}")
        token = oauth_client().fetch_token(
            PROVIDER["token_endpoint"], code=query["code"], code_verifier=pending["verifier"])
        claims = validated_claims(token["id_token"], pending["nonce"])
        sid = secrets.token_urlsafe(24)
        SESSIONS[sid] = {"id_token": token["id_token"], "claims": claims}
        cookie = f"rp_session={sid}; HttpOnly; SameSite=Lax; Path=/"
        if pending["next"] == "/sensitive":
            # Shown at once: the provider just vouched for this verification.
            return self.send(200, self.sensitive_page(claims), cookie)
        self.redirect("/", cookie)

    def sensitive(self, query):
        s = self.session()
        if s is None or not is_fresh_aal2(s["claims"]):
            return self.login(query, "/sensitive", acr_values=AAL2, max_age=str(STEP_UP_MAX_AGE))
        self.send(200, self.sensitive_page(s["claims"]))

    def sensitive_page(self, claims):
        return page("Sensitive page", claims_table(claims) + '<a href="/">Home</a>')

    def logout(self, _query):
        cookie = SimpleCookie(self.headers.get("Cookie", "")).get("rp_session")
        s = SESSIONS.pop(cookie.value, None) if cookie else None
        if s is None:
            return self.redirect("/")
        params = urlencode({"id_token_hint": s["id_token"], "post_logout_redirect_uri": f"{APP_URL}/"})
        self.redirect(f"{PROVIDER['end_session_endpoint']}?{params}",
                      "rp_session=; Max-Age=0; Path=/")

    def redirect(self, to, cookie=None):
        self.send_response(303)
        self.send_header("Location", to)
        if cookie:
            self.send_header("Set-Cookie", cookie)
        self.end_headers()

    def send(self, status, body, cookie=None):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        if cookie:
            self.send_header("Set-Cookie", cookie)
        self.end_headers()
        self.wfile.write(data)


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", APP_PORT), Handler)
    print(f"relying app on {APP_URL} (provider {TESSERA_URL})", flush=True)
    server.serve_forever()
