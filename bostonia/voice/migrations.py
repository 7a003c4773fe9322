"""Tables the voice capability owns (migration set "voice")."""

from __future__ import annotations

import sqlite_utils
from sqlite_utils import Migrations

from bostonia.db.migrations import NOW, run_script

migrations = Migrations("voice")


@migrations()
def m001_character_voices(db: sqlite_utils.Database) -> None:
    # The voice a character speaks with. Its own table, not the card's `extensions`: a voice id names a file
    # on this server (meaningless in an exported card), and the voice capability checks it on every write.
    run_script(
        db,
        f"""
        create table character_voices (
            character_id text primary key references characters(id) on delete cascade,
            voice_id text,
            speed real not null default 1.0 check (speed between 0.5 and 2.0),
            updated_at text not null default {NOW}
        );
        """,
    )
