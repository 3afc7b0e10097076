"""Tessera's OpenID Connect provider as authlib, a widely used client
library, sees it: discovery, the code flow with PKCE (the browser's part
played by a requests.Session posting the sign-in form), the ID token
checked against the JWKS, refresh rotation and reuse, userinfo,
introspection and revocation, and client_credentials for a service
account and for a confidential client.

Environment: TESSERA_URL (the issuer), CLIENT_ID, CLIENT_SECRET (a
confidential client), REDIRECT_URI (registered for it, never served),
USER_EMAIL and USER_PASSWORD (an account without two-step verification),
SA_ID, SA_EMAIL and SA_TOKEN (a service account and one of its API
tokens). Exits non-zero with the failed check's message.
"""

import html
import os
import re
import sys
import warnings
from urllib.parse import parse_qs, urljoin, urlsplit

import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from authlib.jose import JsonWebKey, jwt
    from authlib.jose.errors import JoseError

ENV = {k: os.environ[k] for k in (
    "TESSERA_URL", "CLIENT_ID", "CLIENT_SECRET", "REDIRECT_URI",
    "USER_EMAIL", "USER_PASSWORD", "SA_ID", "SA_EMAIL", "SA_TOKEN")}
BASE = ENV["TESSERA_URL"].rstrip("/")


class Failed(Exception):
    pass


def check(cond, message):
    if not cond:
        raise Failed(message)


def client(**kw):
    return OAuth2Session(ENV["CLIENT_ID"], ENV["CLIENT_SECRET"], **kw)


def discovery():
    r = requests.get(f"{BASE}/.well-known/openid-configuration", timeout=10)
    check(r.status_code == 200, f"discovery answered {r.status_code}")
    meta = r.json()
    check(meta["issuer"] == BASE, f"issuer {meta['issuer']!r} is not {BASE!r}")
    check("S256" in meta.get("code_challenge_methods_supported", []), "S256 is not offered")
    for k in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri",
              "introspection_endpoint", "revocation_endpoint", "end_session_endpoint"):
        check(meta.get(k, "").startswith(BASE + "/"), f"discovery lacks {k}")
    return meta


def browse_to_redirect(browser, url):
    """Follows the provider's redirects (signing in on its /login page when
    sent there) until it sends the browser to the relying party; returns
    that URL's query."""
    for _ in range(10):
        r = browser.get(url, allow_redirects=False, timeout=10)
        if r.status_code == 200 and urlsplit(r.url).path == "/login":
            m = re.search(r'name="csrf" value="([^"]+)"', r.text)
            check(m, "the sign-in page has no csrf field")
            r = browser.post(r.url, allow_redirects=False, timeout=30, headers={"Origin": BASE},
                             data={"csrf": m.group(1), "email": ENV["USER_EMAIL"],
                                   "password": ENV["USER_PASSWORD"]})
        refresh = re.search(r'http-equiv="refresh" content="0; url=([^"]+)"', r.text)
        if r.status_code == 200 and refresh:
            # After our own forms the provider hands back with a page that
            # moves on by itself (a redirect would break form-action 'self').
            url = urljoin(r.url, html.unescape(refresh.group(1)))
        else:
            check(r.status_code in (302, 303), f"{url} answered {r.status_code}: {r.text[:300]}")
            url = urljoin(r.url, r.headers["Location"])
        if url.startswith(ENV["REDIRECT_URI"]):
            return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    raise Failed("no redirect to the relying party after 10 hops")


def code_flow(meta, browser):
    """One authorization: returns the tokens and the validated ID token claims."""
    oauth = client(scope="openid email profile offline_access",
                   redirect_uri=ENV["REDIRECT_URI"], code_challenge_method="S256")
    verifier, nonce = generate_token(64), generate_token(24)
    url, state = oauth.create_authorization_url(
        meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce)
    back = browse_to_redirect(browser, url)
    check("code" in back, f"no code came back: {back}")
    check(back.get("state") == state, "state did not come back unchanged")
    check(back.get("iss") == meta["issuer"], "iss (RFC 9207) is missing or wrong")
    # A wrong verifier is refused: PKCE is enforced, not only accepted.
    try:
        client(redirect_uri=ENV["REDIRECT_URI"]).fetch_token(
            meta["token_endpoint"], code=back["code"], code_verifier=generate_token(64))
        raise Failed("a wrong code_verifier was accepted")
    except OAuthError as e:
        check(e.error == "invalid_grant", f"wrong verifier: {e.error}")
    # The refused attempt may have used the code up: authorize again.
    url, state = oauth.create_authorization_url(
        meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce)
    back = browse_to_redirect(browser, url)
    check(back.get("state") == state, "state did not come back unchanged")
    token = oauth.fetch_token(meta["token_endpoint"], code=back["code"], code_verifier=verifier)
    for k in ("access_token", "refresh_token", "id_token"):
        check(token.get(k), f"the token response has no {k}")
    claims = validate_id_token(meta, token["id_token"], nonce)
    try:
        validate_id_token(meta, token["id_token"], "another nonce")
        raise Failed("an ID token with another nonce passed validation")
    except JoseError:
        pass
    return token, claims


