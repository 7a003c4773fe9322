"""The composition root: every service is built here, and `create_app` wires them into Litestar.

Read this file to see the whole application: what exists, what depends on what, which routes serve it.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pluggy
from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar import Litestar, Response
from litestar.datastructures import CacheControlHeader
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.plugins.htmx import HTMXPlugin
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template import TemplateConfig
from sqlite_utils import Migrations

from bostonia import __version__
from bostonia.accounts.admin_pages import AdminPages
from bostonia.accounts.admin_routes import AdminController
from bostonia.accounts.pages import AccountDeletionPages
from bostonia.accounts.service import AccountService
from bostonia.ai_api.pages import AdminModelPages
from bostonia.ai_api.routes import AdminAIController, AIController, OpenAIController
from bostonia.ai_api.service import AIService
from bostonia.analytics.migrations import migrations as analytics_migrations
from bostonia.analytics.recorder import EventRecorder
from bostonia.analytics.store import AnalyticsStore
from bostonia.audit.store import AuditLog
from bostonia.auth.migrations import migrations as auth_migrations
from bostonia.auth.pages import AccountPages, ApiKeyPages
from bostonia.auth.passkeys import PasskeyService
from bostonia.auth.recovery import PasswordRecovery
from bostonia.auth.routes import ApiKeyController, AuthController, PasskeyController, PasswordController
from bostonia.auth.service import AuthService
from bostonia.auth.store import IdentityStore, PasskeyStore, PasswordResetStore, SessionStore
from bostonia.auth.tokens import AccessTokens, load_or_create_secret
from bostonia.billing.accounting import CreditAccounting
from bostonia.billing.entitlements import EntitlementTable
from bostonia.billing.migrations import migrations as billing_migrations
from bostonia.billing.pages import BillingPages
from bostonia.billing.payments import PaymentService, choose_provider
from bostonia.billing.routes import CreditController, PaymentController
from bostonia.billing.service import BillingService
from bostonia.billing.store import BillingStore
from bostonia.characters.builder import BuilderPages
from bostonia.characters.media import MediaStore
from bostonia.characters.migrations import migrations as character_migrations
from bostonia.characters.pages import CharacterPages
from bostonia.characters.routes import CharacterController
from bostonia.characters.service import CharacterService
from bostonia.characters.store import CharacterStore
from bostonia.characters.transfer import CardTransfer
from bostonia.chat.cast import CastService
from bostonia.chat.checkpoint_store import CheckpointStore
from bostonia.chat.hub import ConversationHub
from bostonia.chat.migrations import migrations as chat_migrations
from bostonia.chat.pages import ChatPages
from bostonia.chat.replies import ReplyService
from bostonia.chat.room_pages import RoomPages
from bostonia.chat.room_routes import InviteController, RoomController
from bostonia.chat.room_store import RoomStore
from bostonia.chat.rooms import RoomService
from bostonia.chat.routes import ConversationController
from bostonia.chat.service import ChatService
from bostonia.chat.socket import chat_socket
from bostonia.chat.store import ConversationStore
from bostonia.chat.streams import RepliesInFlight
from bostonia.config import Settings, load_settings
from bostonia.creators.experiment_store import ExperimentStore
from bostonia.creators.experiments import GreetingExperiments
from bostonia.creators.migrations import migrations as creator_migrations
from bostonia.creators.pages import CreatorPages, StudioPages
from bostonia.creators.routes import (
    AdminPayoutController,
    CreatorController,
    PremiumController,
    PublicCreatorController,
)
from bostonia.creators.service import CreatorService
from bostonia.creators.store import CreatorStore
from bostonia.creators.studio import StudioService
from bostonia.dashboard.pages import DashboardController, DashboardPages
from bostonia.dashboard.service import AdminDashboard
from bostonia.db import Database
from bostonia.db.lock import DataDirLock, LockHeld
from bostonia.db.migrations import migrations as seed_migrations
from bostonia.db.values import utc_in
from bostonia.embeddings import Embedder, HashingEmbedder, OnnxMiniLM, PlainVectors, make_embedder, shared_cache_dir
from bostonia.errors import Unavailable
from bostonia.http.auth import provide_optional_user, provide_user
from bostonia.http.errors import EXCEPTION_HANDLERS, error_boundary
from bostonia.http.limits import BostoniaRequest
from bostonia.http.openapi import openapi_config
from bostonia.http.ratelimit import rate_limit_middleware
from bostonia.http.security import BostoniaCSRFMiddleware, csrf_config, security_headers
from bostonia.library.pages import LibraryPages
from bostonia.library.routes import CollectionController, MyLibraryController
from bostonia.library.service import LibraryService
from bostonia.library.store import LibraryStore
from bostonia.llm.base import LoadableModel
from bostonia.llm.registry import ModelRegistry
from bostonia.llm.worker import GenerationQueues
from bostonia.lore.injector import LoreInjector
from bostonia.lore.migrations import migrations as lore_migrations
from bostonia.lore.pages import LorePages
from bostonia.lore.routes import ChatLoreController, LorebookController
from bostonia.lore.service import LoreService
from bostonia.lore.store import LorebookStore
from bostonia.mail.sender import Mailer
from bostonia.memory.extraction import Extractor, queue_generator
from bostonia.memory.indexer import MemoryIndexer
from bostonia.memory.injector import MemoryInjector
from bostonia.memory.knowledge import KnowledgeService, KnowledgeStore
from bostonia.memory.migrations import migrations as memory_migrations
from bostonia.memory.pages import MemoryPages
from bostonia.memory.records import MemoryRecords
from bostonia.memory.routes import KnowledgeController, MemoryController
from bostonia.memory.service import MemoryService
from bostonia.memory.store import RecallStore
from bostonia.memory.summaries import Summarizer, SummaryStore
from bostonia.memory.vectors import VectorSearch
from bostonia.moderation.classifier import OffensiveClassifier
from bostonia.moderation.guard import ChatGuard
from bostonia.moderation.images import NSFWImageModel
from bostonia.moderation.migrations import migrations as moderation_migrations
from bostonia.moderation.moderator import TextModerator
from bostonia.moderation.pages import ModerationPages
from bostonia.moderation.routes import ModerationController, ReportController
from bostonia.moderation.service import ModerationService
from bostonia.moderation.store import ModerationStore
from bostonia.observability import routes as ops_routes
from bostonia.observability.metrics import Metrics
from bostonia.observability.middleware import request_middleware
from bostonia.observability.warmup import WarmUp
from bostonia.orchestration.accounting import AccountingPolicy, Prices
from bostonia.orchestration.catalog import ModelCatalog
from bostonia.orchestration.migrations import migrations as orchestration_migrations
from bostonia.orchestration.residency import ModelResidency
from bostonia.orchestration.routing import ModelRouter
from bostonia.orchestration.service import Orchestrator
from bostonia.orchestration.store import ModelChoices, UsageStore
from bostonia.personas.pages import PersonaPages
from bostonia.personas.routes import PersonaController
from bostonia.personas.service import PersonaService
from bostonia.personas.store import PersonaStore
from bostonia.plugins import (
    call_all,
    configure_plugins,
    make_plugin_manager,
    plugin_migrations,
    plugin_template_dirs,
)
from bostonia.ratelimit.service import RateLimiter
from bostonia.ui import filters, i18n
from bostonia.ui.assets import STATIC_DIR, TEMPLATES_DIR
from bostonia.ui.pages import AppShellPages
from bostonia.users.migrations import migrations as user_migrations
from bostonia.users.pages import UserPages
from bostonia.users.privacy import ConversationAccessPolicy
from bostonia.users.routes import MeController
from bostonia.users.service import UserService
from bostonia.users.store import UserStore
from bostonia.voice.engine import PiperEngine, VoiceCatalog
from bostonia.voice.migrations import migrations as voice_migrations
from bostonia.voice.pages import VoicePages
from bostonia.voice.routes import VoiceController
from bostonia.voice.scheduler import FairScheduler
from bostonia.voice.service import VoiceService
from bostonia.voice.socket import voice_socket
from bostonia.voice.store import CharacterVoiceStore
from bostonia.voice.stt import WhisperTranscriber

log = logging.getLogger(__name__)
# Every migration set, in the order they apply: the seed schema first, then capabilities' own.
MIGRATIONS: tuple[Migrations, ...] = (
    seed_migrations,
    auth_migrations,
    chat_migrations,
    character_migrations,
    lore_migrations,
    user_migrations,
    voice_migrations,
    moderation_migrations,
    memory_migrations,
    billing_migrations,
    analytics_migrations,
    creator_migrations,
    orchestration_migrations,
)
HOUSEKEEPING_SECONDS = 3600
# At start-up, the chats with a message this recent are read again before their people send (see
# `Services._reread_recent_chats`).
RECENT_CHATS = timedelta(minutes=30)


@dataclass
class Services:
    """Everything the application is made of, built once per process (or per test)."""

    settings: Settings
    plugins: pluggy.PluginManager
    db: Database
    metrics: Metrics
    models: ModelRegistry
    queues: GenerationQueues
    router: ModelRouter
    orchestrator: Orchestrator
    catalog: ModelCatalog
    model_choices: ModelChoices
    secret: str  # the instance's signing secret (JWTs, CSRF tokens)
    audit: AuditLog
    auth: AuthService
    recovery: PasswordRecovery
    passkeys: PasskeyService
    users: UserService
    accounts: AccountService
    library: LibraryService
    limiter: RateLimiter
    media: MediaStore
    characters: CharacterService
    lore: LoreService
    transfer: CardTransfer
    personas: PersonaService
    hub: ConversationHub
    chat: ChatService
    rooms: RoomService
    cast: CastService
    replies: ReplyService
    voice: VoiceService
    moderation: ModerationService
    indexer: MemoryIndexer
    memory: MemoryService
    knowledge: KnowledgeService
    analytics: EventRecorder
    billing: BillingService
    payments: PaymentService
    accounting: CreditAccounting
    creators: CreatorService
    studio: StudioService
    experiments: GreetingExperiments
    dashboard: AdminDashboard
    ai: AIService
    warming: WarmUp = field(default_factory=WarmUp, init=False)
    _housekeeping: asyncio.Task[None] | None = field(default=None, init=False, repr=False)
    _data_dir_lock: DataDirLock | None = field(default=None, init=False, repr=False)
    _loading: asyncio.Task[None] | None = field(default=None, init=False, repr=False)
    _rereading: asyncio.Task[None] | None = field(default=None, init=False, repr=False)

    async def start(self, *, serving: bool = True) -> None:
        """Open the instance. `serving`: as the server of its data directory (it takes the directory's lock
        and turns a dead server's checkpoints into interrupted replies); an admin command opens it beside a
        running server instead, touching neither."""
        if serving:
            self._lock_data_dir()
        try:
            await self._start(serving)
        except BaseException:  # a start that fails (a plugin's check, a migration) frees the data directory
            if self._data_dir_lock is not None:
                self._data_dir_lock.release()
                self._data_dir_lock = None
            raise

    async def _start(self, serving: bool) -> None:
        applied = await self.db.migrate()
        if applied:
            log.info("applied migrations", extra={"migrations": applied})
        if serving and (interrupted := await self.replies.in_flight.recover_interrupted()):  # a crash cut these
            log.warning("kept %d replies a crash interrupted", len(interrupted))
        await self.characters.seed_bundled()
        await self._apply_default_model()
        await self.indexer.start()
        await self.memory.extractor.start()
        await self.memory.summarizer.start()
        await call_all(self.plugins.hook.startup(services=self))
        self.analytics.start()
        self._housekeeping = asyncio.create_task(self._housekeep())

    async def _housekeep(self) -> None:
        """Periodic chores of a long-running server: now, forgetting expired credentials."""
        while True:
            try:
                await self.auth.purge_expired()
                await self.billing.grant_monthly_credits()
            except Exception:  # a failed chore is retried next round; it must not end the loop
                log.exception("housekeeping failed")
            await asyncio.sleep(HOUSEKEEPING_SECONDS)

    async def _load(self, model: LoadableModel) -> None:
        async with self.orchestrator.using(model):
            pass

    async def _apply_default_model(self) -> None:
        """`bostonia models default` wins over `[llm] default_model` (if that model is still there)."""
        chosen = await self.model_choices.default_model()
        if chosen and chosen in self.models:
            self.models.default_model_id = chosen
        elif chosen:
            log.warning("the default model chosen by command, %s, is not registered; using %s", chosen,
                        self.models.default_model_id)  # fmt: skip

    def _lock_data_dir(self) -> None:
        """One server per data directory (`bostonia db restore` checks for it). Another app of this same
        process (tests) shares the lock its first one holds."""
        lock = DataDirLock(self.settings.data_path)
        try:
            lock.acquire()
        except LockHeld as held:
            if held.pid != os.getpid():
                raise
            return
        self._data_dir_lock = lock

    def warm_up(self) -> None:
        """Load the default chat model and the moderation models in the background, so the first message
        does not pay for them; `/ready` says "warming" meanwhile."""
        if self.settings.moderation.enabled:  # the classifier and embedding model, on the moderation thread
            self.warming.track("moderation", self.moderation.warm_up())
        try:
            model = self.models.default
        except Unavailable as exc:
            log.warning("no default chat model: %s", exc.message)
            return
        if isinstance(model, LoadableModel):
            self._loading = asyncio.create_task(self._load(model))  # within the memory budget, off the loop
            self.warming.track("chat model", self._loading)
        self._rereading = asyncio.create_task(self._reread_recent_chats())  # not awaited by /ready

    async def _reread_recent_chats(self) -> None:
        """After a restart (an upgrade, a crash), read the chats people were just in again, the latest first,
        while the model is idle. What the model had read of a conversation was in this process's memory: the
        next reply would read its whole prompt while its user waits (seconds on a CPU), and after a crash
        mid-reply the retried reply could be cut again before its first token."""
        if self._loading is not None:
            await asyncio.gather(self._loading, return_exceptions=True)
        try:
            recent = await self.chat.recently_active(utc_in(-RECENT_CHATS), limit=self.settings.llm.parallel)
            for conversation_id, user_id in recent:
                if (user := await self.users.active_account(user_id)) is not None:
                    await self.replies.warm(user, conversation_id)
        except Exception:  # a head start, not a duty: the replies read what they need anyway
            log.exception("could not re-read the recent chats")

    async def stop(self) -> None:
        if self._housekeeping is not None:
            self._housekeeping.cancel()
        if self._rereading is not None:
            self._rereading.cancel()
        for impl in self.plugins.hook.shutdown.get_hookimpls():
            try:
                await call_all([impl.function(**({"services": self} if "services" in impl.argnames else {}))])
            except Exception:  # one plugin's failure must not keep the others (or the database) open
                log.exception("plugin %s failed to shut down", impl.plugin_name)
        await self.replies.shutdown()
        await self.rooms.close()
        await self.analytics.stop()
        self.voice.shutdown()
        await self.indexer.stop()
        await self.memory.extractor.stop()
        await self.memory.summarizer.stop()
        await self.characters.stop()
        self.hub.close()
        await self.recovery.drain()
        self.queues.stop()
        self.moderation.close()
        self.db.close()
        if self._data_dir_lock is not None:
            self._data_dir_lock.release()


def open_database(
    settings: Settings, plugins: pluggy.PluginManager | None = None, *, read_connections: int | None = None
) -> Database:
    """The instance's database, knowing every migration set its schema is made of (the plugins' too)."""
    settings.data_path.mkdir(parents=True, exist_ok=True)
    return Database(
        settings.database_path,
        migrations=(*MIGRATIONS, *(plugin_migrations(plugins) if plugins else ())),
        read_connections=read_connections or settings.database.read_connections,
        busy_timeout_ms=settings.database.busy_timeout_ms,
    )


def build_moderation(
    settings: Settings,
    plugins: pluggy.PluginManager,
    db: Database,
    characters: CharacterService,
    chat: ChatService,
    accounts: AccountService,
    embedder: Embedder,
) -> ModerationService:
    config = settings.moderation
    moderators: list[Any] = []
    plugins.hook.register_moderators(register=moderators.append, settings=settings)
    moderator = TextModerator(
        classifier=OffensiveClassifier() if config.classifier else None,
        # Similarity needs meanings: the shared model, or one of its own if the instance runs on hashing.
        embedder=(
            (
                embedder
                if not isinstance(embedder, HashingEmbedder)
                else OnnxMiniLM(shared_cache_dir(settings.data_path / "cache"))
            )
            if config.similarity
            else None
        ),
        moderators=moderators,
    )
    return ModerationService(
        ModerationStore(db),
        moderator,
        characters=characters,
        chat=chat,
        accounts=accounts,
        config=config,
        uploads=settings.uploads,
        image_model=NSFWImageModel(),
    )


def build_services(
    settings: Settings,
    plugins: pluggy.PluginManager | None = None,
    *,
    accounting_policy: AccountingPolicy | None = None,
) -> Services:
    """Every service of the instance. `accounting_policy` replaces the credit accounting (tests)."""
    plugins = plugins or make_plugin_manager(settings.plugins.enabled)
    settings = configure_plugins(plugins, settings)
    db = open_database(settings, plugins)
    metrics = Metrics()
    models = ModelRegistry.from_plugins(plugins, settings)
    queues = GenerationQueues(metrics.queue_observer())
    # AI orchestration: routes (tier, character, creative mode), fallback, the memory budget, usage and cost.
    router = ModelRouter(settings.models, models)
    residency = ModelResidency(
        settings.llm.memory_budget_mb * 1024 * 1024,
        lambda: list(models),
        before_unload=lambda model: queues.discard(model.model_id),
    )
    prices = Prices(settings.models.prices)
    orchestrator = Orchestrator(queues, residency, UsageStore(db), prices, settings.models)
    catalog = ModelCatalog(models, residency, orchestrator, router, prices, settings.models_path)
    user_store = UserStore(db)
    secret = load_or_create_secret(settings.data_path / settings.auth.secret_file)
    tokens = AccessTokens(secret, lifetime_seconds=settings.auth.access_token_minutes * 60)
    audit = AuditLog(db)
    analytics = EventRecorder(db, settings.analytics)
    users = UserService(user_store, auth_config=settings.auth, analytics=analytics)
    auth = AuthService(user_store, SessionStore(db), tokens, settings.auth, identities=IdentityStore(db))
    media = MediaStore(settings.data_path / "media")
    lorebooks = LorebookStore(db)
    character_store = CharacterStore(db)
    characters = CharacterService(character_store, media=media, config=settings.characters, uploads=settings.uploads)
    personas = PersonaService(PersonaStore(db))
    conversations = ConversationStore(db)
    hub = ConversationHub()
    in_flight = RepliesInFlight(CheckpointStore(db))  # replies in flight, checkpointed against crashes
    room_store = RoomStore(db)
    # Money: plans and credits (billing), the payment provider a plugin may register, creators' earnings.
    billing_store = BillingStore(db)
    entitlements = EntitlementTable(settings.tiers, settings.rate_limits)
    providers: dict[str, Any] = {}
    plugins.hook.register_payment_providers(register=lambda p: providers.__setitem__(p.name, p), settings=settings)
    payments = PaymentService(
        db, billing_store, entitlements, settings.billing, choose_provider(providers, settings.billing), analytics
    )
    billing = BillingService(db, billing_store, entitlements, settings.billing, payments_enabled=payments.enabled)
    # Credits pay for generations at the per-model prices ([models.prices]); plans list the models they allow.
    accounting = CreditAccounting(db, entitlements, prices, settings.billing, max_tokens=settings.llm.max_tokens)
    orchestrator.accounting = accounting_policy or accounting
    creators = CreatorService(
        db, CreatorStore(db), characters, payments, entitlements, settings.creators, settings.billing, analytics
    )
    payments.listeners.append(creators)
    experiments = GreetingExperiments(ExperimentStore(db), characters)
    chat = ChatService(
        conversations,
        characters,
        personas,
        hub,
        settings.llm,
        forget_session=models.forget_session,
        in_flight=in_flight,
        access=ConversationAccessPolicy(settings.privacy, audit),
        rooms=room_store,
        gate=creators,  # premium characters
        greeting_split=experiments,  # greeting A/B tests
        analytics=analytics,
    )
    rooms = RoomService(chat, room_store, personas, hub)
    cast = CastService(chat, conversations, room_store, rooms, characters, hub)
    accounts = AccountService(db, users, auth, settings.privacy)
    # One embedding model for memory, World Info's vector activation and moderation's similarity.
    embedder = make_embedder(settings.memory.embedder, settings.data_path / "cache")
    moderation = build_moderation(settings, plugins, db, characters, chat, accounts, embedder)
    characters.check_avatars_with(moderation)
    recall = RecallStore(db)
    vectors = VectorSearch(recall, cache_bytes=settings.memory.vector_cache_mb * 1024 * 1024)
    indexer = MemoryIndexer(recall, embedder, vectors, spread=lambda: not models.busy())
    records = MemoryRecords(db)
    generate = queue_generator(models, queues)  # background priority: a reply preempts it
    extractor = Extractor(
        records, recall, embedder, vectors, generate, quiet_seconds=settings.memory.extraction_quiet_seconds
    )
    summarizer = Summarizer(
        SummaryStore(db), generate, conversations.path, recall.speaker_names, records.owner, indexed=indexer.idle
    )
    # Every stored, edited or deleted message reaches the recall index, extraction and the summaries.
    chat.listeners.append(indexer)
    chat.listeners += [extractor] if settings.memory.extraction else []
    chat.listeners += [summarizer] if settings.memory.summaries else []
    knowledge = KnowledgeStore(db)
    memory = MemoryService(chat, recall, embedder, vectors, records, extractor, summarizer, knowledge)
    replies = ReplyService(
        chat,
        conversations,
        characters,
        personas,
        models,
        queues,
        hub,
        settings.llm,
        # What the conversation remembers, then the character's lorebook; plugins add their own. Memory
        # first: when a warm-up puts both at the same depth, the memory text leads the merged message, as
        # it leads in the reply's prompt (where it sits one message earlier): the cache keeps it.
        injectors=[
            MemoryInjector(memory, settings.memory, context_tokens=lambda: _context_size(models)),
            LoreInjector(
                lorebooks,
                personas=personas,
                context_tokens=lambda: _context_size(models),
                embedder=PlainVectors(embedder),  # vector activation of World Info entries: the same model
                greeting_index=conversations.greeting_index,
                member_books=cast.lorebooks,  # a group chat reads every member's book
            ),
            *(i for found in plugins.hook.prompt_injectors(settings=settings) for i in found or []),
        ],
        in_flight=in_flight,
        router=router,
        orchestrator=orchestrator,
        guard=ChatGuard(moderation) if settings.moderation.enabled else None,
        cast=cast,
        analytics=analytics,
    )
    voice = settings.voice
    return Services(
        settings=settings,
        plugins=plugins,
        db=db,
        metrics=metrics,
        models=models,
        queues=queues,
        router=router,
        orchestrator=orchestrator,
        catalog=catalog,
        model_choices=ModelChoices(db),
        secret=secret,
        audit=audit,
        auth=auth,
        passkeys=PasskeyService(PasskeyStore(db), user_store),
        recovery=PasswordRecovery(
            auth,
            PasswordResetStore(db),
            Mailer(settings.email),
            audit,
            lifetime_minutes=settings.auth.password_reset_minutes,
        ),
        users=users,
        accounts=accounts,
        library=LibraryService(LibraryStore(db), characters),
        limiter=RateLimiter(settings.rate_limits),
        media=media,
        characters=characters,
        lore=LoreService(lorebooks, conversations=chat, personas=personas, characters=characters),
        transfer=CardTransfer(characters, character_store, lorebooks, media, settings.uploads),
        personas=personas,
        hub=hub,
        chat=chat,
        rooms=rooms,
        cast=cast,
        replies=replies,
        voice=VoiceService(
            VoiceCatalog(settings.models_path, voice.default_voice),
            PiperEngine(threads=voice.threads),
            FairScheduler(voice.workers, max_queued_per_user=voice.max_queued_sentences),
            CharacterVoiceStore(db),
            voice,
            characters=characters,
            chat=chat,
            replies=replies,
            hub=hub,
            transcriber=WhisperTranscriber(threads=voice.threads, max_seconds=voice.max_recording_seconds),
        ),
        moderation=moderation,
        indexer=indexer,
        memory=memory,
        knowledge=KnowledgeService(knowledge, embedder, chat, characters, personas),
        analytics=analytics,
        billing=billing,
        payments=payments,
        accounting=accounting,
        creators=creators,
        studio=StudioService(CreatorStore(db), characters, AnalyticsStore(db)),
        experiments=experiments,
        dashboard=AdminDashboard(AnalyticsStore(db), billing_store, metrics.recent, settings.billing),
        ai=AIService(
            orchestrator,
            router,
            catalog,
            replies,
            chat,
            moderation,
            orchestrator.usage,
            settings.llm,
            embedder=embedder,  # /v1/embeddings: the instance's one embedding model
        ),
    )


def _context_size(models: ModelRegistry) -> int:
    """The default model's context, for the memory blocks' and World Info's budgets (shares of it); 4096
    without a model."""
    try:
        return models.default.context_size
    except Unavailable:
        return 4096


def _template_engine(plugin_dirs: list[Path]) -> JinjaTemplateEngine:
    env = Environment(
        # The core's templates first: a plugin adds pages, it does not replace the app's.
        loader=FileSystemLoader([TEMPLATES_DIR, *plugin_dirs]),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["version"] = __version__
    env.filters.update(filters.FILTERS)
    i18n.install(env)
    return JinjaTemplateEngine.from_environment(env)


def _no_sniff(response: Response[Any]) -> Response[Any]:
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _provide(value: Any) -> Provide:
    def provider() -> Any:
        return value

    return Provide(provider, use_cache=True, sync_to_thread=False)


def create_app(settings: Settings | None = None, *, services: Services | None = None) -> Litestar:
    services = services or build_services(settings or load_settings())
    settings = services.settings  # with the plugins' validated tables

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        await services.start()
        services.warm_up()
        try:
            yield
        finally:
            await services.stop()

    extra_routes: list[Any] = []
    for routes in services.plugins.hook.extra_routes(settings=settings):
        extra_routes.extend(routes or [])
    login_options: list[dict[str, str]] = []
    for options in services.plugins.hook.login_providers(settings=settings):
        login_options.extend(options or [])

    dependencies: dict[str, Provide | Callable[..., Any]] = {
        "config": _provide(settings),
        "db": _provide(services.db),
        "metrics": _provide(services.metrics),
        "warming": _provide(services.warming),
        "audit": _provide(services.audit),
        "auth": _provide(services.auth),
        "recovery": _provide(services.recovery),
        "passkeys": _provide(services.passkeys),
        "users": _provide(services.users),
        "accounts": _provide(services.accounts),
        "library": _provide(services.library),
        "limiter": _provide(services.limiter),
        "login_options": _provide(login_options),
        "characters": _provide(services.characters),
        "lore": _provide(services.lore),
        "memory": _provide(services.memory),
        "knowledge": _provide(services.knowledge),
        "transfer": _provide(services.transfer),
        "chat": _provide(services.chat),
        "rooms": _provide(services.rooms),
        "cast": _provide(services.cast),
        "replies": _provide(services.replies),
        "personas": _provide(services.personas),
        "hub": _provide(services.hub),
        "voice": _provide(services.voice),
        "moderation": _provide(services.moderation),
        "analytics": _provide(services.analytics),
        "billing": _provide(services.billing),
        "payments": _provide(services.payments),
        "creators": _provide(services.creators),
        "studio": _provide(services.studio),
        "experiments": _provide(services.experiments),
        "dashboard": _provide(services.dashboard),
        "ai": _provide(services.ai),
        "user": Provide(provide_user),
        "viewer": Provide(provide_optional_user),
    }
    app = Litestar(
        route_handlers=[
            *ops_routes.ROUTES,
            AppShellPages,
            AuthController,
            PasswordController,
            PasskeyController,
            ApiKeyController,
            AIController,
            AdminAIController,
            OpenAIController,
            MeController,
            MyLibraryController,
            CollectionController,
            AdminController,
            CharacterController,
            LorebookController,
            ChatLoreController,
            LorePages,
            MemoryController,
            KnowledgeController,
            ConversationController,
            RoomController,
            InviteController,
            chat_socket,
            VoiceController,
            voice_socket,
            VoicePages,
            PersonaController,
            ModerationController,
            ReportController,
            PaymentController,
            CreditController,
            CreatorController,
            PremiumController,
            PublicCreatorController,
            AdminPayoutController,
            DashboardController,
            BillingPages,
            StudioPages,
            CreatorPages,
            DashboardPages,
            PersonaPages,
            ModerationPages,
            AccountPages,
            ApiKeyPages,
            UserPages,
            AccountDeletionPages,
            LibraryPages,
            AdminPages,
            AdminModelPages,
            CharacterPages,
            BuilderPages,
            ChatPages,
            RoomPages,
            MemoryPages,
            create_static_files_router(
                "/static", directories=[STATIC_DIR], cache_control=CacheControlHeader(max_age=3600)
            ),
            # Content-addressed file names: a URL never changes meaning, so browsers may keep it for a year.
            create_static_files_router(
                "/media/avatars",
                directories=[services.media.avatars],
                name="media-avatars",
                cache_control=CacheControlHeader(max_age=31536000, public=True, immutable=True),
                after_request=_no_sniff,
            ),
            *extra_routes,
        ],
        dependencies=dependencies,
        # Outermost first: log every request, then count it against its rate limit, then check CSRF.
        middleware=[
            request_middleware(services.metrics),
            error_boundary,  # what the middleware below raise is answered here, seen by the request log
            rate_limit_middleware(services.limiter, services.auth),
            DefineMiddleware(
                BostoniaCSRFMiddleware, config=csrf_config(services.secret, secure=settings.auth.secure_cookies)
            ),
        ],
        before_send=[security_headers(https=settings.auth.secure_cookies)],
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        lifespan=[lifespan],
        plugins=[HTMXPlugin()],
        template_config=TemplateConfig(instance=_template_engine(plugin_template_dirs(services.plugins))),
        openapi_config=openapi_config(title="Bostonia", version=__version__, path="/schema"),  # our errors, real types
        request_max_body_size=settings.server.max_body_bytes,
        request_class=BostoniaRequest,  # JSON bodies nested too deep are refused before decoding
        logging_config=None,
    )
    app.state.services = services
    return app
