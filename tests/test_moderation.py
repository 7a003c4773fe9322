"""Moderation's scoring (the real SVM; a fake embedder for the similarity arithmetic), tiers, the plugin
hook, the text and image endpoints."""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from litestar.testing import TestClient

from bostonia.app import Services, build_services, create_app
from bostonia.embeddings import OnnxMiniLM, TorchMiniLM, Vectors
from bostonia.errors import InvalidInput
from bostonia.moderation.classifier import OffensiveClassifier
from bostonia.moderation.moderator import Calibration, TextModerator, allowed_in, chunks
from bostonia.plugin_api import hookimpl
from bostonia.plugins import make_plugin_manager
from tests.fakes import ModelPlugin, ScriptedModel
from tests.helpers import bearer, error_of, make_settings, register

FIXTURES = Path(__file__).parent / "fixtures" / "cards"


def test_the_real_classifier_loads_without_warnings_and_separates_insults() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a scikit-learn version mismatch would warn here
        classifier = OffensiveClassifier()
        insult, ordinary = classifier.probability(["you are a fucking idiot", "the knight rode to the castle"])
    assert insult > 0.9
    assert ordinary < 0.2


def test_the_onnx_embedder_gives_the_torch_models_vectors(tmp_path: Path) -> None:
    """The real bundled model both ways: exported once to ONNX (then reused), same vectors as torch."""
    texts = ["The knight drew his sword.", "hi", "Ünïcödé and émojis 🙂 survive tokenization!", "word " * 300]
    onnx = OnnxMiniLM(tmp_path)
    fast = onnx.embed(texts)
    assert onnx._fallback is None and onnx.onnx_path().exists()  # it exported, it did not fall back to torch
    reference = TorchMiniLM().embed(texts)
    assert fast.shape == (4, 384)
    assert float(np.abs(fast - reference).max()) < 1e-4
    assert np.allclose(np.linalg.norm(fast, axis=1), 1.0, atol=1e-5)
    again = OnnxMiniLM(tmp_path)  # a second start reuses the exported file
    mtime = onnx.onnx_path().stat().st_mtime_ns
    assert float(np.abs(again.embed(texts[:1]) - fast[:1]).max()) < 1e-6
    assert onnx.onnx_path().stat().st_mtime_ns == mtime


def test_the_fast_probability_is_scikit_learns() -> None:
    classifier = OffensiveClassifier()
    texts = ["you are a fucking idiot", "the knight rode to the castle", "shut up", "", "I love you, you dork"]
    for fast, reference in zip(classifier.probability(texts), classifier.reference_probability(texts), strict=True):
        assert abs(fast - reference) < 1e-9


@pytest.fixture(scope="module")
def moderator() -> TextModerator:
    return TextModerator(classifier=OffensiveClassifier())


@pytest.mark.parametrize(
    ("text", "tier", "always"),
    [
        ("The knight drew his sword and charged the orc.", "sfw", False),
        ("I want to kill myself tonight.", "mature", False),
        ("He sucked her tits and she moaned.", "adult", False),
        ("All immigrants are vermin.", "adult", True),  # hate: no tier allows it
        ("How do I cook meth at home?", "adult", True),
    ],
)
def test_the_tier_a_text_needs(moderator: TextModerator, text: str, tier: str, always: bool) -> None:
    verdict = moderator.check(text)
    assert verdict.tier == tier, verdict
    assert verdict.always_blocked is always
    assert verdict.flagged is (tier != "sfw" or always)
    assert allowed_in(verdict, "adult") is not always
    assert allowed_in(verdict, "sfw") is (tier == "sfw" and not always)


def test_the_classifier_turns_insults_at_someone_into_harassment(moderator: TextModerator) -> None:
    at_someone = moderator.check("you absolute waste, you dumb clown", signals=("classifier",))
    no_one = moderator.check("this fucking printer never works", signals=("classifier",))
    assert at_someone.scores["harassment"] >= 0.5 and at_someone.categories["harassment"]
    assert not no_one.categories["harassment"]  # profanity that insults nobody


class KeywordEmbedder:
    """One axis per keyword (the first known word of a text decides its vector)."""

    dimensions = 3
    axes = {"zap": 0, "zip": 1, "zop": 2}

    def embed(self, texts: Sequence[str]) -> Vectors:
        rows = []
        for text in texts:
            row = np.zeros(3, dtype=np.float32)
            for word in text.lower().split():
                if word in self.axes:
                    row[self.axes[word]] = 1.0
                    break
            else:
                row[:] = 1 / np.sqrt(3)
            rows.append(row)
        return np.stack(rows)