def validate_id_token(meta, id_token, nonce):
    keys = JsonWebKey.import_key_set(requests.get(meta["jwks_uri"], timeout=10).json())
    claims = jwt.decode(id_token, keys, claims_options={
        "iss": {"essential": True, "value": meta["issuer"]},
        "aud": {"essential": True, "value": ENV["CLIENT_ID"]},
        "nonce": {"essential": True, "value": nonce},
        "exp": {"essential": True},
        "sub": {"essential": True},
    })
    claims.validate(leeway=5)
    return claims


def introspect(meta, token):
    r = client().introspect_token(meta["introspection_endpoint"], token=token)
    check(r.status_code == 200, f"introspection answered {r.status_code}: {r.text}")
    return r.json()


def main():
    meta = discovery()
    print("ok - discovery")
    browser = requests.Session()
    token, claims = code_flow(meta, browser)
    check(claims.get("email") == ENV["USER_EMAIL"], f"ID token email {claims.get('email')!r}")
    print(f"ok - code flow with PKCE; ID token valid (sub {claims['sub']}, acr {claims.get('acr')})")

    info = requests.get(meta["userinfo_endpoint"], timeout=10,
                        headers={"Authorization": f"Bearer {token['access_token']}"})
    check(info.status_code == 200, f"userinfo answered {info.status_code}: {info.text}")
    check(info.json().get("sub") == claims["sub"], "userinfo names another subject")
    check(info.json().get("email") == ENV["USER_EMAIL"], "userinfo lacks the email")
    print("ok - userinfo")

    first = token["refresh_token"]
    rotated = client().refresh_token(meta["token_endpoint"], refresh_token=first)
    check(rotated.get("refresh_token") and rotated["refresh_token"] != first,
          "refresh did not rotate the refresh token")
    check(rotated["access_token"] != token["access_token"], "refresh kept the access token")
    check(introspect(meta, rotated["access_token"]).get("active") is True,
          "the refreshed access token is not active")
    try:
        client().refresh_token(meta["token_endpoint"], refresh_token=first)
        raise Failed("a replaced refresh token was accepted again")
    except OAuthError as e:
        check(e.error == "invalid_grant", f"reused refresh token: {e.error}, not invalid_grant")
    check(introspect(meta, rotated["refresh_token"]).get("active") is False,
          "reuse did not revoke the rest of the family")
    print("ok - refresh rotates; a reused refresh token is invalid_grant and ends the family")

    token, _ = code_flow(meta, browser)  # the provider's session still stands
    seen = introspect(meta, token["access_token"])
    check(seen.get("active") is True, f"a fresh access token is inactive: {seen}")
    check(seen.get("sub") == claims["sub"] and seen.get("client_id") == ENV["CLIENT_ID"],
          f"introspection: {seen}")
    r = client().revoke_token(meta["revocation_endpoint"], token=token["refresh_token"])
    check(r.status_code == 200, f"revocation answered {r.status_code}: {r.text}")
    for kind in ("access_token", "refresh_token"):
        check(introspect(meta, token[kind]).get("active") is False,
              f"the {kind} is still active after revocation")
    info = requests.get(meta["userinfo_endpoint"], timeout=10,
                        headers={"Authorization": f"Bearer {token['access_token']}"})
    check(info.status_code == 401, f"userinfo after revocation answered {info.status_code}")
    print("ok - introspection active, then inactive after revocation (userinfo 401)")

    for who in (ENV["SA_ID"], ENV["SA_EMAIL"]):
        sa = OAuth2Session(who, ENV["SA_TOKEN"]).fetch_token(
            meta["token_endpoint"], grant_type="client_credentials")
        seen = introspect(meta, sa["access_token"])
        check(seen.get("active") is True and seen.get("sub") == ENV["SA_ID"],
              f"service account token introspected as {seen}")
    try:
        OAuth2Session(ENV["SA_ID"], ENV["SA_TOKEN"] + "x").fetch_token(
            meta["token_endpoint"], grant_type="client_credentials")
        raise Failed("a wrong API token was accepted")
    except OAuthError as e:
        check(e.error == "invalid_client", f"wrong API token: {e.error}")
    print("ok - client_credentials with a service account's API token (by id and by email)")

    own = client().fetch_token(meta["token_endpoint"], grant_type="client_credentials")
    seen = introspect(meta, own["access_token"])
    check(seen.get("active") is True and seen.get("client_id") == ENV["CLIENT_ID"],
          f"the client's own token introspected as {seen}")
    print("ok - client_credentials with a confidential client's secret")


if __name__ == "__main__":
    try:
        main()
    except (Failed, OAuthError, JoseError, KeyError, requests.RequestException) as e:
        print(f"not ok - {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
    print("authlib flow passed")
