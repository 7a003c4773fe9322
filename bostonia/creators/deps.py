"""Names of the creators capability's services for route parameters.

Route parameters with these names receive the service registered under that name in `bostonia/app.py`.
"""

from __future__ import annotations

from litestar.di import NamedDependency

from bostonia.creators.experiments import GreetingExperiments
from bostonia.creators.service import CreatorService
from bostonia.creators.studio import StudioService

Creators = NamedDependency[CreatorService]
Studio = NamedDependency[StudioService]
Experiments = NamedDependency[GreetingExperiments]