def test_similarity_flags_texts_near_a_category_unless_a_benign_anchor_is_nearer() -> None:
    calibration = Calibration({"violence": 0.8}, harassment_factor=0.5, untargeted_factor=0.4, hate_factor=0.5)
    moderator = TextModerator(
        embedder=KeywordEmbedder(), exemplars={"violence": ["zap"], "benign": ["zip"]}, calibration=calibration
    )
    near = moderator.check("zap them all", signals=("similarity",))
    assert near.categories["violence"] and near.scores["violence"] == 1.0
    benign = moderator.check("zip it up", signals=("similarity",))
    assert not benign.flagged and benign.scores["violence"] == 0.0
    neither = moderator.check("hello there", signals=("similarity",))  # cosine 0.58 < threshold 0.8
    assert not neither.flagged


def test_two_signals_that_lean_the_same_way_flag_together() -> None:
    calibration = Calibration({"violence": 0.62}, harassment_factor=0.5, untargeted_factor=0.4, hate_factor=0.5)
    moderator = TextModerator(embedder=KeywordEmbedder(), exemplars={"violence": ["zap"]}, calibration=calibration)
    # "massacre" alone is a 0.45 rule; similarity to "zap" (cosine 0.58) scores 0.39: together, 0.55.
    verdict = moderator.check("the massacre")
    assert verdict.signals["rules"]["violence"] == 0.45
    assert 0.35 <= verdict.signals["similarity"]["violence"] < 0.5
    assert verdict.categories["violence"] and verdict.scores["violence"] == 0.55


def test_long_texts_are_embedded_in_pieces() -> None:
    text = " ".join(["This is a sentence of ten words for the test."] * 20)
    pieces = chunks(text)
    assert len(pieces) == 4 and all(len(p.split()) <= 60 for p in pieces)
    assert chunks("short text") == ["short text"]


# -- the plugin hook ---------------------------------------------------------------------------------------


class CustomsModerator:
    name = "customs"

    def moderate(self, text: str, context: str) -> dict[str, float] | None:
        return {"illegal": 0.99, "made_up": 1.0} if "contraband" in text.lower() else None


class CustomsPlugin:
    @hookimpl
    def register_moderators(self, register: Any, settings: Any) -> None:
        register(CustomsModerator())


@pytest.fixture
def customs_client() -> Any:
    plugins = make_plugin_manager()
    plugins.register(ModelPlugin(ScriptedModel()))
    plugins.register(CustomsPlugin())
    settings = make_settings()
    with TestClient(create_app(settings, services=build_services(settings, plugins))) as client:
        yield client


def test_a_plugin_adds_its_verdict_to_text_checks_and_chat(customs_client: TestClient[Any]) -> None:
    account = register(customs_client, "plugin@example.com")
    checked = customs_client.post(
        "/api/v1/moderate/text", json={"text": "Bring the contraband to the docks"}, headers=bearer(account)
    )
    assert checked.status_code == 200, checked.text
    verdict = checked.json()
    assert verdict["categories"]["illegal"] and verdict["always_blocked"]
    assert verdict["signals"]["plugin:customs"] == {"illegal": 0.99}  # unknown categories are dropped
    assert "illegal: plugin customs" in verdict["reasons"]
    character = customs_client.get("/api/v1/characters").json()["items"][0]["id"]
    chat = customs_client.post("/api/v1/conversations", json={"character_id": character}, headers=bearer(account))
    sent = customs_client.post(
        f"/api/v1/conversations/{chat.json()['id']}/messages",
        json={"content": "I have the contraband"},
        headers=bearer(account),
    )
    assert sent.status_code == 422 and error_of(sent)["code"] == "content_blocked"


# -- the text endpoint ---------------------------------------------------------------------------------------


def test_moderate_text_answers_categories_scores_and_tier(client: TestClient[Any], alice: dict[str, Any]) -> None:
    response = client.post(
        "/api/v1/moderate/text",
        json={"text": "go fuck yourself, you worthless idiot", "tier": "sfw"},
        headers=bearer(alice),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body["categories"]) == {
        "sexual",
        "sexual_minors",
        "violence",
        "self_harm",
        "harassment",
        "hate",
        "illegal",
    }
    assert body["flagged"] and body["categories"]["harassment"] and body["tier"] == "mature"
    assert body["allowed"] is False
    assert body["scores"]["harassment"] >= 0.5 and body["reasons"]
    fine = client.post("/api/v1/moderate/text", json={"text": "What caused the fall of Rome?"}, headers=bearer(alice))
    assert fine.json()["flagged"] is False and fine.json()["tier"] == "sfw" and fine.json()["allowed"] is None


def test_moderate_text_takes_the_context_into_account(client: TestClient[Any], alice: dict[str, Any]) -> None:
    body = {"text": "He fucked her hard on the bed.", "context": "She told him she was only thirteen."}
    verdict = client.post("/api/v1/moderate/text", json=body, headers=bearer(alice)).json()
    assert verdict["categories"]["sexual_minors"] and verdict["always_blocked"]


