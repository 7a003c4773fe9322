"""Conversation files: SillyTavern chat JSONL, plain text, and Bostonia JSON (the whole tree).

Export writes the active path (SillyTavern keeps one line per turn, alternatives as `swipes`); the
Bostonia format keeps every branch. Import reads both into a new conversation, and the chat files of the
other programs SillyTavern imports from too: text-generation-webui, Agnai, KoboldAI Lite, RisuAI, CAI Tools
(Character.AI's histories: each one a branch), Chub (SillyTavern lines whose texts are objects) and Backyard
AI (a `.byaf` archive's scenarios, or one scenario's JSON: each scenario a branch from its greeting, every
output of a reply a swipe). In a group chat (or a
shared room) each line's `name` is its speaker's, and importing a group chat gives each reply to the
member of that name. Whatever a SillyTavern line carries that Bostonia does not model is kept in the
message's metadata and written back on export, so a round trip loses nothing.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec

from bostonia.cards.byaf import byaf_scenarios, is_byaf, scenario_greeting
from bostonia.cards.charx import CharxLimits, unpack_zip
from bostonia.chat.schemas import Conversation, Member, Message
from bostonia.chat.store import ImportedMessage, title_from
from bostonia.errors import InvalidInput
from bostonia.json_limits import check_json_depth, check_json_size

BOSTONIA_FORMAT = "bostonia.conversation"
MAX_IMPORT_MESSAGES = 100_000
# What an imported message or chat carries beyond what Bostonia models is kept verbatim and sent back with
# every message list: bounded (SillyTavern's own per-message `extra`, swipe_info included, is a few KB).
MAX_MESSAGE_METADATA_BYTES = 64 * 1024
MAX_CHAT_METADATA_BYTES = 256 * 1024
# Keys of a SillyTavern message line that Bostonia models itself; the rest go to metadata["sillytavern"].
ST_MODELLED = {"name", "is_user", "is_system", "send_date", "mes", "swipes", "swipe_id", "swipe_info"}
# SillyTavern's over its versions, then text-generation-webui's ("Dec 03, 2026 13:45").
DATE_FORMATS = (
    "%B %d, %Y %I:%M%p",
    "%B %d, %Y %I:%M %p",
    "%Y-%m-%d@%Hh%Mm%Ss%fms",
    "%Y-%m-%d@%Hh%Mm%Ss",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%b %d, %Y %H:%M",
)
# Who SillyTavern's narrator, notes and own messages are (its defaults; a line's `extra.type` also says so).
ST_SYSTEM_NAMES = {"System", "SillyTavern System", "Note"}
# A SillyTavern chat's first line (its metadata) has some of these; a JSON object with none of them and no
# `mes` is some other program's file, refused rather than read as an empty chat.
ST_HEADER_KEYS = {"user_name", "character_name", "create_date", "chat_metadata"}
# text-generation-webui's history: {"internal": [[user, reply], ...], "visible": (the same as HTML),
# "metadata": {"user_N" | "assistant_N": {"timestamp"}}} ("data" in older versions); the greeting's pair has
# this in place of the user's message.
WEBUI_GREETING = "<|BEGIN-VISIBLE-CHAT|>"
# KoboldAI Lite's saved story: {"savedsettings": {"chatname", "chatopponent"}, "prompt", "actions": [text]};
# in its chat and instruct modes these stand where the user's and the model's turns begin.
KOBOLD_TURN = re.compile(r"(\{\{\[INPUT\]\}\}|\{\{\[OUTPUT\]\}\})")
KOBOLD_INPUT = "{{[INPUT]}}"
# One path of someone else's chat: (role, text, when) per message.
Turns = Sequence[tuple[str, str, str | None]]
ZIP_MAGIC = b"PK\x03\x04"
# A Backyard AI archive sent to the chat import: held to the card archives' limits, its JSON files to the size a
# chat file may have.
BYAF_CHAT_LIMITS = CharxLimits(
    max_uncompressed_bytes=100 * 1024 * 1024, max_ratio=100, max_entries=1000, max_card_json_bytes=32 * 1024 * 1024
)


def _iso(moment: datetime) -> str:
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_date(value: Any) -> str | None:
    """SillyTavern writes dates in several styles over its versions; read them all, else None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        seconds = value / 1000 if value > 1e11 else value
        try:
            return _iso(datetime.fromtimestamp(seconds, UTC))
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    try:
        return _iso(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        pass
    compact = text.replace(" am", "am").replace(" pm", "pm").replace(" AM", "AM").replace(" PM", "PM")
    if "@" in compact:  # older SillyTavern spaced its own style out: "2023-5-12 @17h 49m 12s 123ms"
        compact = compact.replace(" ", "")
    for pattern in DATE_FORMATS:
        try:
            return _iso(datetime.strptime(compact, pattern))
        except ValueError:
            continue
    return None


# -- export ----------------------------------------------------------------------------------------


def sillytavern_jsonl(
    conversation: Conversation,
    path: Sequence[Message],
    swipes: dict[str, list[Message]],
    *,
    user_name: str,
    character_name: str,
    chat_metadata: dict[str, Any],
    name_of: Callable[[Message], str] | None = None,
) -> str:
    """SillyTavern's chat format: a metadata line, then one line per message of the active path.
    `name_of`: each message's speaker (a group chat's); else the user's name or the character's."""
    lines = [
        {
            "user_name": user_name,
            "character_name": character_name,
            "create_date": conversation.created_at,
            "chat_metadata": chat_metadata,
        }
    ]

    def speaker(message: Message) -> str:
        if message.role == "system":
            return message.speaker_name or "System"
        if name_of:
            return name_of(message)
        return user_name if message.role == "user" else character_name

    for message in path:
        alternatives = swipes.get(message.id, [message])
        extra_keys: dict[str, Any] = dict(message.metadata.get("sillytavern", {}))
        extra = dict(extra_keys.pop("extra", {}) or {})
        if message.model_used:
            extra.setdefault("model", message.model_used)
        if message.tokens_used is not None:
            extra["token_count"] = message.tokens_used
        if message.role == "system" and not message.ooc:
            extra.setdefault("type", "narrator")  # a note the model reads ("Juniper joined the chat."), as ST's
        line: dict[str, Any] = {
            "name": speaker(message),
            "is_user": message.role == "user",
            "is_system": message.ooc,  # what SillyTavern keeps from the model
            "send_date": message.created_at,
            "mes": message.content,
            **extra_keys,
            "extra": extra,
        }
        if len(alternatives) > 1 or message.role == "assistant":
            line["swipe_id"] = next(i for i, m in enumerate(alternatives) if m.id == message.id)
            line["swipes"] = [m.content for m in alternatives]
            line["swipe_info"] = [
                {"send_date": m.created_at, "extra": {"model": m.model_used} if m.model_used else {}}
                for m in alternatives
            ]
        lines.append(line)
    return "\n".join(msgspec.json.encode(line).decode() for line in lines) + "\n"


def plain_text(
    path: Sequence[Message], *, user_name: str, character_name: str, name_of: Callable[[Message], str] | None = None
) -> str:
    def name(m: Message) -> str:
        return name_of(m) if name_of else user_name if m.role == "user" else character_name

    # Like SillyTavern's, without the lines kept from the model (hidden, out of character) and the notes.
    blocks = [f"{name(m)}: {m.content}" for m in path if m.role != "system" and not m.ooc]
    return "\n\n".join(blocks) + "\n"


def assign_speakers(messages: Sequence[ImportedMessage], members: Sequence[Member], user_id: str) -> None:
    """Give each imported message its speaker: a reply to the member it names (whole name, else first
    name; an id the file carries wins), the rest to the importing user. Names nobody matches stay as the
    shown name, without a character."""
    by_id = {m.character_id for m in members}
    by_name = {m.name.casefold(): m.character_id for m in members}
    by_first = {m.name.split()[0].casefold(): m.character_id for m in reversed(members) if m.name.split()}
    for message in messages:
        if message.role == "user":
            message.user_id, message.character_id = user_id, None
        elif message.role == "assistant":
            if message.character_id in by_id:
                continue
            name = (message.speaker_name or "").strip().casefold()
            found = by_name.get(name) or (by_first.get(name.split()[0]) if name.split() else None)
            message.character_id = found if found else (members[0].character_id if len(members) == 1 else None)


def bostonia_json(
    conversation: Conversation, messages: Sequence[Message], *, active_leaf_id: str | None, metadata: dict[str, Any]
) -> dict[str, Any]:
    """Every message of every branch, parents before children."""
    return {
        "format": BOSTONIA_FORMAT,
        "version": 1,
        "conversation": {
            "id": conversation.id,
            "title": conversation.title,
            "character_id": conversation.character_id,
            "character_name": conversation.character_name,
            "members": [m.character_id for m in conversation.members] if conversation.is_group else [],
            "created_at": conversation.created_at,
            "settings": msgspec.to_builtins(conversation.settings),
            "metadata": metadata,
            "active_leaf_id": active_leaf_id,
        },
        "messages": [
            {
                "id": m.id,
                "parent_id": m.parent_id,
                "role": m.role,
                "content": m.content,
                "created_at": m.created_at,
                "edited_at": m.edited_at,
                "model_used": m.model_used,
                "tokens_used": m.tokens_used,
                "status": m.status,
                "is_regeneration": m.is_regeneration,
                "metadata": m.metadata,
                "character_id": m.character_id,
                "user_id": m.user_id,
                "speaker_name": m.speaker_name,
                "ooc": m.ooc,
            }
            for m in messages
        ],
    }


# -- import ------------------------------------------------------------------------------------------


@dataclass
class ParsedChat:
    title: str
    messages: list[ImportedMessage]
    leaf_key: str | None
    created_at: str | None
    metadata: dict[str, Any]
    # The texts hold the card macros `{{char}}`/`{{user}}` (a greeting from a character file), to be given the
    # conversation's names when it is imported.
    has_macros: bool = False


def parse_chat_file(data: bytes) -> ParsedChat:
    """Read an uploaded conversation (any of the formats above);
    InvalidInput names the problem."""
    parsed = _parse_byaf(data) if data.startswith(ZIP_MAGIC) else _parse_text(_decoded(data, "the file"))
    check_json_size("metadata", parsed.metadata, MAX_CHAT_METADATA_BYTES)
    for index, message in enumerate(parsed.messages):
        check_json_size(f"messages[{index}].metadata", message.metadata, MAX_MESSAGE_METADATA_BYTES)
    return parsed


def _decoded(data: bytes, what: str) -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput(f"{what} is not UTF-8 text", code="invalid_chat_file") from None
    stripped = text.strip()
    if not stripped:
        raise InvalidInput(f"{what} is empty", code="invalid_chat_file")
    check_json_depth(stripped)  # before any line is decoded
    return stripped


def _parse_text(stripped: str) -> ParsedChat:
    whole: Any = None
    if stripped.startswith("{"):
        # JSON lines (SillyTavern) fail here, at the end of the first line, and are read line by line below.
        with contextlib.suppress(msgspec.DecodeError):
            whole = msgspec.json.decode(stripped)
    if isinstance(whole, dict):
        if whole.get("format") == BOSTONIA_FORMAT:
            return _parse_bostonia(whole)
        if isinstance(whole.get("savedsettings"), dict) and isinstance(whole.get("actions"), list):
            return _parse_kobold_lite(whole)
        if isinstance(whole.get("histories"), dict):
            return _parse_cai_tools(whole["histories"])
        if (pairs := webui_pairs(whole)) is not None:
            return _parse_webui(pairs, whole)
        if isinstance(whole.get("messages"), list) and "firstMessages" in whole:
            return _parse_byaf_scenarios([whole])
        if isinstance(whole.get("messages"), list) and "conversation" not in whole:
            return _parse_agnai(whole)
        if whole.get("type") == "risuChat" and isinstance(whole.get("data"), dict):
            return _parse_risu(whole["data"])
        if "mes" not in whole:
            if ST_HEADER_KEYS & whole.keys():
                raise InvalidInput("the file holds no messages", code="invalid_chat_file")
            raise InvalidInput(
                "this JSON is not a chat Bostonia reads: a SillyTavern or Chub chat (.jsonl), a Bostonia export, or "
                "a text-generation-webui, Agnai, KoboldAI Lite, RisuAI or CAI Tools chat",
                code="invalid_chat_file",
            )
        return _parse_sillytavern([msgspec.json.encode(whole).decode()])  # one message, maybe pretty-printed
    return _parse_sillytavern(stripped.splitlines())


def webui_pairs(whole: dict[str, Any]) -> list[list[str]] | None:
    pairs = whole.get("internal", whole.get("data"))
    if not isinstance(pairs, list) or not pairs:
        return None
    if not all(isinstance(p, list) and len(p) == 2 and all(isinstance(s, str) for s in p) for p in pairs):
        return None
    return pairs


def _parse_webui(pairs: list[list[str]], whole: dict[str, Any]) -> ParsedChat:
    raw = whole.get("metadata")
    stamps: dict[str, Any] = raw if isinstance(raw, dict) else {}

    def when(key: str) -> str | None:
        entry = stamps.get(key)
        return parse_date(entry.get("timestamp")) if isinstance(entry, dict) else None

    turns: list[tuple[str, str, str | None]] = []
    for index, (said, answered) in enumerate(pairs):
        if said and said != WEBUI_GREETING:
            turns.append(("user", said, when(f"user_{index}")))
        if answered:
            turns.append(("assistant", answered, when(f"assistant_{index}")))
    return _one_path(turns, "text-generation-webui")


def _st_system_line(record: dict[str, Any]) -> bool:
    """A SillyTavern line that no character says: the narrator's, a note, the program's own messages."""
    extra = record.get("extra")
    return (isinstance(extra, dict) and isinstance(extra.get("type"), str)) or record.get("name") in ST_SYSTEM_NAMES


def _parse_agnai(whole: dict[str, Any]) -> ParsedChat:
    """Agnai's chat export: {"name", "messages": [{"msg", "characterId" | "userId", "createdAt"}]}."""
    turns: list[tuple[str, str, str | None]] = []
    for index, item in enumerate(whole["messages"]):
        if not isinstance(item, dict) or not isinstance(item.get("msg"), str):
            raise InvalidInput(f"message {index}: `msg` must be a string", code="invalid_chat_file")
        role = "assistant" if item.get("characterId") else "user"
        turns.append((role, item["msg"], parse_date(item.get("createdAt"))))
    name = whole.get("name")
    return _one_path(turns, "agnai", title=name if isinstance(name, str) and name.strip() else None)


def _parse_kobold_lite(whole: dict[str, Any]) -> ParsedChat:
    """KoboldAI Lite's story is its texts run together: a turn begins at its mode's placeholder (the same turn
    may go on in the next text, as "continue" writes it), or, in older chat saves, at a line "Name: ".
    A story with neither is the model's, one message per text (as SillyTavern reads it)."""
    settings = whole["savedsettings"]
    texts = [t for t in [whole.get("prompt"), *whole["actions"]] if isinstance(t, str) and t.strip()]
    story = "".join(texts)
    user = str(settings.get("chatname") or "").strip()
    others = [n.strip() for n in str(settings.get("chatopponent") or "").split("||$||") if n.strip()]
    turns: list[tuple[str, str, str | None]] = []
    if KOBOLD_TURN.search(story):
        role = "assistant"  # the opening prompt, before any turn, is the story's start
        for piece in KOBOLD_TURN.split(story):
            if piece in (KOBOLD_INPUT, "{{[OUTPUT]}}"):
                role = "user" if piece == KOBOLD_INPUT else "assistant"
            elif piece.strip():
                turns.append((role, piece.strip(), None))
    elif user and others and (speakers := _name_lines(story, [user, *others])):
        turns = [("user" if name == user else "assistant", text, None) for name, text in speakers]
    else:
        turns = [("assistant", text.strip(), None) for text in texts]
    return _one_path(turns, "koboldai-lite")


def _name_lines(story: str, names: Sequence[str]) -> list[tuple[str, str]]:
    """The turns of a script whose lines begin "Name: " (text before the first such line is dropped)."""
    speaker = re.compile(r"^(" + "|".join(re.escape(n) for n in names) + r"):[ \t]*", re.MULTILINE)
    marks = list(speaker.finditer(story))
    out = []
    for mark, after in zip(marks, [*marks[1:], None], strict=True):
        text = story[mark.end() : after.start() if after else len(story)].strip()
        if text:
            out.append((mark.group(1), text))
    return out


def _parse_cai_tools(histories: dict[str, Any]) -> ParsedChat:
    """CAI Tools' Character.AI export: {"histories": {"histories": [{"msgs": [{"src": {"is_human"}, "text"}]}]}}.
    Each history (a chat of its own there) is a branch here: one conversation, the longest active, each
    other one a swipe away where it first differs (they usually share the character's greeting)."""
    paths: list[Turns] = []
    for index, history in enumerate(histories.get("histories") or []):
        msgs = history.get("msgs") if isinstance(history, dict) else None
        if not isinstance(msgs, list):
            raise InvalidInput(f"history {index}: `msgs` must be a list", code="invalid_chat_file")
        turns = []
        for number, msg in enumerate(msgs):
            if not isinstance(msg, dict) or not isinstance(msg.get("text"), str):
                raise InvalidInput(
                    f"history {index}, message {number}: `text` must be a string", code="invalid_chat_file"
                )
            source = msg.get("src")
            human = isinstance(source, dict) and source.get("is_human") is True
            turns.append(("user" if human else "assistant", msg["text"], None))
        if turns:
            paths.append(turns)
    return _branches(paths, "cai-tools")


def _parse_risu(data: dict[str, Any]) -> ParsedChat:
    """RisuAI's chat export: {"type": "risuChat", "data": {"name", "message": [{"role": "user" | "char",
    "data", "time" (ms)}]}}."""
    raw = data.get("message")
    if not isinstance(raw, list):
        raise InvalidInput("`data.message` must be a list", code="invalid_chat_file")
    turns: list[tuple[str, str, str | None]] = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict) or not isinstance(item.get("data", ""), str):
            raise InvalidInput(f"message {index}: `data` must be a string", code="invalid_chat_file")
        turns.append(
            ("user" if item.get("role") == "user" else "assistant", item.get("data", ""), parse_date(item.get("time")))
        )
    name = data.get("name")
    return _one_path(turns, "risuai", title=name if isinstance(name, str) and name.strip() else None)


