"""Whole-app checks over every route."""

from __future__ import annotations

import typing

import msgspec
from litestar import Litestar
from litestar.handlers import HTTPRouteHandler


def body_types(handler: HTTPRouteHandler) -> list[type[msgspec.Struct]]:
    field = handler.parsed_fn_signature.parameters.get("data")
    if field is None:
        return []
    annotation = field.annotation
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return [annotation] if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct) else []


def test_no_dependency_is_named_like_a_body_field(app: Litestar) -> None:
    """Litestar blames a body validation error on a same-named dependency and answers 500 (not 400)."""
    dependencies = set(app.dependencies)
    clashes = []
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if not isinstance(handler, HTTPRouteHandler):
                continue
            for struct in body_types(handler):
                for field in struct.__struct_fields__:
                    if field in dependencies:
                        clashes.append(f"{route.path}: body field {field!r} of {struct.__name__}")
    assert not clashes, clashes