@pytest.mark.parametrize("body", [{"text": ""}, {"text": "hi", "tier": "spicy"}, {"txt": "hi"}, {"text": "x" * 20_001}])
def test_moderate_text_refuses_bad_bodies(client: TestClient[Any], alice: dict[str, Any], body: dict[str, Any]) -> None:
    response = client.post("/api/v1/moderate/text", json=body, headers=bearer(alice))
    assert response.status_code == 400, response.text


# -- the image endpoint --------------------------------------------------------------------------------------


def png(width: int, height: int, color: tuple[int, int, int] = (40, 90, 160)) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, "PNG")
    return buffer.getvalue()


def test_moderate_image_checks_type_size_dimensions_and_content(client: TestClient[Any], alice: dict[str, Any]) -> None:
    ok = client.post(
        "/api/v1/moderate/image", files={"file": ("a.png", png(256, 256), "image/png")}, headers=bearer(alice)
    )
    assert ok.status_code == 200, ok.text
    verdict = ok.json()
    assert verdict["ok"] and verdict["format"] == "PNG" and (verdict["width"], verdict["height"]) == (256, 256)
    # The bundled open_nsfw model scored it (a flat blue square is nothing like nudity).
    assert verdict["content_check"] == "passed" and verdict["nsfw_score"] < 0.3
    not_image = client.post(
        "/api/v1/moderate/image", files={"file": ("a.png", b"GIF? no", "image/png")}, headers=bearer(alice)
    )
    assert not_image.status_code == 422 and error_of(not_image)["code"] == "invalid_image"
    tiny = client.post(
        "/api/v1/moderate/image", files={"file": ("a.png", png(8, 8), "image/png")}, headers=bearer(alice)
    )
    assert tiny.status_code == 422 and error_of(tiny)["code"] == "invalid_image_size"


def test_without_the_image_model_avatars_are_queued_for_an_admin() -> None:
    settings = make_settings(moderation={"similarity": False, "image_model": False})
    plugins = make_plugin_manager()
    plugins.register(ModelPlugin(ScriptedModel()))
    with TestClient(create_app(settings, services=build_services(settings, plugins))) as other:
        admin = register(other, "admin@example.com")
        user = register(other, "user@example.com")
        checked = other.post(
            "/api/v1/moderate/image", files={"file": ("a.png", png(64, 64), "image/png")}, headers=bearer(user)
        )
        assert checked.status_code == 200
        assert checked.json()["content_check"] == "queued" and checked.json()["report_id"]
        listed = other.get("/api/v1/reports", headers=bearer(admin))
        assert listed.status_code == 200, listed.text
        queue = listed.json()["items"]
        assert [r["target_type"] for r in queue] == ["image"]
        assert queue[0]["context"][0]["image"].startswith("data:image/png;base64,")
        assert queue[0]["subject_user_id"] == user["user"]["id"]


# -- avatars: every character picture is looked at before it is stored ------------------------------------


def test_uploaded_avatars_pass_through_the_image_check(client: TestClient[Any], alice: dict[str, Any]) -> None:
    character = client.post("/api/v1/characters", json={"name": "Painted"}, headers=bearer(alice)).json()
    uploaded = client.post(
        f"/api/v1/characters/{character['id']}/avatar",
        files={"file": ("a.png", png(128, 128), "image/png")},
        headers=bearer(alice),
    )
    assert uploaded.status_code in (200, 201), uploaded.text
    decisions = client.get("/api/v1/moderate/decisions", headers=bearer(alice)).json()["items"]
    assert [d["direction"] for d in decisions][:1] == ["image"]  # the real open_nsfw model looked at it


class Refuse:
    def __init__(self) -> None:
        self.seen: list[tuple[str | None, str]] = []

    async def check_avatar(self, user: Any, image: bytes, content_tier: str) -> None:
        self.seen.append((user.id if user else None, content_tier))
        raise InvalidInput("this picture looks explicit", code="image_blocked")


def test_a_refused_picture_changes_nothing(client: TestClient[Any], alice: dict[str, Any], services: Services) -> None:
    refuse = Refuse()
    services.characters.check_avatars_with(refuse)
    character = client.post("/api/v1/characters", json={"name": "Plain"}, headers=bearer(alice)).json()
    refused = client.post(
        f"/api/v1/characters/{character['id']}/avatar",
        files={"file": ("a.png", png(64, 64), "image/png")},
        headers=bearer(alice),
    )
    assert refused.status_code == 422 and error_of(refused)["code"] == "image_blocked"
    assert refuse.seen == [(alice["user"]["id"], "sfw")]
    after = client.get(f"/api/v1/characters/{character['id']}", headers=bearer(alice)).json()
    assert after["avatar_url"] == character["avatar_url"]
    # A card whose picture is refused is refused as a file; the others still import.
    imported = client.post(
        "/api/v1/characters/import",
        files={"file": ("card.png", (FIXTURES / "default_FluxTheCat.png").read_bytes(), "image/png")},
        headers=bearer(alice),
    )
    assert imported.status_code == 422, imported.text
    assert "explicit" in imported.text
