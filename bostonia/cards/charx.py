"""CharX (`.charx`): a zip with `card.json` (a V3 card) at its root and the card's assets beside it.

Reading treats the zip as hostile: bytes before the first local header are tolerated (self-extracting
or JPEG+ZIP files), but entry names must be plain relative paths, the entry count, the total
uncompressed size and the compression ratio are capped, and sizes are enforced while decompressing,
not trusted from the headers.
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from typing import NamedTuple

from bostonia.errors import InvalidInput, PayloadTooLarge

LOCAL_HEADER = b"PK\x03\x04"
CARD_FILE = "card.json"
# URI prefixes that point into the archive (`embeded` is the spec's own spelling).
EMBEDDED_PREFIXES = ("embeded://", "embedded://", "__asset:")
# Small files compress well legitimately; the ratio cap only applies to entries bigger than this.
RATIO_FLOOR_BYTES = 1024 * 1024
_DRIVE = re.compile(r"^[A-Za-z]:")


class CharxLimits(NamedTuple):
    max_uncompressed_bytes: int
    max_ratio: int
    max_entries: int
    max_card_json_bytes: int


class CharxContents(NamedTuple):
    card_text: str
    assets: dict[str, bytes]  # every other file, by its path inside the archive


def bad_charx(message: str) -> InvalidInput:
    return InvalidInput(message, code="invalid_charx")


def safe_name(name: str, what: str = "CharX") -> str:
    """The entry's path if it is a plain relative path; anything that could escape a folder is refused."""
    parts = name.split("/")
    if (
        not name
        or name.startswith("/")
        or "\\" in name
        or "\0" in name
        or _DRIVE.match(name)
        or any(part in ("..", ".") for part in parts)
    ):
        raise bad_charx(f"{what} entry {name[:120]!r} is not a safe relative path")
    return name


def _read_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: int) -> bytes:
    """Decompress one entry, stopping as soon as it outgrows its declared size or the remaining budget."""
    cap = min(info.file_size, budget)
    out = bytearray()
    with archive.open(info) as stream:
        while chunk := stream.read(min(1024 * 1024, cap - len(out) + 1)):
            out += chunk
            if len(out) > cap:
                raise PayloadTooLarge(
                    f"zip entry {info.filename!r} inflates beyond its declared size or the size limit",
                    code="charx_too_large",
                )
    return bytes(out)


def unpack_zip(data: bytes, limits: CharxLimits, *, what: str = "CharX") -> dict[str, bytes]:
    """Every file of a card archive (CharX, Backyard AI's `.byaf`), by its path, within `limits`. JSON files are
    held to the card JSON limit."""
    if LOCAL_HEADER not in data:
        raise bad_charx(f"not a {what} file (no zip data)")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))  # zipfile finds the archive after any leading bytes
        infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise bad_charx(f"corrupt {what} zip: {exc}") from None
    with archive:
        if len(infos) > limits.max_entries:
            raise PayloadTooLarge(
                f"{what} has {len(infos):,} entries; the limit is {limits.max_entries:,}", code="charx_too_large"
            )
        files = [info for info in infos if not info.is_dir()]
        declared = 0
        for info in infos:
            safe_name(info.filename, what)
            if info.flag_bits & 0x1:
                raise bad_charx(f"{what} entry {info.filename!r} is encrypted")
            declared += info.file_size
            if info.file_size > RATIO_FLOOR_BYTES and info.file_size > limits.max_ratio * max(info.compress_size, 1):
                raise PayloadTooLarge(
                    f"{what} entry {info.filename!r} has a compression ratio above {limits.max_ratio} (zip bomb?)",
                    code="charx_too_large",
                )
        if declared > limits.max_uncompressed_bytes:
            raise PayloadTooLarge(
                f"{what} unpacks to {declared:,} bytes; the limit is {limits.max_uncompressed_bytes:,}",
                code="charx_too_large",
            )
        budget = limits.max_uncompressed_bytes
        contents: dict[str, bytes] = {}
        try:
            for info in files:
                if info.filename in contents:
                    raise bad_charx(f"{what} entry {info.filename!r} appears twice")
                if info.filename.endswith(".json") and info.file_size > limits.max_card_json_bytes:
                    raise PayloadTooLarge(
                        f"{info.filename} is larger than the limit of {limits.max_card_json_bytes:,} bytes",
                        code="card_too_large",
                    )
                contents[info.filename] = _read_entry(archive, info, budget)
                budget -= len(contents[info.filename])
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError, NotImplementedError) as exc:
            raise bad_charx(f"corrupt {what} zip: {exc}") from None
    return contents


def read_charx(data: bytes, limits: CharxLimits) -> CharxContents:
    return charx_contents(unpack_zip(data, limits))


def charx_contents(contents: dict[str, bytes]) -> CharxContents:
    """An unpacked CharX: its card.json text and its assets."""
    if CARD_FILE not in contents:
        raise bad_charx("the archive has no card.json at its root (a CharX) nor a manifest.json (a Backyard AI BYAF)")
    try:
        card_text = contents.pop(CARD_FILE).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput("card.json in the CharX is not UTF-8 text", code="invalid_card") from None
    return CharxContents(card_text, contents)


def asset_path(uri: str) -> str | None:
    """The archive path an asset URI points to, or None for external URIs (https:, data:, ccdefault:)."""
    for prefix in EMBEDDED_PREFIXES:
        if uri.startswith(prefix):
            return uri[len(prefix) :]
    return None


def write_charx(card_json: bytes, assets: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(CARD_FILE, card_json)
        for path, content in sorted(assets.items()):
            archive.writestr(safe_name(path), content)
    return buffer.getvalue()
