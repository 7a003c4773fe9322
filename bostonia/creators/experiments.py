"""Greeting A/B tests: two of a character's greetings split at random across new conversations, and which
one keeps users chatting longer (messages the user sent), with the sample sizes and how sure that is.

Chat asks `assign(character_id)` when it starts a conversation (its `GreetingSplit`); the chosen greeting
is shown first and the assignment is written in the conversation's own transaction.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any, Literal

from bostonia.characters.service import CharacterService
from bostonia.creators.experiment_store import ExperimentStore, assign_in
from bostonia.creators.schemas import Experiment, ExperimentCreate, ExperimentList, VariantResult
from bostonia.db import sqlite3
from bostonia.errors import InvalidInput, NotFound
from bostonia.identity import User

KEPT_CHATTING = 3  # user messages after which a conversation counts as one the greeting kept going
MIN_SAMPLE = 20  # conversations per variant before a leader is named
CONFIDENCE = 0.95


@dataclass(frozen=True)
class GreetingChoice:
    """The greeting a new conversation shows first, and how to record that it did."""

    experiment_id: str
    variant: Literal["a", "b"]
    greeting_index: int

    def record_in(self, conn: sqlite3.Connection, conversation_id: str) -> None:
        assign_in(conn, conversation_id, self.experiment_id, self.variant)


def compare(a: list[int], b: list[int]) -> tuple[Literal["a", "b"] | None, float]:
    """(the variant with more user messages per conversation if the difference is clear, confidence):
    Welch's t statistic read against the normal distribution (samples of MIN_SAMPLE and more)."""
    if len(a) < 2 or len(b) < 2:
        return None, 0.0
    mean_a, mean_b = sum(a) / len(a), sum(b) / len(b)
    var_a = sum((x - mean_a) ** 2 for x in a) / (len(a) - 1)
    var_b = sum((x - mean_b) ** 2 for x in b) / (len(b) - 1)
    error = math.sqrt(var_a / len(a) + var_b / len(b))
    if mean_a == mean_b:
        return None, 0.0
    confidence = 1.0 if error == 0 else math.erf(abs(mean_a - mean_b) / error / math.sqrt(2))
    leader: Literal["a", "b"] = "a" if mean_a > mean_b else "b"
    enough = min(len(a), len(b)) >= MIN_SAMPLE and confidence >= CONFIDENCE
    return (leader if enough else None), confidence


class GreetingExperiments:
    def __init__(self, experiments: ExperimentStore, characters: CharacterService) -> None:
        self.experiments = experiments
        self.characters = characters
        self.random = random.Random()

    async def create(self, user: User, request: ExperimentCreate) -> Experiment:
        character = await self.characters.editable(user, request.character_id)
        if character.creator_id != user.id:
            raise NotFound("character not found")  # admins edit others' characters, but test their own
        count = 1 + len(character.alternate_greetings)
        for field, index in (("greeting_a", request.greeting_a), ("greeting_b", request.greeting_b)):
            if index >= count:
                raise InvalidInput(
                    f"{field}: the character has {count} greeting(s), numbered from 0", details={"field": field}
                )
        if request.greeting_a == request.greeting_b:
            raise InvalidInput("choose two different greetings", details={"field": "greeting_b"})
        experiment_id = await self.experiments.create(
            character_id=character.id,
            creator_id=user.id,
            greeting_a=request.greeting_a,
            greeting_b=request.greeting_b,
        )
        return await self.get(user, experiment_id)

    async def list(self, user: User) -> ExperimentList:
        return ExperimentList([await self._result(row) for row in await self.experiments.for_creator(user.id)])

    async def get(self, user: User, experiment_id: str) -> Experiment:
        row = await self.experiments.get(experiment_id)
        if row is None or row["creator_id"] != user.id:
            raise NotFound("experiment not found")
        return await self._result(row)

    async def stop(self, user: User, experiment_id: str) -> Experiment:
        await self.get(user, experiment_id)
        await self.experiments.stop(experiment_id)
        return await self.get(user, experiment_id)

    async def assign(self, character_id: str) -> GreetingChoice | None:
        """Chat's call when a conversation starts: the greeting to show, if a test is running."""
        running = await self.experiments.running_for(character_id)
        if running is None:
            return None
        variant: Literal["a", "b"] = "a" if self.random.random() < 0.5 else "b"
        return GreetingChoice(running["id"], variant, int(running[f"greeting_{variant}"]))

    async def _result(self, row: dict[str, Any]) -> Experiment:
        character = await self.characters.of_conversation(row["character_id"])
        greetings = [character.greeting, *character.alternate_greetings]
        outcomes = await self.experiments.outcomes(row["id"])
        variants = []
        for variant in ("a", "b"):
            index = int(row[f"greeting_{variant}"])
            sent = outcomes[variant]
            kept = sum(1 for n in sent if n >= KEPT_CHATTING)
            variants.append(
                VariantResult(
                    variant=variant,
                    greeting_index=index,
                    greeting=greetings[index] if index < len(greetings) else "",
                    conversations=len(sent),
                    mean_user_messages=round(sum(sent) / len(sent), 2) if sent else 0.0,
                    kept_chatting=kept,
                    kept_chatting_rate=round(kept / len(sent), 3) if sent else 0.0,
                )
            )
        leader, confidence = compare(outcomes["a"], outcomes["b"])
        sizes = f"{len(outcomes['a'])} vs {len(outcomes['b'])} conversations"
        if leader:
            verdict = f"Greeting {leader.upper()} keeps users chatting longer ({confidence:.0%} confidence, {sizes})."
        else:
            verdict = (
                f"No clear winner yet ({sizes}; {MIN_SAMPLE} per greeting and {CONFIDENCE:.0%} confidence needed)."
            )
        return Experiment(
            id=row["id"],
            character_id=row["character_id"],
            character_name=row["character_name"],
            status=row["status"],
            created_at=row["created_at"],
            stopped_at=row["stopped_at"],
            variants=variants,
            leader=leader,
            confidence=round(confidence, 4),
            verdict=verdict,
        )
