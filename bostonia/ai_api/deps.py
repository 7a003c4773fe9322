"""Names of the AI APIs' services for route parameters.

Route parameters with these names receive the service registered under that name in `bostonia/app.py`.
"""

from __future__ import annotations

from litestar.di import NamedDependency

from bostonia.ai_api.service import AIService

AI = NamedDependency[AIService]
