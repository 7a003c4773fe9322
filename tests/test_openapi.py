"""The OpenAPI document tells the truth: our error shape, the statuses routes really answer, the content types
they really send; and schemathesis finds no server error and no answer the document does not describe."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from litestar.testing import TestClient

from tests.openapi_support import fuzz, running_app, unique_failures

METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture
def document(client: TestClient[Any]) -> dict[str, Any]:
    response = client.get("/schema/openapi.json")
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m.upper(), p, op) for p, item in document["paths"].items() for m, op in item.items() if m in METHODS]


def test_every_error_is_documented_in_our_shape(document: dict[str, Any]) -> None:
    assert document["components"]["schemas"]["ErrorBody"]["required"] == ["error"]
    found = operations(document)
    assert len(found) > 150
    for method, path, operation in found:
        errors = {int(s): r for s, r in operation["responses"].items() if int(s) >= 400}
        assert 400 in errors, (method, path)
        for status, response in errors.items():
            if (method, path) == ("GET", "/ready") and status == 503:
                continue  # /ready's own report, not an error of the request
            assert response["content"] == {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
            assert response["description"], (method, path, status)
        if path.startswith("/api/") and path not in ("/api/v1/payments/webhook",):
            assert 429 in errors, (method, path)  # every API route is rate limited


def test_statuses_follow_what_the_route_reads(document: dict[str, Any]) -> None:
    paths = document["paths"]

    def statuses(method: str, path: str) -> set[int]:
        return {int(s) for s in paths[path][method]["responses"]}

    assert statuses("patch", "/api/v1/characters/{character_id}") >= {200, 400, 401, 403, 404, 409, 413, 422, 429}
    assert 401 not in statuses("get", "/api/v1/characters")  # anonymous browsing
    assert {401, 413} <= statuses("post", "/api/v1/auth/login")  # wrong credentials; a body
    assert 402 in statuses("post", "/api/v1/conversations/{conversation_id}/messages")  # credits
    assert 429 not in statuses("get", "/health") and 404 not in statuses("get", "/health")
    no_content = paths["/api/v1/auth/logout"]["post"]["responses"]["204"]
    assert "content" not in no_content


def test_content_types_are_the_real_ones(document: dict[str, Any], client: TestClient[Any]) -> None:
    paths = document["paths"]

    def media(method: str, path: str, status: str = "200") -> set[str]:
        return set(paths[path][method]["responses"][status]["content"])

    assert media("get", "/metrics") == {"text/plain"}
    assert client.get("/metrics").headers["content-type"].startswith("text/plain")
    assert media("post", "/api/v1/conversations/{conversation_id}/messages", "201") == {
        "application/json",
        "text/event-stream",
    }
    assert media("get", "/api/v1/conversations/{conversation_id}/messages/{message_id}/stream") == {"text/event-stream"}
    assert "image/png" in media("get", "/api/v1/characters/{character_id}/export")
    assert "application/jsonl" in media("get", "/api/v1/conversations/{conversation_id}/export")
    # HTML pages are not API: none is in the document.
    for method, path, operation in operations(document):
        for response in operation["responses"].values():
            assert "text/html" not in response.get("content", {}), (method, path)


def test_the_viewers_show_the_same_document(client: TestClient[Any], document: dict[str, Any]) -> None:
    yaml = client.get("/schema/openapi.yaml")
    assert yaml.status_code == 200 and "ErrorBody" in yaml.text
    assert "ErrorBody" in document["components"]["schemas"]


def test_schemathesis_sample_finds_no_server_error_and_no_undocumented_answer(tmp_path: Path) -> None:
    """A quick sample (the long run is tests/soak/test_openapi_soak.py): every operation, valid inputs, as a
    signed-in user and anonymously; not_a_server_error, status code, content type and body schema checks."""
    with running_app(tmp_path / "data") as url:
        outcome = fuzz(url, examples_per_operation=2, modes=(schemathesis.GenerationMode.POSITIVE,))
    assert outcome.operations > 150 and outcome.cases >= 300
    assert not outcome.failures, (
        f"{len(outcome.failures)} failures in {outcome.cases} cases:\n{unique_failures(outcome)}"
    )
