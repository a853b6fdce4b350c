"""`vsh run`: one command, decided then run in the sandbox. Exit status: the command's; 125 when vsh
failed (usage included); 126 when policy refused."""

from __future__ import annotations

from typing import Any

import click

from vshell.cli_click import options_from
from vshell.environment import Environment
from vshell.options import RUN

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


@click.command("run", epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@options_from(RUN)
@click.argument("argv", nargs=-1, type=click.UNPROCESSED, metavar="-- PROGRAM [ARGS]...")
@click.pass_obj
def run(env: Environment, **values: Any) -> int:
    """Run one command in the sandbox: `vsh run -- PROGRAM [ARGS...]` or `vsh run -c 'LINE'`."""
    from vshell.commands import run_command

    return run_command(env, **values)