def _parse_byaf(data: bytes) -> ParsedChat:
    """A Backyard AI archive (`.byaf`): the chats of its scenarios."""
    files = unpack_zip(data, BYAF_CHAT_LIMITS, what="Backyard AI archive")
    if not is_byaf(files):
        raise InvalidInput("this zip is not a Backyard AI archive (it has no manifest.json)", code="invalid_chat_file")

    def read_json(raw: bytes, what: str) -> Any:
        try:
            return msgspec.json.decode(_decoded(raw, what))
        except msgspec.DecodeError:
            raise InvalidInput(f"{what} in the archive is not valid JSON", code="invalid_chat_file") from None

    return _parse_byaf_scenarios(byaf_scenarios(files, read_json))


def _parse_byaf_scenarios(scenarios: Sequence[dict[str, Any]]) -> ParsedChat:
    """Backyard AI scenarios (BYAF v1): each its greeting (`firstMessages`) and its `messages` - `human` ones with
    a `text`, `ai` ones with `outputs`, the one most recently shown (`activeTimestamp`) on the path, the others
    its swipes. Each scenario is a branch from its greeting (they are the character's alternate greetings)."""
    chats: list[Turns] = []
    swipes: list[Turns] = []  # paths that end in a reply's output not shown
    for number, scenario in enumerate(scenarios):
        where = f"scenario {number + 1}"
        messages = scenario.get("messages", [])
        if not isinstance(messages, list):
            raise InvalidInput(f"{where}: `messages` must be a list", code="invalid_chat_file")
        greeting = scenario_greeting(scenario)
        path: list[tuple[str, str, str | None]] = [("assistant", greeting, None)] if greeting.strip() else []
        for index, message in enumerate(messages):
            kind = message.get("type") if isinstance(message, dict) else None
            if kind == "human" and isinstance(message.get("text"), str):
                path.append(("user", message["text"], parse_date(message.get("createdAt"))))
                continue
            outputs = message.get("outputs") if kind == "ai" else None
            if not isinstance(outputs, list) or not all(
                isinstance(output, dict) and isinstance(output.get("text"), str) for output in outputs
            ):
                raise InvalidInput(
                    f"{where}, message {index}: a `human` message needs a `text`, an `ai` one `outputs` with texts",
                    code="invalid_chat_file",
                )
            if not outputs:
                continue
            replies = [("assistant", output["text"], parse_date(output.get("createdAt"))) for output in outputs]
            shown = max(range(len(outputs)), key=lambda n: (str(outputs[n].get("activeTimestamp") or ""), n))
            swipes += [[*path, reply] for n, reply in enumerate(replies) if n != shown]
            path.append(replies[shown])
        if path:
            chats.append(path)
    titles = [title for scenario in scenarios if isinstance(title := scenario.get("title"), str) and title.strip()]
    # The chats first: the longest is the one shown, and a swipe as long as its chat is not.
    parsed = _branches([*chats, *swipes], "backyard-ai", title=titles[0] if titles else None)
    parsed.has_macros = True
    return parsed


