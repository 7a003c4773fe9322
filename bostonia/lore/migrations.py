"""Schema additions for lorebooks: what the seed tables cannot hold losslessly."""

from __future__ import annotations

import sqlite_utils
from sqlite_utils import Migrations

from bostonia.db.migrations import run_script

migrations = Migrations("lore")


@migrations()
def m001_lossless_entries(db: sqlite_utils.Database) -> None:
    # `extra`: keys of the source book/entry we do not model, written back on export.
    # `seq`: the entry's place in its source file, so exports keep the original order.
    run_script(
        db,
        """
        alter table lorebooks add column extra text not null default '{}' check (json_valid(extra));
        alter table lorebook_entries add column extra text not null default '{}' check (json_valid(extra));
        alter table lorebook_entries add column seq integer not null default 0;
        create index idx_lorebook_entries_seq on lorebook_entries(lorebook_id, seq);
        """,
    )
