"""Which chat models exist, filled by the `register_models` plugin hook."""

from __future__ import annotations

from collections.abc import Iterator

import pluggy

from bostonia.config import Settings
from bostonia.errors import NotFound, Unavailable
from bostonia.llm.base import ChatModel, SessionModel


class ModelRegistry:
    def __init__(self, default_model_id: str) -> None:
        self.default_model_id = default_model_id
        self._models: dict[str, ChatModel] = {}

    @classmethod
    def from_plugins(cls, pm: pluggy.PluginManager, settings: Settings) -> ModelRegistry:
        registry = cls(settings.llm.default_model)
        pm.hook.register_models(register=registry.register, settings=settings)
        return registry

    def register(self, model: ChatModel) -> None:
        # Later registrations win: a plugin can replace a model of the same id.
        self._models[model.model_id] = model

    def get(self, model_id: str | None = None) -> ChatModel:
        model_id = model_id or self.default_model_id
        try:
            return self._models[model_id]
        except KeyError:
            raise NotFound(
                f"no chat model {model_id!r}; available: {', '.join(sorted(self._models)) or 'none'}",
                code="model_not_found",
            ) from None

    @property
    def default(self) -> ChatModel:
        """The configured default model; its absence is the server's problem, not the caller's."""
        try:
            return self.get()
        except NotFound as exc:
            raise Unavailable(exc.message, code="model_unavailable") from None

    def forget_session(self, session: str) -> None:
        """Every model that keeps per-conversation state drops what it holds for `session`."""
        for model in self._models.values():
            if isinstance(model, SessionModel):
                model.forget(session)

    def busy(self) -> bool:
        """Whether a model runs on this machine's CPU now (a local model with work in its engine; a remote one
        never is): background work that could use every core (bulk indexing) takes one while it does."""
        return any(getattr(model, "busy", False) for model in self._models.values())

    def __iter__(self) -> Iterator[ChatModel]:
        return iter(self._models.values())

    def __contains__(self, model_id: object) -> bool:
        return model_id in self._models
