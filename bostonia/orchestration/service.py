"""The orchestrator: every generation runs through here, along its route, with fallback and accounting.

`Orchestrator.start(user, route, request, ...)` returns a `RoutedGeneration`: iterate it for the text.
For each model of the route in turn it asks the accounting policy (`before_generation`), makes sure the
model is loaded (the memory budget), queues the job and streams its pieces. When the model fails — an
exception from its provider, no first piece within `[models] first_piece_timeout_seconds`, a stall longer
than `stall_timeout_seconds` — the next model takes over. What the failed one streamed is kept and the
next one continues it (`continue_last`), so nothing the user saw vanishes; structured output (a JSON
schema or grammar) starts over instead, since a grammar cannot pick up mid-document. Each switch is
reported through `on_fallback` (the chat tells the user) and each attempt is stored in `ai_usage`.
When every model fails the iteration raises `Unavailable` (`generation_failed`) naming the models tried.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import msgspec

from bostonia.config import ModelsConfig
from bostonia.errors import BostoniaError, Unavailable
from bostonia.identity import User
from bostonia.llm.base import (
    ChatMessage,
    ChatModel,
    GenerationRequest,
    ProviderError,
    ProviderTimeout,
    UsageReport,
)
from bostonia.llm.jobs import DONE, GenerationJob
from bostonia.llm.worker import GenerationQueues
from bostonia.orchestration.accounting import AccountingPolicy, NoAccounting, Prices, Usage, UsageSource
from bostonia.orchestration.residency import ModelResidency
from bostonia.orchestration.store import UsageStore

log = logging.getLogger(__name__)
POLL_SECONDS = 0.25
REASON_TEXT = {
    "rate_limited": "was rate limited",
    "timeout": "timed out",
    "unavailable": "is unavailable",
    "error": "failed",
}


class Fallback(msgspec.Struct, frozen=True, kw_only=True):
    """One model gave up and the next took over."""

    from_model: str
    to_model: str
    reason: str  # error, rate_limited, timeout, unavailable
    detail: str
    kept_chars: int  # text of the failed model that stays (0 when the next one starts over)
    restarted: bool = False  # the next model starts over: drop what was streamed

    @property
    def notice(self) -> str:
        """What the user is told."""
        what = f"{self.from_model} {REASON_TEXT.get(self.reason, 'failed')}"
        if self.restarted:
            return f"{what}; {self.to_model} is writing the reply again."
        if self.kept_chars:
            return f"{what} mid-reply; {self.to_model} continues it."
        return f"{what}; {self.to_model} is answering instead."


class Attempt(msgspec.Struct, kw_only=True):
    model_id: str
    status: str  # ok, fallback, failed, refused, skipped
    reason: str | None = None
    detail: str | None = None
    chars: int = 0


def provider_of(model: ChatModel) -> str:
    return str(getattr(model, "provider", "local"))


def reason_of(exc: BaseException) -> str:
    return exc.reason if isinstance(exc, ProviderError) else "error"


def continuation(request: GenerationRequest, text: str) -> GenerationRequest:
    """The request that makes another model carry on from `text` (what the failed one wrote)."""
    messages = list(request.messages)
    if request.continue_last and messages and messages[-1].role == "assistant":
        messages[-1] = ChatMessage("assistant", messages[-1].content + text)
    else:
        messages.append(ChatMessage("assistant", text))
    return msgspec.structs.replace(request, messages=tuple(messages), continue_last=True)


class Orchestrator:
    def __init__(
        self,
        queues: GenerationQueues,
        residency: ModelResidency,
        usage: UsageStore,
        prices: Prices,
        config: ModelsConfig,
        accounting: AccountingPolicy | None = None,
    ) -> None:
        self.queues = queues
        self.residency = residency
        self.usage = usage
        self.prices = prices
        self.config = config
        self.accounting: AccountingPolicy = accounting or NoAccounting()
        self._failed_until: dict[str, float] = {}

    @asynccontextmanager
    async def using(self, model: ChatModel) -> AsyncIterator[ChatModel]:
        """`model` loaded (within the memory budget, off the event loop) and kept loaded inside the block."""
        await self.residency.acquire(model)
        try:
            yield model
        finally:
            self.residency.release(model)

    def cost_micros(self, model_id: str, tokens_in: int, tokens_out: int) -> int:
        return self.prices.cost_micros(model_id, tokens_in, tokens_out)

    # -- model health ---------------------------------------------------------------------------------

    def cooling(self, model_id: str) -> bool:
        """Failed lately: passed over while another model of the route can serve."""
        return self._failed_until.get(model_id, 0.0) > time.monotonic()

    def _failed(self, model_id: str, exc: BaseException) -> None:
        pause = self.config.retry_failed_after_seconds
        if isinstance(exc, ProviderError) and exc.retry_after is not None:
            pause = max(pause, exc.retry_after)
        self._failed_until[model_id] = time.monotonic() + pause

    def _served(self, model_id: str) -> None:
        self._failed_until.pop(model_id, None)

    # -- generations --------------------------------------------------------------------------------

    async def admit(self, user: User, route: Sequence[ChatModel]) -> str:
        """Ask the accounting policy for the route's models in turn (those that failed lately last); the
        first one it allows is admitted (pass it to `start`). Every model refused: the first refusal."""
        refusal: BostoniaError | None = None
        for model in sorted(route, key=lambda m: self.cooling(m.model_id)):
            try:
                await self.accounting.before_generation(user, model.model_id)
            except BostoniaError as exc:
                refusal = refusal or exc
                continue
            return model.model_id
        raise refusal or Unavailable("no model to generate with", code="model_unavailable")

    async def release(self, user: User, model_id: str) -> None:
        """An admitted generation will not be charged: the policy frees what it reserved (if it does)."""
        release = getattr(self.accounting, "generation_failed", None)
        if release is None:
            return
        try:
            await release(user, model_id)
        except Exception:  # bookkeeping: logged, never turned into the user's error
            log.exception("releasing the accounting hold of %s failed", model_id)

    def start(
        self,
        user: User,
        route: Sequence[ChatModel],
        request: GenerationRequest,
        *,
        source: UsageSource,
        admitted: str | None = None,
        conversation_id: str | None = None,
        message_id: str | None = None,
        on_fallback: Callable[[Fallback], None] = lambda fallback: None,
        on_queued: Callable[[int], None] = lambda ahead: None,
    ) -> RoutedGeneration:
        if not route:
            raise Unavailable("no model to generate with", code="model_unavailable")
        return RoutedGeneration(
            self,
            user,
            list(route),
            request,
            source=source,
            admitted=admitted,
            conversation_id=conversation_id,
            message_id=message_id,
            on_fallback=on_fallback,
            on_queued=on_queued,
        )


class RoutedGeneration:
    """One generation along a route. Iterate it for text pieces; `charge()` once its reply is kept."""

    def __init__(
        self,
        orchestrator: Orchestrator,
        user: User,
        route: list[ChatModel],
        request: GenerationRequest,
        *,
        source: UsageSource,
        admitted: str | None = None,
        conversation_id: str | None,
        message_id: str | None,
        on_fallback: Callable[[Fallback], None],
        on_queued: Callable[[int], None],
    ) -> None:
        self.orchestrator = orchestrator
        self.user = user
        self.route = route
        self.request = request
        self.source: UsageSource = source
        self.conversation_id = conversation_id
        self.message_id = message_id
        self.on_fallback = on_fallback
        self.on_queued = on_queued
        self.text = ""  # everything streamed that still stands (across models)
        self.model: ChatModel = route[0]  # the model generating now; after the end, the one that served
        self.attempts: list[Attempt] = []
        self.fallbacks: list[Fallback] = []
        self.usage: Usage | None = None  # the `ok` record of the model that served
        self.cancelled = False
        self._job: GenerationJob | None = None
        self._charged = False
        self._admitted = admitted  # the model `Orchestrator.admit` let through already (asked once)
        self._holding: str | None = None  # the model whose admission is not charged or released yet

    def cancel(self) -> None:
        self.cancelled = True
        if self._job is not None:
            self._job.cancel()

    @property
    def tokens_in(self) -> int:
        return self.usage.tokens_in if self.usage else 0

    @property
    def tokens_out(self) -> int:
        return self.usage.tokens_out if self.usage else 0

    async def __aiter__(self) -> AsyncIterator[str]:
        orchestrator = self.orchestrator
        candidates = self._candidates()
        refusal: BostoniaError | None = None
        errors: list[str] = []
        if self._admitted is not None and self._admitted in {m.model_id for m in candidates}:
            # Start with the model already admitted: the others were refused, or come after it anyway.
            first = next(m for m in candidates if m.model_id == self._admitted)
            candidates = [first, *(m for m in candidates if m is not first)]
        for index, model in enumerate(candidates):
            if model.model_id == self._admitted:
                self._admitted = None
            else:
                try:
                    await orchestrator.accounting.before_generation(self.user, model.model_id)
                except BostoniaError as exc:
                    self.attempts.append(Attempt(model_id=model.model_id, status="refused", detail=exc.message))
                    refusal = refusal or exc
                    continue
            self._holding = model.model_id
            kept_before = len(self.text)
            request = self.request if not self.text else continuation(self.request, self.text)
            report = UsageReport()
            request = msgspec.structs.replace(request, usage=report)
            produced = ""
            self.model = model
            served = failed = False
            await orchestrator.residency.acquire(model)
            try:
                async for piece in self._stream(model, request):
                    produced += piece
                    self.text += piece
                    yield piece
                served = True
            except Exception as exc:
                if isinstance(exc, BostoniaError) and not isinstance(exc, Unavailable):
                    raise  # the request's own fault (bad input): another model would refuse it too
                failed = True
                following = self._next_model(candidates, index)
                errors.append(f"{model.model_id}: {_describe(exc)}")
                await self._failed(model, exc, following, request, report, produced, kept_before)
                if following is None or self.cancelled:
                    break
                continue
            finally:
                # Counted while the model is still held (the memory budget cannot unload it meanwhile). A reply
                # the caller stopped reading (moderation withdrew it) was generated all the same: it counts.
                if served or (produced and not failed):
                    self.usage = await self._record(model, request, report, produced, status="ok")
                orchestrator.residency.release(model)
                self._job = None
            orchestrator._served(model.model_id)
            self.attempts.append(Attempt(model_id=model.model_id, status="ok", chars=len(produced)))
            return
        if refusal is not None and not errors:
            raise refusal
        if self.cancelled:
            return
        # What each provider said stays in the logs and in `ai_usage` (admins): it may name internals.
        attempts = self.attempts
        tried = ", ".join(f"{a.model_id} ({a.reason or a.status})" for a in attempts)
        raise Unavailable(
            f"the model failed to generate a reply (tried {tried})" if errors else "no model could serve the request",
            code="generation_failed",
            details={"attempts": [{"model": a.model_id, "status": a.status, "reason": a.reason} for a in attempts]},
        )

    async def _failed(
        self,
        model: ChatModel,
        exc: Exception,
        following: ChatModel | None,
        request: GenerationRequest,
        report: UsageReport,
        produced: str,
        kept_before: int,
    ) -> None:
        """Record a model's failure and, if another model follows, announce the hand-over."""
        self.orchestrator._failed(model.model_id, exc)
        await self.release()  # a failed attempt is never charged
        reason, detail = reason_of(exc), _describe(exc)
        log.warning("model %s failed (%s): %s", model.model_id, reason, detail)
        status = "fallback" if following is not None else "failed"
        self.attempts.append(
            Attempt(model_id=model.model_id, status=status, reason=reason, detail=detail, chars=len(produced))
        )
        await self._record(model, request, report, produced, status=status, error=f"{reason}: {detail}")
        if following is None or self.cancelled:
            return
        restart = self.request.json_schema is not None or self.request.grammar is not None
        if restart:
            self.text = ""
        fallback = Fallback(
            from_model=model.model_id,
            to_model=following.model_id,
            reason=reason,
            detail=detail,
            kept_chars=0 if restart else len(self.text),
            restarted=restart and kept_before + len(produced) > 0,
        )
        self.fallbacks.append(fallback)
        self.on_fallback(fallback)

    async def count_tokens(self, text: str) -> int:
        """`text` in the serving model's tokens, counted with the model held (it stays loaded meanwhile)."""
        async with self.orchestrator.using(self.model):
            return await asyncio.to_thread(self.model.count_tokens, text)

    def _candidates(self) -> list[ChatModel]:
        """The route with models that failed lately moved behind the others (still tried, last)."""
        fresh = [m for m in self.route if not self.orchestrator.cooling(m.model_id)]
        cooling = [m for m in self.route if self.orchestrator.cooling(m.model_id)]
        for model in cooling:
            self.attempts.append(Attempt(model_id=model.model_id, status="skipped", reason="cooling"))
        return fresh + cooling

    def _next_model(self, candidates: list[ChatModel], index: int) -> ChatModel | None:
        return candidates[index + 1] if index + 1 < len(candidates) else None

    async def _stream(self, model: ChatModel, request: GenerationRequest) -> AsyncIterator[str]:
        """The job's pieces, with the stall timeouts; an exception when it fails or stalls."""
        config = self.orchestrator.config
        queue = self.orchestrator.queues.get(model)
        job = self._job = queue.submit(self.user.id, request)
        if self.cancelled:
            job.cancel()
        if ahead := queue.ahead_of(job):
            self.on_queued(ahead)
        last_piece: float | None = None
        finished = False
        try:
            while True:
                try:
                    # Pieces arrive in bursts: take what is there without a timer; wait (with one) only when empty.
                    item: Any = job.pieces.get_nowait() if not job.pieces.empty() else None
                    if item is None:
                        item = await asyncio.wait_for(job.pieces.get(), POLL_SECONDS)
                except TimeoutError:
                    if job.started_at is None or self.cancelled:
                        continue  # waiting its turn (the queue is fair; waiting is not failing)
                    since, limit = (
                        (last_piece, config.stall_timeout_seconds)
                        if last_piece is not None
                        else (job.started_at, config.first_piece_timeout_seconds)
                    )
                    if time.perf_counter() - since > limit:
                        what = "the first piece" if last_piece is None else "the next piece"
                        raise ProviderTimeout(f"no {what} within {limit:g} s") from None
                    continue
                if item is DONE:
                    finished = True
                    return
                if isinstance(item, BaseException):
                    finished = True
                    raise item
                last_piece = time.perf_counter()
                yield item
        finally:
            if not finished:  # abandoned (a stall, or the consumer stopped reading): free the model
                job.cancel()

    async def _record(
        self,
        model: ChatModel,
        request: GenerationRequest,
        report: UsageReport,
        produced: str,
        *,
        status: str,
        error: str | None = None,
    ) -> Usage:
        tokens_in = report.tokens_in if report.tokens_in is not None else await _count_prompt(model, request)
        tokens_out = report.tokens_out
        if tokens_out is None:
            tokens_out = await asyncio.to_thread(model.count_tokens, produced) if produced else 0
        return await self.orchestrator.usage.record(
            user_id=self.user.id,
            conversation_id=self.conversation_id,
            message_id=self.message_id,
            model_id=model.model_id,
            provider=provider_of(model),
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            cost_micros=self.orchestrator.cost_micros(model.model_id, tokens_in, tokens_out),
            status=status,
            source=self.source,
            error=error[:500] if error else None,
        )

    async def charge(self) -> None:
        """The reply is kept: charge its `ok` usage (once) through the accounting policy."""
        if self.usage is None or self._charged:
            return
        self._charged = True
        self._holding = None
        try:
            await self.orchestrator.accounting.after_generation(self.user, self.usage)
        except Exception:  # the reply is stored and shown; failed bookkeeping must not undo it
            log.exception("charging usage %s failed", self.usage.id)

    async def release(self) -> None:
        """This generation will not be charged (it failed, or its reply was not kept): free the policy's
        reservation. Safe to call any number of times, and after `charge` (then it does nothing)."""
        model_id, self._holding = self._holding, None
        if self._admitted is not None:  # admitted but never started (cancelled first)
            model_id, self._admitted = model_id or self._admitted, None
        if model_id is not None:
            await self.orchestrator.release(self.user, model_id)


async def _count_prompt(model: ChatModel, request: GenerationRequest) -> int:
    """Prompt tokens as the model reads them: its template's tokens when it can say, else the texts'."""

    def count() -> int:
        prompt_tokens = getattr(model, "prompt_tokens", None)
        if callable(prompt_tokens):
            try:
                return len(prompt_tokens(request.messages, continue_last=request.continue_last))
            except Exception:  # a template that refuses these messages: count the texts instead
                pass
        return sum(model.count_tokens(m.content) for m in request.messages)

    try:
        return await asyncio.to_thread(count)
    except Exception:  # counting must not fail the bookkeeping (a remote model's tokenizer is an estimate)
        return 0


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."
