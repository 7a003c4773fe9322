"""What AI orchestration answers with: models (metadata, state, price) and usage totals."""

from __future__ import annotations

from typing import Literal

import msgspec

from bostonia.orchestration.accounting import Usage

ModelState = Literal["loaded", "unloaded", "remote", "cooling"]
ModelSource = Literal["bundled", "models_dir", "plugin"]


class ModelPriceInfo(msgspec.Struct, kw_only=True, frozen=True):
    input_per_1k: int  # micro-units per 1,000 prompt tokens
    output_per_1k: int


class ModelInfo(msgspec.Struct, kw_only=True, frozen=True):
    id: str
    provider: str
    source: ModelSource
    # loaded / unloaded (a local model, in memory or not), remote (a provider's), cooling (it failed
    # lately: passed over while another model can serve).
    state: ModelState
    is_default: bool
    context_size: int
    price: ModelPriceInfo
    min_tier: str = "free"
    # From the GGUF header (local models only).
    architecture: str | None = None
    name: str | None = None
    parameters: int | None = None
    parameters_label: str | None = None
    quantization: str | None = None
    trained_context: int | None = None
    has_chat_template: bool | None = None
    size_bytes: int | None = None
    memory_estimate_bytes: int | None = None


class ModelList(msgspec.Struct, kw_only=True):
    items: list[ModelInfo]
    default_model: str
    memory_budget_bytes: int  # 0 = no limit
    memory_in_use_bytes: int  # the loaded local models, estimated
    route: list[str] = msgspec.field(default_factory=list)  # the caller's route (models in fallback order)


class Totals(msgspec.Struct, kw_only=True):
    generations: int
    tokens_in: int
    tokens_out: int
    cost_micros: int
    ok: int
    fallbacks: int
    failures: int


class ModelTotals(Totals, kw_only=True):
    model_id: str
    provider: str


class UserDayTotals(Totals, kw_only=True):
    day: str
    user_id: str | None
    email: str


class UsageReport(msgspec.Struct, kw_only=True):
    days: int
    per_model: list[ModelTotals]
    per_user_day: list[UserDayTotals]
    recent: list[Usage]  # the latest attempts, newest first
