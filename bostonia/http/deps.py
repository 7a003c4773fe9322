"""Names for what routes receive by dependency injection (the keys registered in `app.py`).

A dependency's name must never equal a top-level field of a request body: Litestar would blame a
validation error in that field on the dependency and answer 500 instead of 400. That is why the
instance configuration is `config`, not `settings` (conversation bodies have `settings`);
tests/test_routes.py checks every route for such clashes.
"""

from __future__ import annotations

from litestar.di import NamedDependency

from bostonia.audit.store import AuditLog
from bostonia.auth.recovery import PasswordRecovery
from bostonia.auth.service import AuthService
from bostonia.characters.service import CharacterService
from bostonia.characters.transfer import CardTransfer
from bostonia.chat.hub import ConversationHub
from bostonia.chat.replies import ReplyService
from bostonia.chat.service import ChatService
from bostonia.config import Settings as _Settings
from bostonia.db import Database
from bostonia.identity import User
from bostonia.lore.service import LoreService
from bostonia.memory.knowledge import KnowledgeService
from bostonia.memory.service import MemoryService
from bostonia.observability.metrics import Metrics as _Metrics
from bostonia.personas.service import PersonaService
from bostonia.ratelimit.service import RateLimiter
from bostonia.users.library import LibraryService
from bostonia.users.service import UserService

Audit = NamedDependency[AuditLog]
Auth = NamedDependency[AuthService]
Characters = NamedDependency[CharacterService]
Chat = NamedDependency[ChatService]
Config = NamedDependency[_Settings]  # parameter name `config`
Db = NamedDependency[Database]
Hub = NamedDependency[ConversationHub]
Knowledge = NamedDependency[KnowledgeService]
Library = NamedDependency[LibraryService]
Limiter = NamedDependency[RateLimiter]
LoginOptions = NamedDependency[list[dict[str, str]]]  # parameter name `login_options`: plugin sign-in buttons
Lore = NamedDependency[LoreService]
Memory = NamedDependency[MemoryService]
Metrics = NamedDependency[_Metrics]
Personas = NamedDependency[PersonaService]
Recovery = NamedDependency[PasswordRecovery]
Replies = NamedDependency[ReplyService]
Transfer = NamedDependency[CardTransfer]
Users = NamedDependency[UserService]
CurrentUser = NamedDependency[User]  # parameter name `user`: signed in, else 401
Viewer = NamedDependency[User | None]  # parameter name `viewer`: signed in or anonymous
