"""Names of the library capability's services for route parameters.

Route parameters with these names receive the service registered under that name in `bostonia/app.py`.
"""

from __future__ import annotations

from litestar.di import NamedDependency

from bostonia.library.service import LibraryService

Library = NamedDependency[LibraryService]
