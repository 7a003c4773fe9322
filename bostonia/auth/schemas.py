from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from bostonia.identity import User

Email = Annotated[str, msgspec.Meta(min_length=3, max_length=254)]
Password = Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
DisplayName = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class RegisterRequest(msgspec.Struct, forbid_unknown_fields=True):
    email: Email
    password: Password
    display_name: DisplayName | None = None


class LoginRequest(msgspec.Struct, forbid_unknown_fields=True):
    email: Email
    password: Password


class RefreshRequest(msgspec.Struct, forbid_unknown_fields=True):
    refresh_token: Annotated[str, msgspec.Meta(min_length=1, max_length=512)]


class TokenPair(msgspec.Struct, kw_only=True):
    access_token: str
    refresh_token: str
    user: User
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = 0


class LogoutRequest(msgspec.Struct, forbid_unknown_fields=True):
    # The refresh token to revoke (with its whole family). Optional: a Bearer token or the browser
    # session identifies the sign-in to end as well.
    refresh_token: Annotated[str, msgspec.Meta(min_length=1, max_length=512)] | None = None


class ForgotPasswordRequest(msgspec.Struct, forbid_unknown_fields=True):
    email: Email


class ResetPasswordRequest(msgspec.Struct, forbid_unknown_fields=True):
    token: Annotated[str, msgspec.Meta(min_length=1, max_length=512)]
    password: Password


class Notice(msgspec.Struct, kw_only=True):
    """An answer that carries no data, only what happened."""

    status: Literal["ok"] = "ok"
    message: str


class ResetLink(msgspec.Struct, kw_only=True):
    url: str
    expires_at: str


PasskeyName = Annotated[str, msgspec.Meta(max_length=64)]
Ceremony = Annotated[str, msgspec.Meta(min_length=16, max_length=128)]


class Passkey(msgspec.Struct, kw_only=True):
    id: str
    name: str
    created_at: str
    last_used_at: str | None


class PasskeyList(msgspec.Struct):
    items: list[Passkey]


class PasskeyOptions(msgspec.Struct, kw_only=True):
    """What the browser passes to `navigator.credentials.create/get` (`options`, base64url-encoded as
    `PublicKeyCredential.parseCreationOptionsFromJSON` reads it), and the ceremony to send back with it."""

    ceremony: str
    options: dict[str, object]


class PasskeyRegistration(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    ceremony: Ceremony
    credential: dict[str, object]  # the PublicKeyCredential as JSON (`credential.toJSON()`)
    name: PasskeyName = ""


class PasskeyLogin(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    ceremony: Ceremony
    credential: dict[str, object]


class BrowserPasskeyLogin(PasskeyLogin, forbid_unknown_fields=True, kw_only=True):
    next: Annotated[str, msgspec.Meta(max_length=2048)] = "/"
