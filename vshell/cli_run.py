"""`vsh run`: one command, decided then run in the sandbox. Exit status: the command's; 125 when vsh
failed (usage included); 126 when policy refused."""

from __future__ import annotations

import shlex
from pathlib import Path

import click

from vshell.config import CONTEXTS
from vshell.environment import Environment
from vshell.errors import UsageError

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
@click.option("-c", "line", metavar="LINE", help="A shell line, run as `bash -c LINE`.")
@click.option("--cred", "creds", multiple=True, metavar="REF",
              help="A credential (service/field or UUID) the proxy may inject. Repeatable.")
@click.option("--workspace", type=click.Path(file_okay=False, path_type=Path),
              help="The writable tree (default: [sandbox] workspace, else $VSH_HOME/workspace).")
@click.option("--cwd", type=click.Path(file_okay=False, path_type=Path),
              help="Start here; relative to the workspace, must be inside it (default: its root).")
@click.option("--host", is_flag=True, help="Run on the host, unsandboxed, after a host_bash decision.")
@click.option("--context", type=click.Choice(CONTEXTS),
              help="Who can answer a prompt (default: conversation on a terminal, else headless).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS",
              help="Kill the whole run after SECONDS (exit status 124).")
@click.option("--debug", is_flag=True, help="Show the decision trace and the sandbox.")
@click.argument("argv", nargs=-1, type=click.UNPROCESSED, metavar="-- PROGRAM [ARGS]...")
@click.pass_obj
def run(env: Environment, line: str | None, creds: tuple[str, ...], workspace: Path | None,
        cwd: Path | None, host: bool, context: str | None, timeout: float | None, debug: bool,
        argv: tuple[str, ...]) -> int:
    """Run one command in the sandbox: `vsh run -- PROGRAM [ARGS...]` or `vsh run -c 'LINE'`."""
    env.debug = env.debug or debug
    if line is not None and argv:
        raise UsageError("give either -c LINE or -- PROGRAM [ARGS...], not both")
    if line is None and not argv:
        raise UsageError("nothing to run: give -c LINE or -- PROGRAM [ARGS...]")
    run_argv: tuple[str, ...]
    if line is not None:
        decided, run_argv = line, ("bash", "-c", line)
    else:
        decided, run_argv = shlex.join(argv), tuple(argv)
    from vshell.runner import RunRequest, execute

    req = RunRequest(line=decided, argv=run_argv, workspace=workspace, cwd=cwd, creds=tuple(creds),
                     context=context, host=host, timeout=timeout)
    return execute(env, req)
