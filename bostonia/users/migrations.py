"""Columns the users capability adds to the seed schema (migration set "users")."""

from __future__ import annotations

import sqlite_utils
from sqlite_utils import Migrations

from bostonia.db.migrations import run_script

migrations = Migrations("users")


@migrations()
def m001_voice_autoplay(db: sqlite_utils.Database) -> None:
    # Speak characters' replies as they stream (the chat page's voice); off by default.
    run_script(
        db,
        "alter table user_preferences add column voice_autoplay integer not null default 0"
        " check (voice_autoplay in (0, 1));",
    )
