"""Run benchmarks: `python -m benchmarks` runs all; `python -m benchmarks streaming` one."""

from __future__ import annotations

import importlib
import signal
import sys

BENCHMARKS = [
    "streaming",
    "chat_engine",
    "engine",
    "accounts",
    "catalogue",
    "lore",
    "voice",
    "moderation",
    "memory",
    "orchestration",
    "group_prompt",
    "checkpoints",
]


def main(names: list[str]) -> None:
    for name in names or BENCHMARKS:
        if name not in BENCHMARKS:
            raise SystemExit(f"unknown benchmark {name!r}; choose from {', '.join(BENCHMARKS)}")
        importlib.import_module(f"benchmarks.{name}").main()


# A benchmark stopped by `timeout` or Ctrl-C unwinds: the servers it started (in sessions of their own, so a
# plain SIGTERM to this process would leave them running and loading the machine) are stopped by its
# `finally` blocks.
signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
main(sys.argv[1:])
