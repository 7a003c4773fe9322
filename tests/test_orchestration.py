"""AI orchestration through the chat: routes, fallback (before and mid-stream, timeouts, rate limits, all
failing), usage and cost per attempt, and the accounting policy the payments capability plugs in."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from bostonia.app import Services, build_services, create_app
from bostonia.config import ModelPrice, ModelsConfig, RoutesConfig
from bostonia.errors import InsufficientCredits
from bostonia.identity import User
from bostonia.llm.base import GenerationRequest, ProviderRateLimited
from bostonia.llm.registry import ModelRegistry
from bostonia.orchestration.accounting import Prices, Usage
from bostonia.orchestration.routing import ModelRouter
from bostonia.plugins import make_plugin_manager
from tests.fakes import ModelPlugin, ScriptedModel
from tests.helpers import (
    PASSWORD,
    bearer,
    csrf_token,
    error_of,
    make_settings,
    messages,
    new_conversation,
    register,
    send,
    stream_events,
)


class StallingModel(ScriptedModel):
    """Yields `before` pieces, then hangs until told to stop (a provider that stopped answering)."""

    def __init__(self, model_id: str, before: list[str]) -> None:
        super().__init__(model_id)
        self.before = before

    def stream(self, request: GenerationRequest, should_stop: Callable[[], bool]) -> Iterator[str]:
        self.requests.append(request)
        yield from self.before
        while not should_stop():
            time.sleep(0.02)


class RecordingPolicy:
    """An accounting policy: refuses the models it is told to, records what it is asked and charged."""

    def __init__(self, refuse: set[str] | None = None) -> None:
        self.refuse = refuse or set()
        self.asked: list[str] = []
        self.charged: list[Usage] = []

    async def before_generation(self, user: User, model_id: str) -> None:
        self.asked.append(model_id)
        if model_id in self.refuse:
            raise InsufficientCredits(f"no credits left for {model_id}")

    async def after_generation(self, user: User, usage: Usage) -> None:
        self.charged.append(usage)


@pytest.fixture
def primary() -> ScriptedModel:
    return ScriptedModel("primary")


@pytest.fixture
def backup() -> ScriptedModel:
    return ScriptedModel("backup")


@pytest.fixture
def policy() -> RecordingPolicy:
    return RecordingPolicy()


@pytest.fixture
def routed(
    primary: ScriptedModel, backup: ScriptedModel, policy: RecordingPolicy
) -> Iterator[tuple[TestClient[Any], Services]]:
    settings = make_settings(
        llm={"default_model": "primary"},
        models={
            "routes": {"free": ["primary", "backup"]},
            "prices": {"primary": {"input_per_1k": 1000, "output_per_1k": 3000}, "backup": {"output_per_1k": 500}},
            "stall_timeout_seconds": 0.5,
            "first_piece_timeout_seconds": 0.5,
            "retry_failed_after_seconds": 60,
        },
    )
    plugins = make_plugin_manager([])
    plugins.register(ModelPlugin(primary, backup))
    services = build_services(settings, plugins, accounting_policy=policy)
    with TestClient(create_app(settings, services=services)) as client:
        yield client, services


def usage_rows(services: Services, message_id: str) -> list[tuple[str, str, int, int, int]]:
    rows = services.db.read_sync(
        lambda conn: conn.execute(
            "select model_id, status, tokens_in, tokens_out, cost_micros from ai_usage where message_id = ?"
            " order by created_at, rowid",
            (message_id,),
        ).fetchall()
    )
    return [tuple(row) for row in rows]


def test_the_first_model_of_the_route_serves_and_its_cost_is_recorded(
    routed: tuple[TestClient[Any], Services], primary: ScriptedModel, backup: ScriptedModel, policy: RecordingPolicy
) -> None:
    client, services = routed
    alice = register(client, "alice@example.com")
    conversation = new_conversation(client, alice)
    primary.enqueue(["Well", " met."])
    reply = send(client, alice, conversation["id"], "Hello there")["assistant_message"]
    assert reply["model_used"] == "primary" and reply["content"] == "Well met."
    assert not backup.replies
    [(model_id, status, tokens_in, tokens_out, cost)] = usage_rows(services, reply["id"])
    assert (model_id, status, tokens_out) == ("primary", "ok", 2)
    assert tokens_in > 10  # the whole prompt: system text, card, greeting and the message
    assert cost == -(-tokens_in * 1000 // 1000) + -(-2 * 3000 // 1000)
    assert policy.asked == ["primary"]
    assert [u.message_id for u in policy.charged] == [reply["id"]] and policy.charged[0].cost_micros == cost


def test_a_failing_model_hands_the_reply_to_the_next(
    routed: tuple[TestClient[Any], Services], primary: ScriptedModel, backup: ScriptedModel, policy: RecordingPolicy
) -> None:
    client, services = routed
    alice = register(client, "alice@example.com")
    conversation = new_conversation(client, alice)
    primary.enqueue(RuntimeError("connection refused"))
    backup.enqueue(["Backup", " here."])
    events = stream_events(client, alice, conversation["id"], "Hello")
    names = [name for name, _ in events]
    assert "message:stream:fallback" in names and names[-1] == "message:stream:complete"
    notice = dict(events)["message:stream:fallback"]
    assert notice["from_model"] == "primary" and notice["to_model"] == "backup" and notice["kept_chars"] == 0
    assert "connection refused" not in notice["notice"]  # the user is told what happened, not the internals
    message = events[-1][1]["message"]
    assert message["content"] == "Backup here." and message["model_used"] == "backup"
    assert message["metadata"]["fallbacks"][0]["reason"] == "error"
    rows = usage_rows(services, message["id"])
    assert [(r[0], r[1]) for r in rows] == [("primary", "fallback"), ("backup", "ok")]
    assert [u.model_id for u in policy.charged] == ["backup"]  # the failed attempt is not charged


def test_a_mid_stream_failure_keeps_the_partial_reply_and_the_next_model_continues_it(
    routed: tuple[TestClient[Any], Services], primary: ScriptedModel, backup: ScriptedModel
) -> None:
    client, _ = routed
    alice = register(client, "alice@example.com")
    conversation = new_conversation(client, alice)
    primary.enqueue(["The", " dragon", RuntimeError("stream reset")])
    backup.enqueue([" sleeps", " soundly."])
    events = stream_events(client, alice, conversation["id"], "Tell me a story")
    names = [name for name, _ in events]
    fallen = names.index("message:stream:fallback")
    before = "".join(data["content"] for name, data in events[:fallen] if name == "message:stream:chunk")
    after = "".join(data["content"] for name, data in events[fallen:] if name == "message:stream:chunk")
    assert (before, after) == ("The dragon", " sleeps soundly.")
    fallback = dict(events)["message:stream:fallback"]
    assert fallback["kept_chars"] == len("The dragon") and not fallback["restarted"]
    continued = backup.replies[-1]
    assert continued.continue_last and continued.messages[-1].role == "assistant"
    assert continued.messages[-1].content == "The dragon"
    message = events[-1][1]["message"]
    assert message["content"] == "The dragon sleeps soundly." and message["model_used"] == "backup"
    assert message["metadata"]["fallbacks"][0]["at_chars"] == len("The dragon")
    assert messages(client, alice, conversation["id"])[-1]["metadata"]["fallbacks"][0]["from_model"] == "primary"


def test_a_stalled_model_times_out_and_a_rate_limited_one_cools_down(
    primary: ScriptedModel, backup: ScriptedModel, routed: tuple[TestClient[Any], Services]
) -> None:
    client, services = routed
    stalled = StallingModel("primary", ["Hm"])
    services.models.register(stalled)  # replaces the scripted primary under the same id
    alice = register(client, "alice@example.com")
    conversation = new_conversation(client, alice)
    backup.enqueue([", indeed."])
    reply = send(client, alice, conversation["id"], "Well?")["assistant_message"]
    assert reply["content"] == "Hm, indeed." and reply["model_used"] == "backup"
    assert reply["metadata"]["fallbacks"][0]["reason"] == "timeout"
    # The timed-out model cools down: the next reply goes straight to the backup.
    services.models.register(primary)
    primary.enqueue(["never used"])
    reply = send(client, alice, conversation["id"], "Again?")["assistant_message"]
    assert reply["model_used"] == "backup" and not primary.replies
    assert not reply["metadata"].get("fallbacks")  # passed over, not tried and failed


def test_rate_limits_pass_the_reply_on_and_when_every_model_fails_the_user_is_told(
    routed: tuple[TestClient[Any], Services], primary: ScriptedModel, backup: ScriptedModel
) -> None:
    client, services = routed
    alice = register(client, "alice@example.com")
    conversation = new_conversation(client, alice)
    primary.enqueue(ProviderRateLimited("429 Too Many Requests", retry_after=120))
    backup.enqueue(RuntimeError("out of memory"))
    events = stream_events(client, alice, conversation["id"], "Hello")
    name, error = events[-1]
    assert name == "error" and error["code"] == "generation_failed"
    assert "primary (rate_limited)" in error["message"] and "backup (error)" in error["message"]
    assert "out of memory" not in error["message"]
    rows = services.db.read_sync(
        lambda conn: conn.execute("select model_id, status, error from ai_usage order by rowid").fetchall()
    )
    assert [(r[0], r[1]) for r in rows] == [("primary", "fallback"), ("backup", "failed")]
    assert "429" in rows[0][2]  # the provider's words are kept for admins
    assert len(messages(client, alice, conversation["id"])) == 2  # greeting + the user's message, no reply


def test_the_accounting_policy_may_refuse_a_model_and_the_route_goes_on(
    routed: tuple[TestClient[Any], Services], backup: ScriptedModel, policy: RecordingPolicy
) -> None:
    client, _ = routed
    alice = register(client, "alice@example.com")
    conversation = new_conversation(client, alice)
    policy.refuse = {"primary"}
    backup.enqueue(["Cheaper", " reply."])
    reply = send(client, alice, conversation["id"], "Hello")["assistant_message"]
    assert reply["model_used"] == "backup" and policy.asked == ["primary", "backup"]
    policy.refuse = {"primary", "backup"}
    response = client.post(
        f"/api/v1/conversations/{conversation['id']}/messages", json={"content": "More"}, headers=bearer(alice)
    )
    assert response.status_code == 402, response.text
    assert error_of(response)["code"] == "insufficient_credits"
    assert [m["content"] for m in messages(client, alice, conversation["id"])][-1] == "Cheaper reply."  # not stored


def test_costs_are_visible_to_the_user_per_message_and_to_admins_per_user_and_model(
    routed: tuple[TestClient[Any], Services], primary: ScriptedModel
) -> None:
    client, _ = routed
    admin = register(client, "admin@example.com")  # the first account is the admin
    alice = register(client, "alice@example.com")
    conversation = new_conversation(client, alice)
    primary.enqueue(["One", " two", " three."])
    reply = send(client, alice, conversation["id"], "Count")["assistant_message"]
    mine = client.get("/api/v1/ai/usage", headers=bearer(alice)).json()
    assert [row["message_id"] for row in mine["recent"]] == [reply["id"]]
    assert mine["per_user_day"][0]["cost_micros"] == mine["recent"][0]["cost_micros"] > 0
    report = client.get("/api/v1/admin/ai/usage", headers=bearer(admin)).json()
    assert report["per_model"][0]["model_id"] == "primary" and report["per_model"][0]["tokens_out"] == 3
    assert report["per_user_day"][0]["email"] == "alice@example.com"
    assert report["recent"][0]["message_id"] is None  # conversations stay their owners' ([privacy])
    page = client.get("/admin/models", headers=bearer(admin))
    assert page.status_code == 200 and "alice@example.com" in page.text and "primary" in page.text
    assert client.get("/api/v1/admin/ai/usage", headers=bearer(alice)).status_code == 403


def test_routes_by_tier_character_chat_pick_and_creative_mode() -> None:
    registry = ModelRegistry("small")
    for model_id in ("small", "medium", "large", "muse"):
        registry.register(ScriptedModel(model_id))
    config = ModelsConfig(
        routes=RoutesConfig(free=["small"], pro=["large", "small"], creative=["muse"]),
        min_tier={"large": "pro", "muse": "plus"},
    )
    router = ModelRouter(config, registry)
    assert router.route_ids("free") == ["small"]
    assert router.route_ids("plus") == ["small"]  # no plus route: the free one
    assert router.route_ids("creator") == ["large", "small"]  # no creator route: pro's
    assert router.route_ids("free", chosen="large") == ["small"]  # not on this plan: ignored
    assert router.route_ids("pro", chosen="medium", requested="large") == ["medium", "large", "small"]
    assert router.route_ids("free", creative=True) == ["muse", "small"]  # routes apply as configured
    assert router.pickable("free") == ["small", "medium"]
    as_asked = router.route_for_chat("plus", None, False, {"model": "muse", "temperature": 0.7})
    assert [m.model_id for m in as_asked] == ["muse", "small"]  # the character's creator asked for muse
    assert [m.model_id for m in router.route("pro", chosen="gone")] == ["gone", "large", "small"][1:]
    assert ModelRouter(ModelsConfig(), ModelRegistry("missing")).route_ids("free") == ["missing"]


def test_a_chat_can_pick_a_model_and_turn_on_creative_mode(
    routed: tuple[TestClient[Any], Services], primary: ScriptedModel, backup: ScriptedModel
) -> None:
    client, _ = routed
    alice = register(client, "alice@example.com")
    conversation = new_conversation(client, alice)
    changed = client.patch(
        f"/api/v1/conversations/{conversation['id']}", json={"settings": {"model": "backup"}}, headers=bearer(alice)
    )
    assert changed.status_code == 200 and changed.json()["settings"]["model"] == "backup"
    backup.enqueue(["Picked."])
    assert send(client, alice, conversation["id"], "Hi")["assistant_message"]["model_used"] == "backup"
    assert not primary.replies
    # The routing choices are not sampler values: the model gets the server's sampler defaults.
    assert backup.params[-1].temperature == 0.8


def test_cost_is_integer_micro_units_rounded_up() -> None:
    prices = Prices({"m": ModelPrice(input_per_1k=150, output_per_1k=600)})
    assert prices.cost_micros("m", 1000, 1000) == 750
    assert prices.cost_micros("m", 1, 1) == 1 + 1  # a partial thousand costs its share, rounded up
    assert prices.cost_micros("m", 0, 0) == 0
    assert prices.cost_micros("unpriced", 10_000, 10_000) == 0
    assert isinstance(prices.cost_micros("m", 3, 7), int)


def test_the_chat_page_picks_a_model_turns_on_creative_mode_and_shows_a_fallback(
    routed: tuple[TestClient[Any], Services], primary: ScriptedModel, backup: ScriptedModel
) -> None:
    client, _ = routed
    alice = register(client, "alice@example.com")
    client.post("/login", data={"email": "alice@example.com", "password": PASSWORD, "_csrf_token": csrf_token(client)})
    conversation = new_conversation(client, alice)
    page = client.get(f"/chats/{conversation['id']}")
    assert page.status_code == 200
    assert "Automatic (primary → backup)" in page.text and '<option value="backup"' in page.text
    htmx = {"hx-request": "true", "x-csrftoken": csrf_token(client)}
    saved = client.patch(
        f"/chats/{conversation['id']}/settings",
        data={"temperature": "0.5", "model": "backup", "creative": "on"},
        headers=htmx,
    )
    assert saved.status_code == 204, saved.text
    settings = client.get(f"/api/v1/conversations/{conversation['id']}", headers=bearer(alice)).json()["settings"]
    assert settings == {"temperature": 0.5, "model": "backup", "creative": True}
    page = client.get(f"/chats/{conversation['id']}")
    assert '<option value="backup" selected>' in page.text and 'name="creative" checked' in page.text
    backup.enqueue(RuntimeError("down"))
    primary.enqueue(["Primary", " steps in."])
    reply = send(client, alice, conversation["id"], "Hello")["assistant_message"]
    assert reply["model_used"] == "primary"
    page = client.get(f"/chats/{conversation['id']}")
    assert "backup failed; primary is answering instead." in page.text  # the stored bubble says what happened


class HoldingPolicy(RecordingPolicy):
    """A policy that reserves in `before_generation` and must see every reservation charged or freed."""

    def __init__(self) -> None:
        super().__init__()
        self.held = 0
        self.freed: list[str] = []

    async def before_generation(self, user: User, model_id: str) -> None:
        await super().before_generation(user, model_id)
        self.held += 1

    async def after_generation(self, user: User, usage: Usage) -> None:
        await super().after_generation(user, usage)
        self.held -= 1

    async def generation_failed(self, user: User, model_id: str) -> None:
        self.freed.append(model_id)
        self.held -= 1


def test_every_reservation_is_charged_or_freed(primary: ScriptedModel, backup: ScriptedModel) -> None:
    policy = HoldingPolicy()
    settings = make_settings(
        llm={"default_model": "primary"},
        models={"routes": {"free": ["primary", "backup"]}, "retry_failed_after_seconds": 0},
    )
    plugins = make_plugin_manager([])
    plugins.register(ModelPlugin(primary, backup))
    services = build_services(settings, plugins, accounting_policy=policy)
    with TestClient(create_app(settings, services=services)) as client:
        alice = register(client, "alice@example.com")
        conversation = new_conversation(client, alice)
        primary.enqueue(RuntimeError("down"))
        backup.enqueue(["Saved."])
        assert send(client, alice, conversation["id"], "One")["assistant_message"]["content"] == "Saved."
        backup.enqueue(RuntimeError("down too"))
        primary.enqueue(RuntimeError("still down"))
        failed = client.post(
            f"/api/v1/conversations/{conversation['id']}/messages", json={"content": "Two"}, headers=bearer(alice)
        )
        assert failed.status_code == 503
    assert policy.held == 0  # nothing left reserved
    assert [u.model_id for u in policy.charged] == ["backup"]
    assert policy.freed == ["primary", "primary", "backup"]  # each failed attempt, none of the charged one
