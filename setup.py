"""Only what pyproject.toml cannot say: the wheel carries the top-level `web/` folder (templates, static
files) inside the package, as `bostonia/web`, so a non-editable install serves the UI. In the source tree
the app reads `web/` where it is edited (see `bostonia.app.web_dir`)."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithWeb(build_py):
    def run(self) -> None:
        super().run()
        if not self.editable_mode:
            target = Path(self.build_lib) / "bostonia" / "web"
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(Path(__file__).parent / "web", target, ignore=shutil.ignore_patterns("__pycache__"))


setup(cmdclass={"build_py": BuildWithWeb})
