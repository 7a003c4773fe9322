"""One provider's side of the authorization code flow: discovery, the authorization URL (state, nonce,
PKCE S256), the code exchange, ID-token verification against the provider's JWKS, and user info."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import time
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
import msgspec

from bostonia.plugin_api import NotAuthenticated, Unavailable
from bostonia_oidc.settings import OIDCProvider

# Asymmetric algorithms only: an ID token signed with a shared secret or not at all is refused.
ID_TOKEN_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"]
HTTP_TIMEOUT_SECONDS = 10.0
DISCOVERY_TTL_SECONDS = 3600.0
CLOCK_SKEW_SECONDS = 60


class Identity(msgspec.Struct, frozen=True):
    """Who the provider says signed in."""

    subject: str
    email: str | None
    email_verified: bool
    name: str | None


def pkce_pair() -> tuple[str, str]:
    """A PKCE code verifier and its S256 challenge (RFC 7636)."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def _truthy(value: Any) -> bool:
    """`email_verified` is a boolean in OIDC, but some providers (Apple) send the string "true"."""
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _refused(message: str) -> NotAuthenticated:
    return NotAuthenticated(f"sign-in failed: {message}", code="oidc_failed")


class ProviderClient:
    def __init__(self, config: OIDCProvider) -> None:
        self.config = config
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self._jwks: jwt.PyJWKSet | None = None

    @property
    def name(self) -> str:
        return self.config.name

    def client_secret(self) -> str | None:
        if not self.config.client_secret_env:
            return None
        secret = os.environ.get(self.config.client_secret_env)
        if secret is None:
            raise Unavailable(f"{self.config.client_secret_env} (the {self.name} client secret) is not set")
        return secret

    async def _get_json(self, url: str, **kwargs: Any) -> Any:
        try:
            async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_SECONDS) as http:
                response = await http.get(url, **kwargs)
        except httpx.HTTPError as exc:
            raise Unavailable(f"{self.name} cannot be reached: {exc}") from None
        if response.status_code != 200:
            raise _refused(f"{self.name} answered {response.status_code} at {url}")
        try:
            return response.json()
        except ValueError:
            raise _refused(f"{self.name} sent something that is not JSON from {url}") from None

    async def metadata(self) -> dict[str, Any]:
        """The provider's endpoints: discovery (cached for an hour), overridden by explicit settings."""
        if self._metadata is None or time.monotonic() - self._metadata_at > DISCOVERY_TTL_SECONDS:
            discovered: dict[str, Any] = {}
            if self.config.issuer:
                url = self.config.issuer.rstrip("/") + "/.well-known/openid-configuration"
                discovered = await self._get_json(url)
                if discovered.get("issuer") != self.config.issuer:
                    raise _refused(f"the discovery document at {url} names another issuer")
            for key in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri"):
                if value := getattr(self.config, key):
                    discovered[key] = value
            if not discovered.get("authorization_endpoint") or not discovered.get("token_endpoint"):
                raise Unavailable(f"{self.name}: no authorization or token endpoint (set issuer or the endpoints)")
            self._metadata, self._metadata_at = discovered, time.monotonic()
        return self._metadata

    async def authorization_url(self, *, state: str, nonce: str, challenge: str, redirect_uri: str) -> str:
        endpoint = (await self.metadata())["authorization_endpoint"]
        params = {
            "response_type": "code",
            "client_id": self.config.client_id,
            "redirect_uri": redirect_uri,
            "scope": " ".join(self.config.scopes),
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        if self.config.response_mode == "form_post":
            params["response_mode"] = "form_post"
        return endpoint + ("&" if "?" in endpoint else "?") + urlencode(params)

    async def exchange(self, *, code: str, verifier: str, redirect_uri: str) -> dict[str, Any]:
        """Trade the authorization code (and the PKCE verifier) for tokens."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        }
        secret = self.client_secret()
        auth: httpx.BasicAuth | None = None
        if self.config.token_auth_method == "client_secret_basic" and secret is not None:
            auth = httpx.BasicAuth(self.config.client_id, secret)
        else:
            form["client_id"] = self.config.client_id
            if secret is not None:
                form["client_secret"] = secret
        endpoint = (await self.metadata())["token_endpoint"]
        try:
            async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_SECONDS) as http:
                response = await http.post(
                    endpoint, data=form, auth=auth or httpx.USE_CLIENT_DEFAULT, headers={"accept": "application/json"}
                )
        except httpx.HTTPError as exc:
            raise Unavailable(f"{self.name} cannot be reached: {exc}") from None
        if response.status_code != 200:
            raise _refused(f"{self.name} refused the authorization code ({response.status_code})")
        try:
            tokens = response.json()
        except ValueError:
            raise _refused(f"{self.name} sent a token response that is not JSON") from None
        if not isinstance(tokens, dict) or not tokens.get("access_token"):
            raise _refused(f"{self.name} sent no access token")
        return tokens

    async def _signing_key(self, kid: str | None) -> jwt.PyJWK:
        jwks_uri = (await self.metadata()).get("jwks_uri")
        if not jwks_uri:
            raise _refused(f"{self.name} has no jwks_uri to check ID tokens with")
        for refetch in (False, True):
            if self._jwks is None or refetch:  # keys rotate: an unknown kid is worth one refetch
                try:
                    self._jwks = jwt.PyJWKSet.from_dict(await self._get_json(jwks_uri))
                except jwt.PyJWTError as exc:
                    raise _refused(f"{self.name} published unusable keys: {exc}") from None
            keys = self._jwks.keys
            match = [key for key in keys if kid is None or key.key_id == kid]
            if match:
                return match[0]
        raise _refused(f"{self.name} signed the ID token with an unknown key")

    async def verify_id_token(self, id_token: str, *, nonce: str) -> dict[str, Any]:
        """The claims of an ID token signed by the provider for this client, with our nonce."""
        try:
            header = jwt.get_unverified_header(id_token)
        except jwt.PyJWTError as exc:
            raise _refused(f"malformed ID token ({exc})") from None
        if header.get("alg") not in ID_TOKEN_ALGORITHMS:
            raise _refused(f"ID token algorithm {header.get('alg')!r} is not accepted")
        key = await self._signing_key(header.get("kid"))
        metadata = await self.metadata()
        try:
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key.key,
                algorithms=[header["alg"]],
                audience=self.config.client_id,
                issuer=metadata.get("issuer") or self.config.issuer or None,
                leeway=CLOCK_SKEW_SECONDS,
                options={"require": ["iss", "aud", "exp", "iat", "sub"]},
            )
        except jwt.PyJWTError as exc:
            raise _refused(f"the ID token is not valid ({exc})") from None
        if not secrets.compare_digest(str(claims.get("nonce", "")), nonce):
            raise _refused("the ID token was not issued for this sign-in (nonce mismatch)")
        return claims

    async def userinfo(self, access_token: str) -> dict[str, Any] | None:
        endpoint = (await self.metadata()).get("userinfo_endpoint")
        if not endpoint:
            return None
        info = await self._get_json(endpoint, headers={"authorization": f"Bearer {access_token}"})
        if not isinstance(info, dict):
            raise _refused(f"{self.name} sent unusable user info")
        return info

    async def identity(self, tokens: dict[str, Any], *, nonce: str) -> Identity:
        """Who signed in: the verified ID token's claims, completed by the user-info endpoint (whose
        subject must match); OAuth 2 providers without ID tokens rely on user info alone."""
        claims: dict[str, Any] = {}
        if id_token := tokens.get("id_token"):
            claims = await self.verify_id_token(str(id_token), nonce=nonce)
        info = await self.userinfo(str(tokens["access_token"]))
        if info is not None:
            subject_claim = self.config.subject_claim
            if claims and str(info.get(subject_claim, info.get("sub"))) != str(claims["sub"]):
                raise _refused("the user info belongs to someone else than the ID token")
            claims = {**info, **claims}
        elif not claims:
            raise _refused(f"{self.name} returned neither an ID token nor user info")
        subject = claims["sub"] if id_token else claims.get(self.config.subject_claim)
        if subject in (None, ""):
            raise _refused(f"{self.name} did not say who signed in")
        email = claims.get("email")
        return Identity(
            subject=str(subject),
            email=str(email) if email else None,
            email_verified=_truthy(claims.get(self.config.email_verified_claim)),
            name=str(claims[self.config.name_claim]) if claims.get(self.config.name_claim) else None,
        )
