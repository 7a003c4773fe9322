"""The catalogue: who may see, change and rate which character; listing, search and trending.

Visibility and content tier are checked here for every caller. Someone else's private character is
reported as missing (404), so ids cannot be probed; a visible character the caller may not change is 403.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import builtins
import time
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import msgspec

from bostonia.cards.model import MODELLED, CharacterCard, derived_tagline, parse_card
from bostonia.characters.bundled import seed_bundled_characters
from bostonia.characters.media import ImageLimits, MediaStore, ProcessedImage, process_image
from bostonia.characters.schemas import (
    Character,
    CharacterCreate,
    CharacterPage,
    CharacterUpdate,
    Rate,
    RatingSummary,
    ReviewPage,
    Sort,
    sampler_settings,
)
from bostonia.characters.search import TermIndex, fts_query, query_words
from bostonia.characters.store import PLAIN_COLUMNS, SORT_COLUMNS, CharacterRecord, CharacterStore
from bostonia.characters.trending import TrendingCache
from bostonia.config import CharactersConfig, UploadsConfig
from bostonia.db import sqlite3
from bostonia.db.values import new_id
from bostonia.errors import InvalidInput, NotFound, PermissionDenied
from bostonia.identity import CONTENT_TIERS, ContentTier, Operator, User
from bostonia.lore.convert import book_from_card
from bostonia.lore.schemas import Lorebook

# A vocabulary this small is rebuilt right away after a change; a bigger one in the background.
SYNC_TERM_REBUILD = 20_000
# Our field names -> the card's.
CARD_NAMES = {
    "name": "name",
    "description": "description",
    "personality": "personality",
    "scenario": "scenario",
    "greeting": "first_mes",
    "example_dialogue": "mes_example",
    "creator_notes": "creator_notes",
    "system_prompt": "system_prompt",
    "post_history_instructions": "post_history_instructions",
    "creator_name": "creator",
    "character_version": "character_version",
}


def allowed_content_tiers(viewer: User | None) -> tuple[str, ...]:
    """Mature and adult characters exist only for adults who verified their age and opted in."""
    if viewer is None or not viewer.age_verified:
        return ("sfw",)
    return CONTENT_TIERS[: CONTENT_TIERS.index(viewer.content_tier) + 1]


def encode_cursor(value: Any, character_id: str) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode([value, character_id])).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[Any, str]:
    try:
        value, key = msgspec.json.decode(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(key, str) or not isinstance(value, str | int | float):
            raise ValueError
        return value, key
    except (ValueError, TypeError, binascii.Error, msgspec.DecodeError):
        raise InvalidInput(
            "invalid cursor: pass back the next_cursor of the previous page", code="invalid_cursor"
        ) from None


def card_from_fields(data: CharacterCreate | dict[str, Any], extra: dict[str, Any]) -> CharacterCard:
    """A card from builder/API fields, validated exactly like an imported one."""
    clash = sorted(set(extra) & MODELLED)
    if clash:
        raise InvalidInput(
            f"card_extra may not hold fields that have their own names: {', '.join(clash)}",
            code="invalid_card",
            details={"field": "card_extra"},
        )
    fields = data if isinstance(data, dict) else msgspec.structs.asdict(data)
    raw = {card_key: fields.get(key, "") for key, card_key in CARD_NAMES.items()}
    raw.update(
        alternate_greetings=fields.get("alternate_greetings") or [],
        tags=fields.get("tags") or [],
        extensions=fields.get("extensions") or {},
    )
    raw.update(extra)
    return parse_card({"spec": "chara_card_v3", "spec_version": "3.0", "data": raw})


@runtime_checkable
class AvatarCheck(Protocol):
    """Looks at a character's picture before it is stored (the moderation capability, above this one,
    provides it): raises a domain error for a picture the character's content tier does not allow."""

    async def check_avatar(self, user: User | None, image: bytes, content_tier: ContentTier) -> None: ...


