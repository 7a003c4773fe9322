"""Passkeys (WebAuthn): register a device's credential to an account, then sign in with it, no password.

A ceremony is two requests: the server hands out options with a fresh challenge (kept here, server-side,
for a few minutes, used once), the browser asks the authenticator, and the server verifies the answer
against that challenge, the relying party (this server's host name) and the page's origin. Sign-in uses
discoverable credentials: the browser offers the passkeys it holds for this site, no email needed.

Browsers only allow a domain name as the relying party (`localhost` works over plain HTTP; an IP address
never does), so the relying party comes from `[server] public_url`, else from the host a request came to.
"""

from __future__ import annotations

import ipaddress
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import msgspec

from bostonia.auth.schemas import Passkey, PasskeyOptions
from bostonia.auth.store import PasskeyStore
from bostonia.errors import InvalidInput, NotAuthenticated, NotFound
from bostonia.identity import User
from bostonia.users.store import UserStore

CEREMONY_SECONDS = 300
MAX_CEREMONIES = 10_000  # abandoned ceremonies are forgotten oldest first beyond this
MAX_PASSKEYS_PER_USER = 20
RP_NAME = "Bostonia"


@dataclass(frozen=True)
class RelyingParty:
    """Who the credential is for: a host name (`rp_id`) and the exact origin pages are served from."""

    rp_id: str
    origin: str

    @classmethod
    def from_url(cls, base_url: str) -> RelyingParty:
        parts = urlsplit(base_url)
        host = parts.hostname or ""
        try:
            ipaddress.ip_address(host)
        except ValueError:
            pass
        else:
            raise InvalidInput(
                f"passkeys need this server to be reached by a name, not the address {host}"
                " (use http://localhost:… or set [server] public_url)",
                code="passkeys_need_a_domain",
            )
        if not host:
            raise InvalidInput("cannot tell this server's host name for passkeys", code="passkeys_need_a_domain")
        return cls(rp_id=host, origin=f"{parts.scheme}://{parts.netloc}")


@dataclass(frozen=True)
class _Ceremony:
    challenge: bytes
    rp: RelyingParty
    user_id: str | None  # registration: the account adding a passkey; sign-in: None
    expires: float


