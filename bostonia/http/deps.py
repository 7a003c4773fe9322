"""Names for what routes receive by dependency injection (the keys registered in `app.py`)."""

from __future__ import annotations

from litestar.di import NamedDependency

from bostonia.audit.store import AuditLog
from bostonia.auth.recovery import PasswordRecovery
from bostonia.auth.service import AuthService
from bostonia.characters.service import CharacterService
from bostonia.chat.service import ChatService
from bostonia.config import Settings as _Settings
from bostonia.db import Database
from bostonia.observability.metrics import Metrics as _Metrics
from bostonia.ratelimit.service import RateLimiter
from bostonia.users.library import LibraryService
from bostonia.users.schemas import User
from bostonia.users.service import UserService

Audit = NamedDependency[AuditLog]
Auth = NamedDependency[AuthService]
Characters = NamedDependency[CharacterService]
Chat = NamedDependency[ChatService]
Db = NamedDependency[Database]
Library = NamedDependency[LibraryService]
Limiter = NamedDependency[RateLimiter]
LoginOptions = NamedDependency[list[dict[str, str]]]  # parameter name `login_options`: plugin sign-in buttons
Metrics = NamedDependency[_Metrics]
Recovery = NamedDependency[PasswordRecovery]
Settings = NamedDependency[_Settings]
Users = NamedDependency[UserService]
CurrentUser = NamedDependency[User]  # parameter name `user`: signed in, else 401
Viewer = NamedDependency[User | None]  # parameter name `viewer`: signed in or anonymous
