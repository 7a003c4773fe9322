from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import msgspec
from litestar.params import URLEncodedBody

from bostonia.errors import InvalidInput

S = TypeVar("S", bound=msgspec.Struct)

# An HTML form post, read leniently: pages validate fields themselves and re-render with a message.
Form = URLEncodedBody[dict[str, str]]

# The sampler fields of a settings form, as `SamplerSettings` names them, with their number types.
SAMPLER_FIELDS: dict[str, type[float] | type[int]] = {
    "temperature": float,
    "top_p": float,
    "top_k": int,
    "min_p": float,
    "repeat_penalty": float,
    "max_tokens": int,
}


def parse_form(data: Mapping[str, str], schema: type[S], fields: tuple[str, ...]) -> S:
    """Read the named form fields into a Struct, turning its validation errors into clear 422s."""
    try:
        return msgspec.convert({k: data[k] for k in fields if k in data}, schema, strict=False)
    except msgspec.ValidationError as exc:
        raise InvalidInput(f"invalid form input: {exc}") from None


def sampler_values(form: Mapping[str, Any]) -> dict[str, Any]:
    """The sampler fields a form filled in, as numbers (blank = not set); `stop` split on `|` or lines.
    Ranges are checked by `SamplerSettings`; this only reads what was typed."""
    values: dict[str, Any] = {}
    for field, kind in SAMPLER_FIELDS.items():
        raw = str(form.get(field) or "").strip()
        if raw:
            try:
                values[field] = kind(raw)
            except ValueError:
                raise InvalidInput(f"{field} must be a number", details={"field": field}) from None
    if raw := str(form.get("stop") or "").strip():
        values["stop"] = [part for part in raw.replace("\n", "|").split("|") if part.strip()]
    # The routing choices the same form carries: the chat's model ("" = automatic) and creative mode.
    if model := str(form.get("model") or "").strip():
        values["model"] = model
    if form.get("creative") in ("on", "true", "1"):
        values["creative"] = True
    return values