class PasskeyService:
    def __init__(self, passkeys: PasskeyStore, users: UserStore) -> None:
        self.passkeys = passkeys
        self.users = users
        self._ceremonies: OrderedDict[str, _Ceremony] = OrderedDict()

    # -- ceremonies ------------------------------------------------------------------------------------

    def _begin(self, rp: RelyingParty, user_id: str | None) -> tuple[str, bytes]:
        now = time.monotonic()
        while self._ceremonies and (
            len(self._ceremonies) >= MAX_CEREMONIES or next(iter(self._ceremonies.values())).expires < now
        ):
            self._ceremonies.popitem(last=False)
        ceremony, challenge = secrets.token_urlsafe(32), secrets.token_bytes(32)
        self._ceremonies[ceremony] = _Ceremony(challenge, rp, user_id, now + CEREMONY_SECONDS)
        return ceremony, challenge

    def _finish(self, ceremony: str, rp: RelyingParty, user_id: str | None) -> _Ceremony:
        """The ceremony's record, spent: each challenge answers one request, from the same site."""
        found = self._ceremonies.pop(ceremony, None)
        if found is None or found.expires < time.monotonic() or found.rp != rp or found.user_id != user_id:
            raise InvalidInput("this passkey request expired or is not yours; start again", code="passkey_ceremony")
        return found

    # -- registration -------------------------------------------------------------------------------

    async def registration_options(self, user: User, rp: RelyingParty) -> PasskeyOptions:
        import webauthn
        from webauthn.helpers.structs import (
            AuthenticatorSelectionCriteria,
            PublicKeyCredentialDescriptor,
            ResidentKeyRequirement,
            UserVerificationRequirement,
        )

        existing = await self.passkeys.for_user(user.id)
        if len(existing) >= MAX_PASSKEYS_PER_USER:
            raise InvalidInput(
                f"an account can have at most {MAX_PASSKEYS_PER_USER} passkeys", code="too_many_passkeys"
            )
        ceremony, challenge = self._begin(rp, user.id)
        options = webauthn.generate_registration_options(
            rp_id=rp.rp_id,
            rp_name=RP_NAME,
            user_id=user.id.encode(),
            user_name=user.email,
            user_display_name=user.display_name,
            challenge=challenge,
            # Discoverable, so signing in needs no email; the device's own lock confirms it is its owner.
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.REQUIRED,
                user_verification=UserVerificationRequirement.PREFERRED,
            ),
            exclude_credentials=[
                PublicKeyCredentialDescriptor(id=webauthn.base64url_to_bytes(p.credential_id)) for p in existing
            ],
        )
        return PasskeyOptions(ceremony=ceremony, options=msgspec.json.decode(webauthn.options_to_json(options)))

    async def register(
        self, user: User, ceremony: str, credential: dict[str, Any], name: str, rp: RelyingParty
    ) -> Passkey:
        import webauthn
        from webauthn.helpers import bytes_to_base64url
        from webauthn.helpers.exceptions import WebAuthnException

        pending = self._finish(ceremony, rp, user.id)
        try:
            verified = webauthn.verify_registration_response(
                credential=credential,
                expected_challenge=pending.challenge,
                expected_rp_id=rp.rp_id,
                expected_origin=rp.origin,
            )
        except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
            raise InvalidInput(f"the passkey could not be verified: {exc}", code="passkey_invalid") from None
        credential_id = bytes_to_base64url(verified.credential_id)
        if await self.passkeys.by_credential(credential_id) is not None:
            raise InvalidInput("this passkey is already registered", code="passkey_exists")
        label = name.strip() or f"Passkey {len(await self.passkeys.for_user(user.id)) + 1}"
        passkey_id = await self.passkeys.add(
            user_id=user.id,
            credential_id=credential_id,
            public_key=verified.credential_public_key,
            sign_count=verified.sign_count,
            name=label,
        )
        return next(p for p in await self.list(user) if p.id == passkey_id)

    # -- signing in ----------------------------------------------------------------------------------

    def authentication_options(self, rp: RelyingParty) -> PasskeyOptions:
        import webauthn
        from webauthn.helpers.structs import UserVerificationRequirement

        ceremony, challenge = self._begin(rp, None)
        options = webauthn.generate_authentication_options(
            rp_id=rp.rp_id, challenge=challenge, user_verification=UserVerificationRequirement.PREFERRED
        )
        return PasskeyOptions(ceremony=ceremony, options=msgspec.json.decode(webauthn.options_to_json(options)))

    async def authenticate(self, ceremony: str, credential: dict[str, Any], rp: RelyingParty) -> User:
        """The account whose passkey signed the challenge; one answer for every failure, so a stranger
        learns nothing about which passkeys exist."""
        import webauthn
        from webauthn.helpers.exceptions import WebAuthnException

        pending = self._finish(ceremony, rp, None)
        refused = NotAuthenticated("this passkey does not open an account here", code="passkey_refused")
        raw_id = credential.get("id")
        stored = await self.passkeys.by_credential(raw_id) if isinstance(raw_id, str) and len(raw_id) < 1024 else None
        if stored is None:
            raise refused
        try:
            verified = webauthn.verify_authentication_response(
                credential=credential,
                expected_challenge=pending.challenge,
                expected_rp_id=rp.rp_id,
                expected_origin=rp.origin,
                credential_public_key=stored.public_key,
                credential_current_sign_count=stored.sign_count,
            )
        except (WebAuthnException, ValueError, TypeError, KeyError):
            raise refused from None
        user = await self.users.get(stored.user_id)
        if user is None or not user.is_active:
            raise refused
        await self.passkeys.used(stored.id, verified.new_sign_count)
        await self.users.record_login(user.id)
        return user

    # -- managing ------------------------------------------------------------------------------------

    async def list(self, user: User) -> list[Passkey]:
        return [
            Passkey(id=p.id, name=p.name, created_at=p.created_at, last_used_at=p.last_used_at)
            for p in await self.passkeys.for_user(user.id)
        ]

    async def delete(self, user: User, passkey_id: str) -> None:
        if not await self.passkeys.delete(user.id, passkey_id):
            raise NotFound("passkey not found")