def _one_path(turns: Turns, source: str, *, title: str | None = None) -> ParsedChat:
    """A chat of one path (role, text, when) from another program's file."""
    return _branches([turns] if turns else [], source, title=title)


def _branches(paths: Sequence[Turns], source: str, *, title: str | None = None) -> ParsedChat:
    """A chat of one or more paths, each (role, text, when) per message, as one tree: paths that begin with
    the same messages (the character's greeting, say) share them and branch where they first differ. The
    longest path (the first of those) is the active one."""
    if sum(len(turns) for turns in paths) > MAX_IMPORT_MESSAGES:
        raise InvalidInput(f"more than {MAX_IMPORT_MESSAGES} messages", code="chat_too_large")
    if not paths:
        raise InvalidInput("the file holds no messages", code="invalid_chat_file")
    # A message without a time of its own has the one before it (the first ones the first known): in order.
    known = [at for turns in paths for _, _, at in turns if at]
    messages: list[ImportedMessage] = []
    children: dict[tuple[str | None, str, str], str] = {}  # (parent key, role, text) -> key
    parents: set[str | None] = set()
    leaves = []
    for turns in paths:
        last = known[0] if known else _iso(datetime.now(UTC))
        parent: str | None = None
        for role, text, at in turns:
            last = at or last
            key = children.get((parent, role, text))
            if key is None:
                key = str(len(messages))
                is_sibling = parent in parents
                parents.add(parent)
                children[(parent, role, text)] = key
                messages.append(
                    ImportedMessage(
                        key=key, parent_key=parent, role=role, content=text, created_at=last, is_regeneration=is_sibling
                    )
                )
            parent = key
        leaves.append(parent)
    active = max(range(len(paths)), key=lambda b: (len(paths[b]), -b))
    first_user = next((text for role, text, _ in paths[active] if role == "user"), "")
    return ParsedChat(
        title=(title or title_from(first_user) or "Imported chat")[:200],
        messages=messages,
        leaf_key=leaves[active],
        created_at=min(known) if known else None,
        metadata={"imported_from": source},
    )