class CharacterService:
    def __init__(
        self,
        characters: CharacterStore,
        *,
        media: MediaStore | None = None,
        config: CharactersConfig | None = None,
        uploads: UploadsConfig | None = None,
    ) -> None:
        self.characters = characters
        self.media = media
        self.config = config or CharactersConfig()
        self.uploads = uploads or UploadsConfig()
        self.trending_cache = TrendingCache(self.config, characters.activity, characters.public_tiers)
        self._terms: TermIndex | None = None
        self._terms_dirty = False
        self._terms_task: asyncio.Task[None] | None = None
        self._tags: tuple[float, list[tuple[str, int]]] | None = None
        self.avatar_check: AvatarCheck | None = None

    def check_avatars_with(self, check: AvatarCheck) -> None:
        """Screen pictures with `check` (the composition root passes moderation, which is built after this
        service because it reads characters itself)."""
        self.avatar_check = check

    async def screen_avatar(self, user: User | None, picture: ProcessedImage, content_tier: str) -> None:
        """Raise if the picture is not allowed for a character of `content_tier` (no check configured: allowed)."""
        if self.avatar_check is not None:
            tier: ContentTier = next((t for t in CONTENT_TIERS if t == content_tier), "sfw")
            await self.avatar_check.check_avatar(user, picture.png, tier)

    # -- reading ------------------------------------------------------------------------------------

    async def list(self, viewer: User | None) -> builtins.list[Character]:
        """The first page of the catalogue (most popular first), for pickers that need a short list."""
        return (await self.browse(viewer)).items

    async def browse(
        self,
        viewer: User | None,
        *,
        sort: Sort = "popular",
        tag: str | None = None,
        content_tier: str | None = None,
        creator_id: str | None = None,
        cursor: str | None = None,
        limit: int = 24,
    ) -> CharacterPage:
        tiers = allowed_content_tiers(viewer)
        if content_tier is not None:
            tiers = tuple(t for t in tiers if t == content_tier)
            if not tiers:
                return CharacterPage(items=[])
        limit = max(1, min(limit, 100))
        items = await self.characters.list_visible(
            viewer_id=viewer.id if viewer else None,
            content_tiers=tiers,
            sort=sort,
            tag=tag.strip() if tag else None,
            creator_id=creator_id,
            after=decode_cursor(cursor) if cursor else None,
            limit=limit + 1,
        )
        next_cursor = None
        if len(items) > limit:
            items = items[:limit]
            last = items[-1]
            next_cursor = encode_cursor(getattr(last, SORT_COLUMNS[sort]), last.id)
        return CharacterPage(items=items, next_cursor=next_cursor)

    async def public_index(self, limit: int = 50_000) -> builtins.list[tuple[str, str]]:
        """Every character an anonymous visitor may open, for search engines: (id, last change)."""
        return await self.characters.public_index(limit)

    async def seed_bundled(self) -> int:
        """Add the bundled characters a fresh (or older) database does not have yet."""
        return await seed_bundled_characters(self.characters)

    async def get(self, viewer: User | Operator | None, character_id: str) -> Character:
        """A character the viewer may see; anything else is reported as missing, not forbidden,
        so that private ids cannot be probed."""
        character = await self.characters.get(character_id)
        if character is None or not self.can_view(viewer, character):
            raise NotFound("character not found")
        return character

    async def visible(self, viewer: User | None, character_ids: Sequence[str]) -> builtins.list[Character]:
        """The characters among `character_ids` the viewer may see, in the given order (one query)."""
        found = await self.characters.get_many(character_ids)
        return [found[cid] for cid in character_ids if cid in found and self.can_view(viewer, found[cid])]

    async def of_conversation(self, character_id: str) -> Character:
        """The character of a conversation its owner is having: available even if it was since made private
        or deleted — the chat is the user's, and the prompt still needs its card. (Callers have checked the
        conversation belongs to the user; starting a new conversation goes through `get`.)"""
        character = await self.characters.get(character_id, include_deleted=True)
        if character is None:
            raise NotFound("character not found")
        return character

    @staticmethod
    def can_view(viewer: User | Operator | None, character: Character) -> bool:
        if isinstance(viewer, Operator):  # the server's operator (CLI) reaches every character
            return True
        if viewer is not None and character.creator_id == viewer.id:
            return True
        # Admins too: another user's private character is theirs alone, and without a verified age
        # there is no mature or adult content for anyone.
        if character.hidden_at is not None and not (viewer is not None and viewer.is_admin):
            return False
        return character.visibility != "private" and character.content_tier in allowed_content_tiers(viewer)

    @staticmethod
    def can_edit(user: User | Operator | None, character: Character) -> bool:
        """The creator or an admin; characters without a creator (bundled, CLI imports) only admins."""
        if user is None:
            return False
        return user.is_admin or (character.creator_id is not None and character.creator_id == user.id)

    async def editable(self, user: User, character_id: str) -> Character:
        character = await self.get(user, character_id)
        if not self.can_edit(user, character):
            raise PermissionDenied("only the creator of this character or an admin may change it")
        return character

    async def search(self, viewer: User | None, text: str, *, limit: int = 20) -> builtins.list[Character]:
        words = query_words(text)
        if not words:
            return []
        terms = await self.term_index()
        try:
            return await self.characters.search(
                fts_query(terms.expand(words)),
                viewer_id=viewer.id if viewer else None,
                content_tiers=allowed_content_tiers(viewer),
                limit=max(1, min(limit, 50)),
            )
        except sqlite3.OperationalError as exc:  # our queries are quoted words; this is a safety net
            raise InvalidInput(f"cannot search for {text[:80]!r}: {exc}", code="invalid_query") from None

    async def trending(self, viewer: User | None, *, limit: int = 24) -> builtins.list[Character]:
        """Public characters by recent engagement; when few have any, the most popular fill the list."""
        limit = max(1, min(limit, 100))
        tiers = allowed_content_tiers(viewer)
        ranked = [cid for cid, tier in await self.trending_cache.ranking() if tier in tiers][: limit * 2]
        found = await self.characters.get_many(ranked)
        items = [
            found[cid]
            for cid in ranked
            if cid in found and found[cid].visibility == "public" and found[cid].hidden_at is None
        ][:limit]
        if len(items) < limit:
            seen = {c.id for c in items}
            popular = await self.characters.list_visible(
                viewer_id=None, content_tiers=tiers, sort="popular", limit=limit + len(seen)
            )
            items += [c for c in popular if c.id not in seen][: limit - len(items)]
        return items

    async def top_tags(self) -> builtins.list[tuple[str, int]]:
        now = time.monotonic()
        if self._tags is None or now - self._tags[0] > self.config.trending_refresh_seconds:
            self._tags = (now, await self.characters.top_tags())
        return self._tags[1]

    async def term_index(self) -> TermIndex:
        if self._terms is None or (self._terms_dirty and len(self._terms) < SYNC_TERM_REBUILD):
            await self.refresh_search_terms()
        elif self._terms_dirty and not (self._terms_task and not self._terms_task.done()):
            self._terms_task = asyncio.create_task(self.refresh_search_terms())
        assert self._terms is not None
        return self._terms

    async def refresh_search_terms(self) -> None:
        self._terms_dirty = False
        vocabulary = await self.characters.vocabulary()
        self._terms = await asyncio.to_thread(TermIndex, vocabulary)

    def catalogue_changed(self) -> None:
        """Characters were added or edited: the typo-correction vocabulary is stale."""
        self._terms_dirty = True
        self._tags = None

    async def stop(self) -> None:
        await self.trending_cache.stop()
        if self._terms_task and not self._terms_task.done():
            self._terms_task.cancel()
            await asyncio.gather(self._terms_task, return_exceptions=True)

    # -- writing ------------------------------------------------------------------------------------

    def _book(self, raw: dict[str, Any] | None) -> Lorebook | None:
        return None if raw is None else book_from_card(raw)

    async def create(self, user: User, data: CharacterCreate) -> Character:
        extra = dict(data.card_extra)
        if data.nickname:
            extra["nickname"] = data.nickname
        if data.group_only_greetings:
            extra["group_only_greetings"] = data.group_only_greetings
        card = card_from_fields(data, extra)
        record = CharacterRecord(
            id=new_id(),
            card=card,
            creator_id=user.id,
            tagline=data.tagline if data.tagline is not None else derived_tagline(card.creator_notes, card.description),
            visibility=data.visibility,
            content_tier=data.content_tier,
            is_premium=data.is_premium,
            premium_credits=data.premium_credits,
            settings=sampler_settings(data.settings),
            book=self._book(data.character_book),
        )
        await self.characters.insert([record])
        self.catalogue_changed()
        return await self.get(user, record.id)

    async def update(self, user: User, character_id: str, data: CharacterUpdate) -> Character:
        character = await self.editable(user, character_id)
        changes = data.changes()
        columns: dict[str, Any] = {k: v for k, v in changes.items() if k in PLAIN_COLUMNS}
        if "settings" in changes:
            columns["settings"] = sampler_settings(changes["settings"])
        if {"card_extra", "nickname", "group_only_greetings"} & changes.keys():
            stored, _ = await self.characters.card_parts(character_id)
            extra = dict(changes.get("card_extra", stored))
            for key in ("nickname", "group_only_greetings"):
                value = changes.get(key, stored.get(key))
                extra.pop(key, None)
                if value:
                    extra[key] = value
            columns["card_extra"] = extra
        # Validate the edited character as a whole card (types, V3 fields, the book), like an import.
        merged = {**msgspec.structs.asdict(character), **changes}
        if "tagline" in changes and changes["tagline"] is None:
            columns["tagline"] = derived_tagline(merged["creator_notes"], merged["description"])
        card_from_fields(merged, columns.get("card_extra", {}))
        book = self._book(changes.get("character_book"))
        await self.characters.update(
            character_id,
            columns,
            tags=changes.get("tags"),
            book=book,
            replace_book="character_book" in changes,
            owner_id=character.creator_id,
        )
        self.catalogue_changed()
        return await self.get(user, character_id)

    async def delete(self, user: User, character_id: str) -> None:
        await self.editable(user, character_id)
        await self.characters.soft_delete(character_id)
        self.catalogue_changed()

    async def set_hidden(self, actor: User, character_id: str, hidden: bool) -> Character:
        """Hide a character from everyone but its creator (and admins), or show it again: admins only.
        Conversations already started with it go on; nobody new can find or open it."""
        if not actor.is_admin:
            raise PermissionDenied("only admins can hide characters", code="admin_only")
        character = await self.characters.get(character_id)
        if character is None or (character.visibility == "private" and character.creator_id != actor.id):
            raise NotFound("character not found")
        await self.characters.set_hidden(character_id, hidden)
        self.catalogue_changed()
        return await self.get(actor, character_id)

    async def process_avatar(self, image: bytes) -> ProcessedImage:
        """Validate and re-encode an uploaded picture (no storage yet): errors come before anything is saved."""
        limits = ImageLimits(self.uploads.max_avatar_bytes, self.uploads.max_image_pixels)
        return await asyncio.to_thread(process_image, image, limits)

    async def set_avatar(self, user: User, character_id: str, image: bytes | ProcessedImage) -> Character:
        character = await self.editable(user, character_id)
        if self.media is None:
            raise InvalidInput("avatar storage is not configured")
        processed = image if isinstance(image, ProcessedImage) else await self.process_avatar(image)
        await self.screen_avatar(user, processed, character.content_tier)
        path = await asyncio.to_thread(self.media.save_avatar, processed)
        await self.characters.update(character_id, {"avatar_path": path})
        return await self.get(user, character_id)

    # -- ratings --------------------------------------------------------------------------------------

    async def rate(self, user: User, character_id: str, data: Rate) -> RatingSummary:
        character = await self.get(user, character_id)
        if character.creator_id == user.id:
            raise PermissionDenied("you cannot rate your own character")
        review_text = data.review.strip() if data.review else None
        review, average, count = await self.characters.rate(character_id, user.id, data.rating, review_text or None)
        return RatingSummary(character_id=character_id, avg_rating=average, rating_count=count, review=review)

    async def reviews(
        self, viewer: User | None, character_id: str, *, cursor: str | None = None, limit: int = 20
    ) -> ReviewPage:
        await self.get(viewer, character_id)
        limit = max(1, min(limit, 100))
        after = decode_cursor(cursor) if cursor else None
        items = await self.characters.reviews(
            character_id, after=(str(after[0]), after[1]) if after else None, limit=limit + 1
        )
        next_cursor = None
        if len(items) > limit:
            items = items[:limit]
            next_cursor = encode_cursor(items[-1].updated_at, items[-1].id)
        return ReviewPage(items=items, next_cursor=next_cursor)

    async def is_favorite(self, user: User | None, character_id: str) -> bool:
        return user is not None and await self.characters.is_favorite(user.id, character_id)
