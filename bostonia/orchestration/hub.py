"""Downloading a GGUF from a Hugging Face-style hub: `{hub_url}/{repo}/resolve/{revision}/{file}`.

The file is written next to its destination as `.<name>.part`; an interrupted download resumes from
there with a `Range` request (a server that ignores the range sends the whole file again, and we start
over). Redirects are followed (the hub sends files from a CDN; httpx drops the token on a redirect to
another host). The result is checked — its size against what the server announced, its SHA-256 against
`--sha256` or the hub's `X-Linked-Etag`/`ETag` when that is a SHA-256, and its header as a GGUF — before
it is moved into place atomically: `models/` never holds a half-written model.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import httpx

from bostonia.errors import Conflict, InvalidInput, Unavailable
from bostonia.orchestration.gguf import GGUFError, GGUFInfo, read_gguf

CHUNK = 1024 * 1024
SHA256 = re.compile(r'^(?:W/)?"?([0-9a-f]{64})"?$')
REPO = re.compile(r"^[A-Za-z0-9][\w.\-]*(/[\w.\-]+)?$")
Progress = Callable[[int, int | None], None]  # bytes so far, total (None if unknown)


def hub_file_url(hub_url: str, repo: str, file: str, revision: str = "main") -> str:
    if not REPO.match(repo) or ".." in repo:
        raise InvalidInput(f"not a repository name: {repo!r} (expected owner/name)")
    if not file or file.startswith("/") or ".." in file.split("/"):
        raise InvalidInput(f"not a file path in a repository: {file!r}")
    path = "/".join(quote(part, safe="") for part in file.split("/"))
    return f"{hub_url.rstrip('/')}/{repo}/resolve/{quote(revision, safe='')}/{path}"


def part_path(destination: Path) -> Path:
    return destination.with_name(f".{destination.name}.part")


def announced_sha256(response: httpx.Response) -> str | None:
    """The SHA-256 a Hugging Face-style hub announces for an LFS file (on the redirect or the file)."""
    for answer in (*response.history, response):
        for header in ("x-linked-etag", "etag"):
            match = SHA256.match(answer.headers.get(header, "").strip().lower())
            if match:
                return match.group(1)
    return None


def pull(
    url: str,
    destination: Path,
    *,
    token: str | None = None,
    sha256: str | None = None,
    progress: Progress = lambda done, total: None,
    force: bool = False,
    timeout: float = 60.0,
) -> GGUFInfo:
    """Download `url` to `destination` (resuming a `.part` left by an earlier try); returns its metadata."""
    if destination.suffix.lower() != ".gguf":
        raise InvalidInput(f"{destination.name}: only .gguf files can be pulled")
    destination.parent.mkdir(parents=True, exist_ok=True)
    part = part_path(destination)
    try:
        with httpx.Client(follow_redirects=True, timeout=httpx.Timeout(timeout, connect=30.0)) as client:
            if destination.exists() and not force:
                return _already_here(client, url, destination, token, sha256)
            digest, expected = _download(client, url, part, token, sha256, progress)
    except httpx.TransportError as exc:
        raise Unavailable(
            f"download interrupted ({type(exc).__name__}: {exc}); run the same command again to resume",
            code="download_interrupted",
        ) from None
    if expected and digest != expected:
        part.unlink()
        raise InvalidInput(
            f"checksum mismatch: SHA-256 {digest} but {expected} was expected; the file was deleted",
            code="checksum_mismatch",
        )
    try:
        info = read_gguf(part)
    except GGUFError as exc:
        part.unlink()
        raise InvalidInput(f"the downloaded file is not a usable GGUF model: {exc}", code="not_gguf") from None
    os.replace(part, destination)  # atomic: the model appears whole or not at all
    return info


def _already_here(client: httpx.Client, url: str, destination: Path, token: str | None, sha256: str | None) -> GGUFInfo:
    """Pulling a file that is here already is done, if it is the hub's file (same size, same SHA-256 when
    one is known); a different file of that name is a conflict."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = client.head(url, headers=headers)
    _check_status(response, url)
    length = response.headers.get("content-length", "")
    expected = (sha256 or announced_sha256(response) or "").lower()
    same = length.isdigit() and int(length) == destination.stat().st_size
    if same and expected:
        same = _sha256_of(destination) == expected
    if not same:
        raise Conflict(
            f"{destination} exists and is not the hub's file (remove it first, or pull with --force)",
            code="model_exists",
        )
    return read_gguf(destination)


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while block := file.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _download(
    client: httpx.Client, url: str, part: Path, token: str | None, sha256: str | None, progress: Progress
) -> tuple[str, str | None]:
    """Fetch `url` into `part` (resuming what it holds); returns the file's SHA-256 and the expected one."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    offset = part.stat().st_size if part.exists() else 0
    if offset:
        headers["Range"] = f"bytes={offset}-"
    with client.stream("GET", url, headers=headers) as response:
        if response.status_code == 416 and offset:  # the range lies past the end: start over
            part.unlink()
            return _download(client, url, part, token, sha256, progress)
        _check_status(response, url)
        digest = hashlib.sha256()
        resumed = response.status_code == 206
        if resumed:
            start = _range_start(response, offset)
            if start != offset:
                raise Unavailable(f"the hub resumed at byte {start}, not {offset}", code="hub_error")
            with open(part, "rb") as earlier:
                while block := earlier.read(CHUNK):
                    digest.update(block)
        else:
            offset = 0
        length = response.headers.get("content-length")
        total = offset + int(length) if length and length.isdigit() else None
        expected = (sha256 or announced_sha256(response) or "").lower() or None
        done = offset
        progress(done, total)
        with open(part, "ab" if resumed else "wb") as out:
            for block in response.iter_bytes():  # as it arrives: an interruption loses nothing written
                out.write(block)
                digest.update(block)
                done += len(block)
                progress(done, total)
            out.flush()
            os.fsync(out.fileno())
    if total is not None and done != total:
        raise Unavailable(
            f"download stopped at {done} of {total} bytes; run the same command again to resume",
            code="download_interrupted",
        )
    return digest.hexdigest(), expected


def _check_status(response: httpx.Response, url: str) -> None:
    if response.status_code in (401, 403):
        raise InvalidInput(
            f"the hub refused {url} ({response.status_code}): a gated repository needs a token"
            " in the environment variable named by [models] hub_token_env",
            code="hub_refused",
        )
    if response.status_code == 404:
        raise InvalidInput(f"not found on the hub: {url}", code="hub_not_found")
    if response.status_code not in (200, 206):
        raise Unavailable(f"the hub answered {response.status_code} for {url}", code="hub_error")


def _range_start(response: httpx.Response, asked: int) -> int:
    """Where a 206 answer starts (servers that omit Content-Range start where they were asked to)."""
    match = re.match(r"bytes (\d+)-", response.headers.get("content-range", ""))
    return int(match.group(1)) if match else asked