def _parse_sillytavern(lines: list[str]) -> ParsedChat:
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = msgspec.json.decode(line)
        except msgspec.DecodeError as exc:
            raise InvalidInput(f"line {number} is not valid JSON ({exc})", code="invalid_chat_file") from None
        if not isinstance(record, dict):
            raise InvalidInput(f"line {number} is not a JSON object", code="invalid_chat_file")
        records.append((number, record))
    if not records:
        raise InvalidInput("the file has no lines", code="invalid_chat_file")
    header: dict[str, Any] = {}
    if "mes" not in records[0][1]:
        header = records.pop(0)[1]
    if len(records) > MAX_IMPORT_MESSAGES:
        raise InvalidInput(f"more than {MAX_IMPORT_MESSAGES} messages", code="chat_too_large")
    fallback = _iso(datetime.now(UTC))
    messages: list[ImportedMessage] = []
    parent: str | None = None
    for number, record in records:
        mes = _chub_text(record.get("mes"))
        if not isinstance(mes, str):
            raise InvalidInput(f"line {number}: `mes` must be a string", code="invalid_chat_file")
        # SillyTavern never sends an `is_system` line to the model: a message the user hid (its speaker's
        # own line still) or one of its notes. Those stay out of the prompt here too (out of character).
        hidden = record.get("is_system") is True
        role = "user" if record.get("is_user") is True else "system" if _st_system_line(record) else "assistant"
        created = parse_date(record.get("send_date")) or fallback
        raw_swipes = record.get("swipes")
        if isinstance(raw_swipes, list):
            raw_swipes = [_chub_text(swipe) for swipe in raw_swipes]
        swipes: list[str] = [mes]
        if isinstance(raw_swipes, list) and raw_swipes and all(isinstance(s, str) for s in raw_swipes):
            swipes = list(raw_swipes)
        swipe_id = record.get("swipe_id")
        chosen = swipe_id if isinstance(swipe_id, int) and 0 <= swipe_id < len(swipes) else None
        if chosen is None:
            chosen = swipes.index(mes) if mes in swipes else 0
        swipes[chosen] = mes  # the shown text wins if the two disagree
        raw_info = record.get("swipe_info")
        info: list[Any] = raw_info if isinstance(raw_info, list) else []
        kept = {k: v for k, v in record.items() if k not in ST_MODELLED}
        raw_extra = kept.get("extra")
        extra: dict[str, Any] = raw_extra if isinstance(raw_extra, dict) else {}
        chosen_key = None
        for index, content in enumerate(swipes):
            key = f"{number}:{index}"
            when = created
            if index < len(info) and isinstance(info[index], dict):
                when = parse_date(info[index].get("send_date")) or created
            messages.append(
                ImportedMessage(
                    key=key,
                    parent_key=parent,
                    role=role,
                    content=content,
                    created_at=when,
                    model_used=extra.get("model") if isinstance(extra.get("model"), str) else None,
                    tokens_used=extra.get("token_count") if isinstance(extra.get("token_count"), int) else None,
                    is_regeneration=index > 0,
                    metadata={"sillytavern": kept} if index == chosen and kept else {},
                    speaker_name=record["name"] if isinstance(record.get("name"), str) else None,
                    ooc=hidden,
                )
            )
            if index == chosen:
                chosen_key = key
        parent = chosen_key
    if not messages:
        raise InvalidInput("the file holds no messages", code="invalid_chat_file")
    first_user = next((m.content for m in messages if m.role == "user"), "")
    metadata = header.get("chat_metadata") if isinstance(header.get("chat_metadata"), dict) else {}
    st_header = {k: v for k, v in header.items() if k not in ("chat_metadata",)}
    return ParsedChat(
        title=title_from(first_user) if first_user else "Imported chat",
        messages=messages,
        leaf_key=parent,
        created_at=parse_date(header.get("create_date")),
        metadata={"sillytavern": {"chat_metadata": metadata, "header": st_header}},
    )


