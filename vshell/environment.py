"""What a vsh invocation runs against: streams, environment variables, state paths, debug switch.

Passed explicitly (as click's `ctx.obj`) so tests can swap any part; nothing here is global.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import TextIO

from vshell.state import StatePaths


@dataclass
class Environment:
    stdin: TextIO = field(default_factory=lambda: sys.stdin)
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    environ: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    debug: bool = False
    # Whether a person can be asked on /dev/tty: None means try to open it. The warm server sets it
    # from what its client found, and sets defer_prompts: a prompt is then the client's to show.
    tty: bool | None = None
    defer_prompts: bool = False

    def __post_init__(self) -> None:
        if self.environ.get("LOG_LEVEL", "").lower() == "debug":
            self.debug = True

    @property
    def paths(self) -> StatePaths:
        return StatePaths.from_env(self.environ)

    def config(self):  # type: ignore[no-untyped-def]
        from vshell.config import load_config

        return load_config(self.paths.config)

    def warn(self, message: str) -> None:
        print(f"vsh: {message}", file=self.stderr, flush=True)

    def trace(self, message: str) -> None:
        """A decision-trace line, shown with --debug or LOG_LEVEL=debug."""
        if self.debug:
            print(f"vsh[debug]: {message}", file=self.stderr, flush=True)
