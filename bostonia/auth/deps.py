"""Names of the auth capability's services for route parameters.

Route parameters with these names receive the service registered under that name in `bostonia/app.py`.
"""

from __future__ import annotations

from litestar.di import NamedDependency

from bostonia.auth.passkeys import PasskeyService
from bostonia.auth.recovery import PasswordRecovery
from bostonia.auth.service import AuthService

Auth = NamedDependency[AuthService]
Recovery = NamedDependency[PasswordRecovery]
Passkeys = NamedDependency[PasskeyService]
LoginOptions = NamedDependency[list[dict[str, str]]]  # parameter name `login_options`: plugin sign-in buttons