def _chub_text(value: Any) -> Any:
    """Chub's chats are SillyTavern's lines with each text (and swipe) an object {"message": text, ...}."""
    if isinstance(value, dict) and isinstance(value.get("message"), str):
        return value["message"]
    return value


def _parse_bostonia(whole: dict[str, Any]) -> ParsedChat:
    conversation = whole.get("conversation")
    raw = whole.get("messages")
    if not isinstance(conversation, dict) or not isinstance(raw, list):
        raise InvalidInput("a Bostonia conversation file needs `conversation` and `messages`", code="invalid_chat_file")
    if len(raw) > MAX_IMPORT_MESSAGES:
        raise InvalidInput(f"more than {MAX_IMPORT_MESSAGES} messages", code="chat_too_large")
    seen: set[str] = set()
    messages: list[ImportedMessage] = []
    now = _iso(datetime.now(UTC))
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            raise InvalidInput(f"message {index} is not an object", code="invalid_chat_file")
        try:
            message = msgspec.convert(
                {
                    "key": item.get("id"),
                    "parent_key": item.get("parent_id"),
                    "role": item.get("role"),
                    "content": item.get("content"),
                    "created_at": parse_date(item.get("created_at")) or now,
                    "model_used": item.get("model_used"),
                    "tokens_used": item.get("tokens_used"),
                    "status": item.get("status") or "complete",
                    "is_regeneration": bool(item.get("is_regeneration")),
                    "edited_at": parse_date(item.get("edited_at")),
                    "metadata": item.get("metadata") if isinstance(item.get("metadata"), dict) else {},
                    "character_id": item.get("character_id") if isinstance(item.get("character_id"), str) else None,
                    "speaker_name": item.get("speaker_name") if isinstance(item.get("speaker_name"), str) else None,
                    "ooc": item.get("ooc") is True,
                },
                ImportedMessage,
            )
        except msgspec.ValidationError as exc:
            raise InvalidInput(f"message {index}: {exc}", code="invalid_chat_file") from None
        if message.role not in ("user", "assistant", "system") or message.status not in ("complete", "partial"):
            raise InvalidInput(f"message {index}: unknown role or status", code="invalid_chat_file")
        if message.key in seen or (message.parent_key is not None and message.parent_key not in seen):
            raise InvalidInput(
                f"message {index}: duplicate id or parent not listed before it", code="invalid_chat_file"
            )
        seen.add(message.key)
        messages.append(message)
    leaf = conversation.get("active_leaf_id")
    if leaf is not None and leaf not in seen:
        raise InvalidInput("active_leaf_id is not one of the messages", code="invalid_chat_file")
    raw_title = conversation.get("title")
    title: str = raw_title if isinstance(raw_title, str) and raw_title else "Imported chat"
    raw_metadata = conversation.get("metadata")
    metadata: dict[str, Any] = raw_metadata if isinstance(raw_metadata, dict) else {}
    return ParsedChat(
        title=title[:200],
        messages=messages,
        leaf_key=leaf,
        created_at=parse_date(conversation.get("created_at")),
        metadata=metadata,
    )
