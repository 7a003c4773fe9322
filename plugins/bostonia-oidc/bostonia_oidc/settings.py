"""The plugin's `[plugins.oidc]` table: the sign-in providers (Google, Discord, Apple... are configurations)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

ProviderName = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")]


class OIDCProvider(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """One OpenID Connect (or OAuth 2) sign-in provider."""

    name: ProviderName  # in URLs: /auth/oidc/<name>/login
    label: str = ""  # shown as "Sign in with <label>"
    # Discovery reads <issuer>/.well-known/openid-configuration; explicit endpoints below override it.
    issuer: str = ""
    client_id: str
    client_secret_env: str = ""  # NAME of the environment variable holding the client secret
    scopes: list[str] = msgspec.field(default_factory=lambda: ["openid", "email", "profile"])
    authorization_endpoint: str = ""
    token_endpoint: str = ""
    userinfo_endpoint: str = ""
    jwks_uri: str = ""
    token_auth_method: Literal["client_secret_basic", "client_secret_post"] = "client_secret_basic"
    # "form_post" for providers that POST the result back (Apple when asking for name/email).
    response_mode: Literal["query", "form_post"] = "query"
    # Claim names, for OAuth 2 providers whose user info is not standard OIDC (Discord: "id", "verified").
    subject_claim: str = "sub"
    email_verified_claim: str = "email_verified"
    name_claim: str = "name"


class OIDCSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    providers: list[OIDCProvider] = msgspec.field(default_factory=list)
