"""Tables the auth capability adds to the seed schema (migration set "auth")."""

from __future__ import annotations

import sqlite_utils
from sqlite_utils import Migrations

from bostonia.db.migrations import NOW, run_script

migrations = Migrations("auth")


@migrations()
def m001_password_resets(db: sqlite_utils.Database) -> None:
    # Single-use, expiring password-reset tokens; only a hash of each token is stored.
    run_script(
        db,
        f"""
        create table password_resets (
            id text primary key,
            user_id text not null references users(id) on delete cascade,
            token_hash text not null unique,
            expires_at text not null,
            used_at text,
            created_at text not null default {NOW}
        );
        create index idx_password_resets_user on password_resets(user_id);
        """,
    )


@migrations()
def m002_external_identities(db: sqlite_utils.Database) -> None:
    # Accounts at OAuth/OIDC providers linked to local users: (provider, subject) names one person there.
    run_script(
        db,
        f"""
        create table auth_identities (
            id text primary key,
            user_id text not null references users(id) on delete cascade,
            provider text not null,
            subject text not null,
            email text,
            created_at text not null default {NOW},
            unique (provider, subject)
        );
        create index idx_auth_identities_user on auth_identities(user_id);
        """,
    )


@migrations()
def m003_passkeys(db: sqlite_utils.Database) -> None:
    # WebAuthn credentials: the public key and the signature counter; the private key never leaves the device.
    run_script(
        db,
        f"""
        create table auth_passkeys (
            id text primary key,
            user_id text not null references users(id) on delete cascade,
            credential_id text not null unique,          -- base64url, as the browser names it
            public_key blob not null,                    -- COSE
            sign_count integer not null default 0,
            transports text not null default '[]' check (json_valid(transports)),
            name text not null,
            created_at text not null default {NOW},
            last_used_at text
        );
        create index idx_auth_passkeys_user on auth_passkeys(user_id);
        """,
    )
