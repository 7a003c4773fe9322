"""A small but real OpenID Connect provider for tests, served over HTTP on localhost.

It implements discovery, the authorization endpoint (auto-approving the user queued in `next_user`),
the token endpoint (client authentication, single-use codes, redirect_uri and PKCE S256 checks), an
RS256-signed ID token, JWKS and user info. Knobs let tests make it misbehave (wrong nonce, foreign key).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlencode

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from litestar import Litestar, Request, Response, get, post
from litestar.response import Redirect

from tests.helpers import serve_in_thread

CLIENT_ID = "bostonia-test-client"
CLIENT_SECRET = "test client secret"


class Provider:
    def __init__(self) -> None:
        self.issuer = ""
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "test-key-1"
        self.redirect_uris: set[str] = set()
        self.next_user: dict[str, Any] = {
            "sub": "user-1",
            "email": "oidc@example.com",
            "email_verified": True,
            "name": "Oidc User",
        }
        self.codes: dict[str, dict[str, Any]] = {}
        self.access_tokens: dict[str, dict[str, Any]] = {}
        self.token_requests: list[dict[str, str]] = []
        self.authorize_requests: list[dict[str, str]] = []
        self.wrong_nonce = False
        self.sign_with: Any = None  # another private key, to forge ID tokens

    def jwks(self) -> dict[str, Any]:
        public = jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return {"keys": [{**public, "kid": self.kid, "use": "sig", "alg": "RS256"}]}

    def id_token(self, user: dict[str, Any], nonce: str) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            "nonce": "not-the-nonce" if self.wrong_nonce else nonce,
            **user,
        }
        return jwt.encode(claims, self.sign_with or self.key, algorithm="RS256", headers={"kid": self.kid})

    def app(self) -> Litestar:
        provider = self

        @get("/.well-known/openid-configuration", sync_to_thread=False)
        def discovery() -> dict[str, Any]:
            return {
                "issuer": provider.issuer,
                "authorization_endpoint": f"{provider.issuer}/authorize",
                "token_endpoint": f"{provider.issuer}/token",
                "userinfo_endpoint": f"{provider.issuer}/userinfo",
                "jwks_uri": f"{provider.issuer}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
            }

        @get("/jwks", sync_to_thread=False)
        def jwks() -> dict[str, Any]:
            return provider.jwks()

        @get("/authorize", sync_to_thread=False)
        def authorize(request: Request[Any, Any, Any]) -> Response[Any]:
            params = {k: str(v) for k, v in request.query_params.items()}
            provider.authorize_requests.append(params)
            if params.get("client_id") != CLIENT_ID or params.get("redirect_uri") not in provider.redirect_uris:
                return Response({"error": "invalid_client"}, status_code=400)
            if params.get("response_type") != "code" or params.get("code_challenge_method") != "S256":
                return Response({"error": "invalid_request"}, status_code=400)
            code = secrets.token_urlsafe(16)
            provider.codes[code] = {**params, "user": dict(provider.next_user)}
            query = urlencode({"code": code, "state": params.get("state", "")})
            return Redirect(f"{params['redirect_uri']}?{query}", status_code=302)

        @post("/token", status_code=200)
        async def token(request: Request[Any, Any, Any]) -> Response[Any]:
            form = {k: str(v) for k, v in (await request.form()).items()}
            provider.token_requests.append(form)
            client_id, secret = form.get("client_id"), form.get("client_secret")
            if header := request.headers.get("authorization"):
                client_id, _, secret = base64.b64decode(header.split(" ", 1)[1]).decode().partition(":")
            if client_id != CLIENT_ID or secret != CLIENT_SECRET:
                return Response({"error": "invalid_client"}, status_code=401)
            grant = provider.codes.pop(form.get("code", ""), None)  # single use
            if grant is None or form.get("redirect_uri") != grant["redirect_uri"]:
                return Response({"error": "invalid_grant"}, status_code=400)
            digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
            if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant["code_challenge"]:
                return Response({"error": "invalid_grant", "error_description": "PKCE"}, status_code=400)
            access_token = secrets.token_urlsafe(16)
            provider.access_tokens[access_token] = grant["user"]
            return Response(
                {
                    "access_token": access_token,
                    "token_type": "Bearer",
                    "expires_in": 300,
                    "id_token": provider.id_token(grant["user"], grant.get("nonce", "")),
                }
            )

        @get("/userinfo", sync_to_thread=False)
        def userinfo(request: Request[Any, Any, Any]) -> Response[Any]:
            token = request.headers.get("authorization", "").removeprefix("Bearer ")
            if token not in provider.access_tokens:
                return Response({"error": "invalid_token"}, status_code=401)
            return Response(provider.access_tokens[token])

        return Litestar([discovery, jwks, authorize, token, userinfo], logging_config=None)


@contextmanager
def running_provider() -> Iterator[Provider]:
    provider = Provider()
    with serve_in_thread(provider.app()) as url:
        provider.issuer = url
        yield provider
