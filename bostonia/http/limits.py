"""Hostile input stopped at the door: JSON bodies nested too deep (before Litestar decodes them), WebSocket
frames that are binary, too large or too deep (before the sockets decode them). The bounds themselves are in
bostonia.json_limits."""

from __future__ import annotations

from typing import Any

from litestar import Request, WebSocket
from litestar.exceptions import WebSocketDisconnect

from bostonia.errors import InvalidInput
from bostonia.json_limits import MAX_JSON_DEPTH, check_json_depth, nesting_depth_exceeds

# The WebSocket frame limit. `bostonia serve` has uvicorn refuse larger frames while reading them
# (`ws_max_size`, close code 1009); the sockets check again for servers run another way.
MAX_FRAME_BYTES = 64 * 1024


class BostoniaRequest(Request[Any, Any, Any]):
    """Litestar's request, with the depth check in front of its JSON decoding (every `data` parameter)."""

    async def json(self) -> Any:
        check_json_depth(await self.body())
        return await super().json()


async def receive_frame(socket: WebSocket[Any, Any, Any]) -> str | bytes:
    """The next frame as sent (text or binary); raises WebSocketDisconnect when the client has gone."""
    event = await socket.receive()
    if event["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(detail="disconnect event", code=event.get("code", 1000))
    text, binary = event.get("text"), event.get("bytes")
    return text if isinstance(text, str) else binary if isinstance(binary, bytes) else b""


def check_frame(raw: str | bytes) -> str:
    """A client frame fit to decode: JSON text within the size and depth limits; else InvalidInput."""
    if isinstance(raw, bytes):
        raise InvalidInput("frames are JSON text; binary frames are not accepted", code="binary_frame")
    if len(raw) > MAX_FRAME_BYTES:
        raise InvalidInput(f"frames are limited to {MAX_FRAME_BYTES // 1024} KB", code="frame_too_large")
    if nesting_depth_exceeds(raw):
        raise InvalidInput(f"JSON nested deeper than {MAX_JSON_DEPTH} levels is refused", code="too_deep")
    return raw
