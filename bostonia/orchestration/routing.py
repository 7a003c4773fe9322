"""Which models serve a reply, in order: the route. The next one takes over when one fails.

    the model the user picked for the chat   (if their plan may pick it)
    the model the character's creator asked for   (same condition)
    [models.routes] creative                  (in creative mode)
    [models.routes] <the user's tier>         (empty: the next lower tier's; free: [llm] default_model)

Models named but not registered (a provider that is down, a typo) are left out; an empty route is the
server's problem (503), not the user's.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from bostonia.config import ModelsConfig
from bostonia.errors import Unavailable
from bostonia.identity import TIERS, Tier
from bostonia.llm.base import ChatModel
from bostonia.llm.registry import ModelRegistry

log = logging.getLogger(__name__)


def tier_rank(tier: str) -> int:
    return TIERS.index(tier) if tier in TIERS else 0


class ModelRouter:
    def __init__(self, config: ModelsConfig, registry: ModelRegistry) -> None:
        self.config = config
        self.registry = registry

    def min_tier(self, model_id: str) -> Tier:
        return self.config.min_tier.get(model_id, "free")

    def may_pick(self, tier: str, model_id: str) -> bool:
        """Whether a user on `tier` may ask for `model_id` by name (a chat's pick, the API's `model`)."""
        return tier_rank(tier) >= tier_rank(self.min_tier(model_id))

    def tier_route(self, tier: str) -> list[str]:
        routes = self.config.routes
        by_tier: dict[str, list[str]] = {
            "free": routes.free,
            "plus": routes.plus,
            "pro": routes.pro,
            "creator": routes.creator,
        }
        for lower in reversed(TIERS[: tier_rank(tier) + 1]):
            if by_tier[lower]:
                return list(by_tier[lower])
        return [self.registry.default_model_id]

    def route_ids(
        self, tier: str, *, chosen: str | None = None, requested: str | None = None, creative: bool = False
    ) -> list[str]:
        ids: list[str] = []
        for wish, who in ((chosen, "the chat's pick"), (requested, "the character's model")):
            if wish is None:
                continue
            if self.may_pick(tier, wish):
                ids.append(wish)
            else:
                log.info("%s %s needs the %s tier; routing by tier instead", who, wish, self.min_tier(wish))
        if creative:
            ids += self.config.routes.creative
        ids += self.tier_route(tier)
        return list(dict.fromkeys(ids))

    def route(
        self, tier: str, *, chosen: str | None = None, requested: str | None = None, creative: bool = False
    ) -> list[ChatModel]:
        """The registered models of the route, in order; Unavailable when none is."""
        return self.resolve(self.route_ids(tier, chosen=chosen, requested=requested, creative=creative))

    def route_for_chat(
        self, tier: str, chosen: str | None, creative: bool, character_settings: object
    ) -> list[ChatModel]:
        """A chat's route: its pick and creative mode, the character's `settings.model`, the user's tier."""
        wish = character_settings.get("model") if isinstance(character_settings, dict) else None
        requested = wish if isinstance(wish, str) and wish else None
        return self.route(tier, chosen=chosen, requested=requested, creative=creative)

    def resolve(self, ids: Iterable[str]) -> list[ChatModel]:
        ids = list(dict.fromkeys(ids))  # a model is tried once per reply
        models = [self.registry.get(model_id) for model_id in ids if model_id in self.registry]
        if not models:
            raise Unavailable(
                f"no model of the route is available ({', '.join(ids) or 'empty route'})", code="model_unavailable"
            )
        return models

    def pickable(self, tier: str) -> list[str]:
        """The registered models a user on `tier` may pick, in registry order."""
        return [model.model_id for model in self.registry if self.may_pick(tier, model.model_id)]
