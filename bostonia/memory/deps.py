"""Names of the memory capability's services for route parameters.

Route parameters with these names receive the service registered under that name in `bostonia/app.py`.
"""

from __future__ import annotations

from litestar.di import NamedDependency

from bostonia.memory.knowledge import KnowledgeService
from bostonia.memory.service import MemoryService

Memory = NamedDependency[MemoryService]
Knowledge = NamedDependency[KnowledgeService]
