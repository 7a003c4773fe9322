"""Creator pages: the character builder (create and edit every V2/V3 field, alternate greetings, an embedded
lorebook, the picture, a live preview of the first message) and the card import page."""

from __future__ import annotations

import json
from typing import Any, Literal

import msgspec
from litestar import Controller, Request, get, post
from litestar.datastructures import UploadFile
from litestar.params import FromPath, FromQuery, MultipartBody
from litestar.response import Redirect, Response, Template

from bostonia.characters.deps import Characters, Transfer
from bostonia.characters.media import ProcessedImage
from bostonia.characters.routes import CardUpload, import_result, import_upload
from bostonia.characters.schemas import (
    TEXT_FIELDS,
    VISIBILITIES,
    Character,
    CharacterCreate,
    CharacterUpdate,
)
from bostonia.characters.service import CharacterService
from bostonia.errors import BostoniaError, InvalidInput
from bostonia.http.deps import Config, CurrentUser
from bostonia.identity import CONTENT_TIERS, User
from bostonia.prompt.macros import expand
from bostonia.ui.forms import SAMPLER_FIELDS, Form, sampler_values

# The builder's text inputs: the character's text fields and the card's V3 nickname.
FORM_TEXT_FIELDS = (*TEXT_FIELDS, "nickname")
LORE_FIELDS = ("ref", "keys", "secondary_keys", "comment", "content", "order", "position", "enabled", "constant")
RowKind = Literal["greeting", "group_greeting", "lore"]


