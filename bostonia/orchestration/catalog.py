"""The model catalogue: every registered model with what its GGUF says, its state and its price.

Local models are the bundled GGUF and the `*.gguf` files in `[llm] models_dir` (where `bostonia models
add` links and `bostonia models pull` downloads them); plugins register the others. Their metadata is
read from the GGUF header (cached per file and modification time), never by loading the weights.
"""

from __future__ import annotations

import logging
from pathlib import Path

import msgspec

from bostonia.llm.base import ChatModel
from bostonia.llm.local import bundled_model_path
from bostonia.llm.registry import ModelRegistry
from bostonia.orchestration.accounting import Prices
from bostonia.orchestration.gguf import GGUFError, GGUFInfo, read_gguf
from bostonia.orchestration.residency import ModelResidency
from bostonia.orchestration.routing import ModelRouter
from bostonia.orchestration.schemas import ModelInfo, ModelList, ModelPriceInfo, ModelSource, ModelState
from bostonia.orchestration.service import Orchestrator, provider_of

log = logging.getLogger(__name__)


class GGUFCache:
    def __init__(self) -> None:
        self._infos: dict[tuple[Path, float], GGUFInfo | None] = {}

    def get(self, path: Path) -> GGUFInfo | None:
        try:
            key = (path.resolve(), path.stat().st_mtime)
        except OSError:
            return None
        if key not in self._infos:
            try:
                self._infos[key] = read_gguf(path)
            except (GGUFError, OSError) as exc:
                log.warning("cannot read the GGUF header of %s: %s", path, exc)
                self._infos[key] = None
        return self._infos[key]


def model_path(model: ChatModel) -> Path | None:
    path = getattr(model, "path", None)
    return path if isinstance(path, Path) else None


class ModelCatalog:
    def __init__(
        self,
        registry: ModelRegistry,
        residency: ModelResidency,
        orchestrator: Orchestrator,
        router: ModelRouter,
        prices: Prices,
        models_dir: Path,
    ) -> None:
        self.registry = registry
        self.residency = residency
        self.orchestrator = orchestrator
        self.router = router
        self.prices = prices
        self.models_dir = models_dir
        self.headers = GGUFCache()

    def source_of(self, model: ChatModel) -> ModelSource:
        path = model_path(model)
        if path is None:
            return "plugin"
        bundled = bundled_model_path()
        if bundled is not None and path.resolve() == bundled.resolve():
            return "bundled"
        return "models_dir" if path.parent.resolve() == self.models_dir.resolve() else "plugin"

    def state_of(self, model: ChatModel) -> ModelState:
        if self.orchestrator.cooling(model.model_id):
            return "cooling"
        if model_path(model) is None:
            return "remote"
        return "loaded" if self.residency.is_loaded(model) else "unloaded"

    def info(self, model: ChatModel) -> ModelInfo:
        price = self.prices.of(model.model_id)
        path = model_path(model)
        header = self.headers.get(path) if path is not None else None
        base = ModelInfo(
            id=model.model_id,
            provider=provider_of(model),
            source=self.source_of(model),
            state=self.state_of(model),
            is_default=model.model_id == self.registry.default_model_id,
            context_size=model.context_size,
            price=ModelPriceInfo(input_per_1k=price.input_per_1k, output_per_1k=price.output_per_1k),
            min_tier=self.router.min_tier(model.model_id),
        )
        if header is None:
            return base
        return msgspec.structs.replace(
            base,
            architecture=header.architecture,
            name=header.name,
            parameters=header.parameters,
            parameters_label=header.parameters_label,
            quantization=header.quantization,
            trained_context=header.context_length,
            has_chat_template=bool(header.chat_template),
            size_bytes=header.size_bytes,
            memory_estimate_bytes=self.residency.size_of(model),
        )

    def models(self, tier: str | None = None) -> list[ModelInfo]:
        """Every registered model (only those a user on `tier` may pick, when given)."""
        return [
            self.info(model) for model in self.registry if tier is None or self.router.may_pick(tier, model.model_id)
        ]

    def listing(self, tier: str | None = None) -> ModelList:
        return ModelList(
            items=self.models(tier),
            default_model=self.registry.default_model_id,
            memory_budget_bytes=self.residency.budget_bytes,
            memory_in_use_bytes=self.residency.in_use_bytes,
        )
