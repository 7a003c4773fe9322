"""Schema additions for the catalogue: full-text search, card fields the seed cannot hold, CharX assets,
and the indexes that listing, cursors and trending need."""

from __future__ import annotations

import sqlite_utils
from sqlite_utils import Migrations

from bostonia.db.migrations import run_script

migrations = Migrations("characters")

# The FTS row of a character, built from its row and its tags (both triggers below use it).
_FTS_ROW = """
    select k.id, new.name, new.tagline, new.description,
           coalesce((select group_concat(t.tag, ' ') from character_tags t where t.character_id = new.id), ''),
           new.creator_name || ' ' || coalesce((select u.display_name from users u where u.id = new.creator_id), '')
    from character_search_keys k where k.character_id = new.id and new.deleted_at is null
"""


@migrations()
def m001_catalogue(db: sqlite_utils.Database) -> None:
    run_script(
        db,
        f"""
        -- Top-level keys of V2/V3 cards besides spec/spec_version/data (SillyTavern's creatorcomment, avatar,
        -- chat, fav, create_date, ...), written back on export.
        alter table characters add column card_top_level text not null default '{{}}'
            check (json_valid(card_top_level));

        -- Tags keep the order the card gave them.
        alter table character_tags add column position integer not null default 0;

        -- Files of a CharX card (stored content-addressed in <data>/media/assets), for a lossless export.
        create table character_assets (
            character_id text not null references characters(id) on delete cascade,
            path text not null,
            sha256 text not null,
            size integer not null,
            primary key (character_id, path)
        );

        -- One index per sort order, covering what the listing filters on, so a page is read in order from the
        -- index alone and stops after `limit` rows (the queries keep SQLite off the seed's listing index).
        create index idx_characters_by_new
            on characters(created_at, id, visibility, content_tier, deleted_at, creator_id);
        create index idx_characters_by_popular
            on characters(total_conversations, id, visibility, content_tier, deleted_at, creator_id);
        create index idx_characters_by_rating
            on characters(avg_rating, id, visibility, content_tier, deleted_at, creator_id);
        create index idx_conversations_created on conversations(created_at);
        create index idx_messages_created on messages(created_at);
        create index idx_character_ratings_character on character_ratings(character_id, updated_at);

        -- Full-text search. A rowid table's implicit rowids may change on VACUUM, so the index is keyed by a
        -- stable integer of its own.
        create table character_search_keys (
            id integer primary key,
            character_id text not null unique references characters(id) on delete cascade
        );
        create virtual table characters_fts using fts5(
            name, tagline, description, tags, creator,
            tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3'
        );
        create virtual table characters_fts_terms using fts5vocab(characters_fts, 'row');
        -- `order by rank`: a name match outweighs a tag, a tag a tagline, a tagline the creator and description.
        insert into characters_fts (characters_fts, rank) values ('rank', 'bm25(10.0, 4.0, 1.0, 6.0, 3.0)');

        create trigger characters_search_insert after insert on characters begin
            insert into character_search_keys (character_id) values (new.id);
            insert into characters_fts (rowid, name, tagline, description, tags, creator) {_FTS_ROW};
        end;
        create trigger characters_search_update
        after update of name, tagline, description, creator_name, creator_id, deleted_at on characters begin
            delete from characters_fts where rowid = (select id from character_search_keys where character_id = old.id);
            insert into characters_fts (rowid, name, tagline, description, tags, creator) {_FTS_ROW};
        end;
        create trigger characters_search_delete before delete on characters begin
            delete from characters_fts where rowid = (select id from character_search_keys where character_id = old.id);
        end;
        create trigger character_tags_search_insert after insert on character_tags begin
            update characters_fts
            set tags = (select group_concat(tag, ' ') from character_tags where character_id = new.character_id)
            where rowid = (select id from character_search_keys where character_id = new.character_id);
        end;
        create trigger character_tags_search_delete after delete on character_tags begin
            update characters_fts
            set tags = coalesce((select group_concat(tag, ' ') from character_tags
                                 where character_id = old.character_id), '')
            where rowid = (select id from character_search_keys where character_id = old.character_id);
        end;
        """,
    )
    # Characters that existed before this migration (the bundled ones) join the index.
    run_script(
        db,
        """
        insert into character_search_keys (character_id) select id from characters;
        insert into characters_fts (rowid, name, tagline, description, tags, creator)
        select k.id, c.name, c.tagline, c.description,
               coalesce((select group_concat(t.tag, ' ') from character_tags t where t.character_id = c.id), ''),
               c.creator_name || ' ' || coalesce((select u.display_name from users u where u.id = c.creator_id), '')
        from characters c join character_search_keys k on k.character_id = c.id where c.deleted_at is null;
        """,
    )


@migrations()
def m002_counters(db: sqlite_utils.Database) -> None:
    """The characters capability owns its denormalised counters: whoever writes conversations, messages,
    favorites or ratings, these triggers keep the character's numbers true in the same transaction (a
    deleted account's favorites and ratings included), so no other capability writes `characters`."""
    run_script(
        db,
        """
        create trigger character_counts_conversation after insert on conversations begin
            update characters set total_conversations = total_conversations + 1 where id = new.character_id;
        end;
        create trigger character_counts_message after insert on messages
        when new.role in ('user', 'assistant') begin
            update characters set total_messages = total_messages + 1
            where id = (select character_id from conversations where id = new.conversation_id);
        end;
        create trigger character_counts_favorite after insert on user_favorites begin
            update characters set favorite_count = favorite_count + 1 where id = new.character_id;
        end;
        create trigger character_counts_unfavorite after delete on user_favorites begin
            update characters set favorite_count = max(favorite_count - 1, 0) where id = old.character_id;
        end;
        create trigger character_counts_rating after insert on character_ratings begin
            update characters set
                rating_count = (select count(*) from character_ratings r where r.character_id = new.character_id),
                avg_rating = coalesce((select avg(r.rating) from character_ratings r
                                       where r.character_id = new.character_id), 0)
            where id = new.character_id;
        end;
        create trigger character_counts_rating_change after update of rating on character_ratings begin
            update characters set
                avg_rating = coalesce((select avg(r.rating) from character_ratings r
                                       where r.character_id = new.character_id), 0)
            where id = new.character_id;
        end;
        create trigger character_counts_unrating after delete on character_ratings begin
            update characters set
                rating_count = (select count(*) from character_ratings r where r.character_id = old.character_id),
                avg_rating = coalesce((select avg(r.rating) from character_ratings r
                                       where r.character_id = old.character_id), 0)
            where id = old.character_id;
        end;
        """,
    )


@migrations()
def m003_hidden_by_moderators(db: sqlite_utils.Database) -> None:
    # Set when an admin hides a character (a report's action): gone from the catalogue for everyone but its
    # creator, whatever its visibility, until an admin unhides it.
    run_script(db, "alter table characters add column hidden_at text;")


@migrations()
def m004_card_digest(db: sqlite_utils.Database) -> None:
    # The imported file's card (and picture), hashed: importing the same card again is noticed, not duplicated.
    run_script(
        db,
        """
        alter table characters add column card_digest text;
        create index idx_characters_card_digest on characters(card_digest, creator_id) where card_digest is not null;
        """,
    )