def getall(form: dict[str, Any], key: str) -> list[Any]:
    value = form.get(key)
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def split_keys(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def blank_values() -> dict[str, Any]:
    values: dict[str, Any] = {field: "" for field in FORM_TEXT_FIELDS}
    values.update(
        alternate_greetings=[],
        group_only_greetings=[],
        tags="",
        visibility="private",
        content_tier="sfw",
        is_premium=False,
        premium_credits=0,
        settings={},
        extensions_json="{}",
        card_extra_json="{}",
        lore=[],
    )
    return values


def values_from(character: Character, book: dict[str, Any] | None) -> dict[str, Any]:
    values = {field: getattr(character, field) for field in FORM_TEXT_FIELDS}
    values.update(
        alternate_greetings=character.alternate_greetings,
        group_only_greetings=character.group_only_greetings,
        tags=", ".join(character.tags),
        visibility=character.visibility,
        content_tier=character.content_tier,
        is_premium=character.is_premium,
        premium_credits=character.premium_credits,
        settings=character.settings,
        extensions_json=json.dumps(character.extensions, indent=2, ensure_ascii=False),
        card_extra_json=json.dumps(character.card_extra, indent=2, ensure_ascii=False),
        lore=[
            {
                "ref": str(index),
                "keys": ", ".join(entry.get("keys", [])),
                "secondary_keys": ", ".join(entry.get("secondary_keys", [])),
                "comment": entry.get("comment", ""),
                "content": entry.get("content", ""),
                "order": entry.get("insertion_order", 100),
                "position": entry.get("position", "before_char"),
                "enabled": entry.get("enabled", True),
                "constant": entry.get("constant", False),
            }
            for index, entry in enumerate((book or {}).get("entries", []))
        ],
    )
    return values


def values_from_form(form: dict[str, Any]) -> dict[str, Any]:
    """What the creator typed, shaped like `values_from` (to re-render the form after an error)."""
    values = blank_values()
    values.update({field: str(form.get(field) or "") for field in FORM_TEXT_FIELDS})
    values.update(
        alternate_greetings=[str(g) for g in getall(form, "alternate_greetings") if str(g).strip()],
        group_only_greetings=[str(g) for g in getall(form, "group_only_greetings") if str(g).strip()],
        tags=str(form.get("tags") or ""),
        visibility=form.get("visibility") or "private",
        content_tier=form.get("content_tier") or "sfw",
        is_premium=form.get("is_premium") == "on",
        premium_credits=form.get("premium_credits") or 0,
        settings={k: form.get(k) for k in SAMPLER_FIELDS if str(form.get(k) or "").strip()},
        extensions_json=str(form.get("extensions_json") or "{}"),
        card_extra_json=str(form.get("card_extra_json") or "{}"),
    )
    columns = {field: [str(v) for v in getall(form, f"lore_{field}")] for field in LORE_FIELDS}
    rows = max((len(v) for v in columns.values()), default=0)
    values["lore"] = [
        {field: (columns[field][i] if i < len(columns[field]) else "") for field in LORE_FIELDS} for i in range(rows)
    ]
    for row in values["lore"]:
        row["enabled"] = row["enabled"] != "no"
        row["constant"] = row["constant"] == "yes"
    return values


def _json_object(text: str, field: str) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except ValueError as exc:
        raise InvalidInput(f"{field}: not valid JSON ({exc})", details={"field": field}) from None
    if not isinstance(value, dict):
        raise InvalidInput(f"{field}: must be a JSON object", details={"field": field})
    return value


def character_fields(values: dict[str, Any], original_book: dict[str, Any] | None) -> dict[str, Any]:
    """The API fields for `CharacterCreate`/`CharacterUpdate`. Lore rows that came from the stored book
    (`ref`) start from that entry, so its extensions and unknown keys survive the edit."""
    fields: dict[str, Any] = {field: values[field] for field in FORM_TEXT_FIELDS}
    fields["tagline"] = values["tagline"].strip() or None
    settings = sampler_values(values["settings"])
    try:
        credits = int(values["premium_credits"] or 0)
    except ValueError:
        raise InvalidInput("premium credits must be a whole number", details={"field": "premium_credits"}) from None
    fields.update(
        alternate_greetings=values["alternate_greetings"],
        group_only_greetings=values["group_only_greetings"],
        tags=split_keys(values["tags"]),
        visibility=values["visibility"],
        content_tier=values["content_tier"],
        is_premium=values["is_premium"],
        premium_credits=credits,
        settings=settings,
        extensions=_json_object(values["extensions_json"], "extensions"),
        card_extra=_json_object(values["card_extra_json"], "card_extra"),
    )
    stored = (original_book or {}).get("entries", [])
    entries = []
    for row in values["lore"]:
        if not (row["keys"].strip() or row["content"].strip()):
            continue
        ref = row["ref"]
        entry = dict(stored[int(ref)]) if ref.isdigit() and int(ref) < len(stored) else {"extensions": {}}
        try:
            order = int(row["order"] or 100)
        except ValueError:
            raise InvalidInput("lore insertion order must be a whole number", details={"field": "lore_order"}) from None
        secondary = split_keys(row["secondary_keys"])
        entry.update(
            keys=split_keys(row["keys"]),
            secondary_keys=secondary,
            comment=row["comment"],
            content=row["content"],
            insertion_order=order,
            position="after_char" if row["position"] == "after_char" else "before_char",
            enabled=row["enabled"],
            constant=row["constant"],
            selective=bool(secondary) or bool(entry.get("selective", False)),
        )
        entry.setdefault("use_regex", False)
        entries.append(entry)
    book = {k: v for k, v in (original_book or {"name": "", "extensions": {}}).items() if k != "entries"}
    fields["character_book"] = {**book, "entries": entries} if entries else None
    return fields


def validation_message(exc: msgspec.ValidationError) -> str:
    return str(exc).replace("Object", "Character").replace("$.", "")


class BuilderPages(Controller):
    include_in_schema = False

    def _form(
        self,
        user: User,
        values: dict[str, Any],
        *,
        character: Character | None = None,
        error: str | None = None,
        status: int = 200,
    ) -> Template:
        return Template(
            "builder.html",
            status_code=status,
            context={
                "user": user,
                "values": values,
                "character": character,
                "error": error,
                "visibilities": VISIBILITIES,
                "content_tiers": CONTENT_TIERS,
                "samplers": list(SAMPLER_FIELDS),
            },
        )

    @get("/characters/new")
    async def new_character(self, user: CurrentUser) -> Template:
        return self._form(user, blank_values())

    @post("/characters/new")
    async def create_character(
        self, data: MultipartBody[dict[str, Any]], user: CurrentUser, characters: Characters
    ) -> Response[Any]:
        values = values_from_form(data)
        try:
            create = msgspec.convert(character_fields(values, None), CharacterCreate)
            avatar = await _avatar(characters, data.get("avatar"))
            character = await characters.create(user, create)
            if avatar is not None:
                await characters.set_avatar(user, character.id, avatar)
        except msgspec.ValidationError as exc:
            return self._form(user, values, error=validation_message(exc), status=422)
        except BostoniaError as exc:
            return self._form(user, values, error=exc.message, status=422)
        return Redirect(f"/characters/{character.id}", status_code=303)

    @get("/characters/{character_id:str}/edit")
    async def edit_character(
        self, character_id: FromPath[str], user: CurrentUser, characters: Characters, transfer: Transfer
    ) -> Template:
        character = await characters.editable(user, character_id)
        book = await transfer.embedded_book(character_id)
        return self._form(user, values_from(character, book), character=character)

    @post("/characters/{character_id:str}/edit")
    async def update_character(
        self,
        character_id: FromPath[str],
        data: MultipartBody[dict[str, Any]],
        user: CurrentUser,
        characters: Characters,
        transfer: Transfer,
    ) -> Response[Any]:
        character = await characters.editable(user, character_id)
        values = values_from_form(data)
        try:
            fields = character_fields(values, await transfer.embedded_book(character_id))
            update = msgspec.convert(fields, CharacterUpdate)
            avatar = await _avatar(characters, data.get("avatar"))
            await characters.update(user, character_id, update)
            if avatar is not None:
                await characters.set_avatar(user, character_id, avatar)
        except msgspec.ValidationError as exc:
            return self._form(user, values, character=character, error=validation_message(exc), status=422)
        except BostoniaError as exc:
            return self._form(user, values, character=character, error=exc.message, status=422)
        return Redirect(f"/characters/{character_id}", status_code=303)

    @post("/characters/builder/preview")
    async def preview(self, data: Form, user: CurrentUser) -> Template:
        """The first message as the user will see it: `{{char}}` (the nickname when set) and `{{user}}` applied."""
        name = (data.get("nickname") or "").strip() or (data.get("name") or "").strip() or "Character"
        text = expand(data.get("greeting") or "", char=name, user=user.display_name)
        return Template("_preview.html", context={"text": text, "name": name, "user": user})

    @get("/characters/builder/row")
    async def row(self, user: CurrentUser, kind: FromQuery[RowKind] = "greeting") -> Template:
        """An empty row for a repeated field (alternate greeting, group greeting, lore entry)."""
        row = {
            "ref": "",
            "keys": "",
            "secondary_keys": "",
            "comment": "",
            "content": "",
            "order": 100,
            "position": "before_char",
            "enabled": True,
            "constant": False,
        }
        return Template("_builder_row.html", context={"kind": kind, "value": "", "row": row})

    @get("/characters/import")
    async def import_page(self, user: CurrentUser) -> Template:
        return Template("import.html", context={"user": user, "result": None, "visibilities": VISIBILITIES})

    @post("/characters/import")
    async def import_files(
        self,
        data: MultipartBody[CardUpload],
        user: CurrentUser,
        transfer: Transfer,
        config: Config,
        request: Request[Any, Any, Any],
    ) -> Template:
        """Per-file results: a link to each imported character, the reason for each rejected file."""
        result = import_result(await import_upload(data, transfer, user, config))
        template = "_import_results.html" if request.headers.get("hx-request") else "import.html"
        return Template(template, context={"user": user, "result": result, "visibilities": VISIBILITIES})


async def _avatar(characters: CharacterService, upload: Any) -> ProcessedImage | None:
    """The builder's picture, validated and re-encoded before anything is saved; None when no file was chosen."""
    if not isinstance(upload, UploadFile) or not upload.filename:
        return None
    image = await upload.read(characters.uploads.max_avatar_bytes + 1)
    return await characters.process_avatar(image) if image else None
