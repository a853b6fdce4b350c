"""`vsh run`: one command, decided then run in the sandbox. Exit status: the command's; 125 when vsh
failed (usage included); 126 when policy refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from vshell.environment import Environment
from vshell.runargs import CONTEXTS, OPTIONS

EPILOG = """\b
Examples:
  vsh run -- ls -la src            # argv passed exactly; the decided line is shlex.join(argv)
  vsh run -c 'make test | tail'    # bash -c runs exactly these bytes
  vsh run --cwd sub -c 'npm test'  # start in WORKSPACE/sub
  vsh run --cred github/token -- gh api user   # the proxy injects it; the command never sees it
  vsh run --host -c 'brew upgrade' # on the host, unsandboxed, after a host_bash decision
\b
Exit status: the command's own; 125 when vsh failed; 126 when refused; 124 on --timeout.
"""


def _click_option(flags: tuple[str, ...], dest: str, kind: str, metavar: str | None, help_: str) -> Any:
    kw: dict[str, Any] = {"help": help_}
    if metavar:
        kw["metavar"] = metavar
    if kind == "multi":
        kw["multiple"] = True
    elif kind == "flag":
        kw["is_flag"] = True
    elif kind == "dir":
        kw["type"] = click.Path(file_okay=False, path_type=Path)
    elif kind == "context":
        kw["type"] = click.Choice(CONTEXTS)
    elif kind == "seconds":
        kw["type"] = click.FloatRange(min=0, min_open=True)
    return click.option(*flags, dest, **kw)


def _options(f: Any) -> Any:
    for option in reversed(OPTIONS):
        f = _click_option(*option)(f)
    return f


@click.command("run", epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@_options
@click.argument("argv", nargs=-1, type=click.UNPROCESSED, metavar="-- PROGRAM [ARGS]...")
@click.pass_obj
def run(env: Environment, **values: Any) -> int:
    """Run one command in the sandbox: `vsh run -- PROGRAM [ARGS...]` or `vsh run -c 'LINE'`."""
    from vshell.runner import execute, request_from_args

    env.debug = env.debug or bool(values["debug"])
    return execute(env, request_from_args(values))
