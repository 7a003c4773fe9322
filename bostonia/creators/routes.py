"""The creator economy over JSON: a creator's own profile, analytics, characters, earnings and payouts;
greeting A/B tests; premium unlocks and tips; public creator pages; the admins' payout decisions."""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from litestar import Controller, Request, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody

from bostonia.characters.schemas import CharacterList
from bostonia.creators.deps import Creators, Experiments, Studio
from bostonia.creators.schemas import (
    AdminPayout,
    CreatorAnalytics,
    CreatorCharacters,
    CreatorProfile,
    CreatorProfileUpdate,
    Earnings,
    Experiment,
    ExperimentCreate,
    ExperimentList,
    Payout,
    PayoutDecision,
    PayoutRequest,
    PublicCreator,
    Tip,
    TipRequest,
    Unlock,
)
from bostonia.http.auth import public_base_url
from bostonia.http.bodies import optional_body
from bostonia.http.deps import Config, CurrentUser, Viewer


class PublicCreatorPage(msgspec.Struct, kw_only=True):
    creator: PublicCreator
    characters: CharacterList


class PayoutAccountLink(msgspec.Struct):
    url: str


class AdminPayoutList(msgspec.Struct):
    items: list[AdminPayout]


class CreatorController(Controller):
    """The signed-in user's creator studio (everyone who makes characters is a creator)."""

    path = "/api/v1/creator"
    tags = ["creator"]

    @get("/profile")
    async def profile(self, user: CurrentUser, creators: Creators) -> CreatorProfile:
        return await creators.profile(user)

    @patch("/profile")
    async def update_profile(
        self, data: JSONBody[CreatorProfileUpdate], user: CurrentUser, creators: Creators
    ) -> CreatorProfile:
        """Change `display_name`, `bio`, `website`, `links` (http(s) URLs) or `payout_email`."""
        return await creators.update_profile(user, data)

    @get("/analytics")
    async def analytics(
        self, user: CurrentUser, studio: Studio, days: FromQuery[int] = 30, character_id: FromQuery[str | None] = None
    ) -> CreatorAnalytics:
        """Per day and per character: conversations, messages, views, ratings, unlocks."""
        return await studio.analytics_for(user, days=days, character_id=character_id)

    @get("/characters")
    async def characters(self, user: CurrentUser, studio: Studio) -> CreatorCharacters:
        return await studio.characters_with_stats(user)

    @get("/earnings")
    async def earnings(self, user: CurrentUser, creators: Creators) -> Earnings:
        """The caller's earnings (gross, platform fee, net), pending payout and payouts."""
        return await creators.earnings(user)

    @post("/payout", status_code=201)
    async def payout(self, user: CurrentUser, creators: Creators, request: Request[Any, Any, Any]) -> Payout:
        """Ask for a payout of `amount_cents` (default: all pending); an admin approves it."""
        return await creators.request_payout(user, await optional_body(request, PayoutRequest))

    @post("/payout-account", status_code=201)
    async def payout_account(
        self, user: CurrentUser, creators: Creators, config: Config, request: Request[Any, Any, Any]
    ) -> PayoutAccountLink:
        """Where to connect the account payouts go to (the payment provider's onboarding)."""
        return PayoutAccountLink(
            await creators.payout_account_link(user, public_base_url(request, config.server.public_url))
        )

    @get("/experiments")
    async def experiments(self, user: CurrentUser, experiments: Experiments) -> ExperimentList:
        return await experiments.list(user)

    @post("/experiments", status_code=201)
    async def start_experiment(
        self, data: JSONBody[ExperimentCreate], user: CurrentUser, experiments: Experiments
    ) -> Experiment:
        """Split new conversations with one of your characters between two of its greetings."""
        return await experiments.create(user, data)

    @get("/experiments/{experiment_id:str}")
    async def experiment(self, experiment_id: FromPath[str], user: CurrentUser, experiments: Experiments) -> Experiment:
        return await experiments.get(user, experiment_id)

    @post("/experiments/{experiment_id:str}/stop", status_code=200)
    async def stop_experiment(
        self, experiment_id: FromPath[str], user: CurrentUser, experiments: Experiments
    ) -> Experiment:
        return await experiments.stop(user, experiment_id)


class PremiumController(Controller):
    path = "/api/v1/characters/{character_id:str}"
    tags = ["characters"]

    @post("/unlock", status_code=201)
    async def unlock(self, character_id: FromPath[str], user: CurrentUser, creators: Creators) -> Unlock:
        """Unlock a premium character for its `premium_credits` (once; its creator earns their share)."""
        return await creators.unlock(user, character_id)

    @post("/tip", status_code=201)
    async def tip(
        self, character_id: FromPath[str], data: JSONBody[TipRequest], user: CurrentUser, creators: Creators
    ) -> Tip:
        """Tip the character's creator `credits`."""
        return await creators.tip(user, character_id, data)


class PublicCreatorController(Controller):
    path = "/api/v1/creators"
    tags = ["creator"]

    @get("/{creator_id:str}")
    async def creator(self, creator_id: FromPath[str], viewer: Viewer, creators: Creators) -> PublicCreatorPage:
        """A creator's public profile and public characters."""
        profile, characters = await creators.public(viewer, creator_id)
        return PublicCreatorPage(creator=profile, characters=CharacterList(characters))


class AdminPayoutController(Controller):
    path = "/api/v1/admin/payouts"
    tags = ["admin"]

    @get("/")
    async def payouts(
        self,
        user: CurrentUser,
        creators: Creators,
        status: FromQuery[Literal["pending", "processing", "completed", "failed"] | None] = None,
    ) -> AdminPayoutList:
        return AdminPayoutList(await creators.all_payouts(actor=user, status=status))

    @post("/{payout_id:str}/{action:str}", status_code=200)
    async def decide(
        self,
        payout_id: FromPath[str],
        action: FromPath[Literal["approve", "complete", "fail"]],
        user: CurrentUser,
        creators: Creators,
        request: Request[Any, Any, Any],
    ) -> Payout:
        """approve (pending -> processing, sent through the provider), complete, or fail (`reason`)."""
        if action == "approve":
            return await creators.approve_payout(payout_id, actor=user)
        if action == "complete":
            return await creators.complete_payout(payout_id, actor=user)
        decision = await optional_body(request, PayoutDecision)
        return await creators.fail_payout(payout_id, actor=user, reason=decision.reason)
