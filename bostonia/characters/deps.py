"""Names of the characters capability's services for route parameters.

Route parameters with these names receive the service registered under that name in `bostonia/app.py`.
"""

from __future__ import annotations

from litestar.di import NamedDependency

from bostonia.characters.service import CharacterService
from bostonia.characters.transfer import CardTransfer

Characters = NamedDependency[CharacterService]
Transfer = NamedDependency[CardTransfer]
