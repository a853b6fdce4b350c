"""The `vsh` command line.

Subcommands live in their own modules and are imported only when invoked, so `vsh classify` and
`vsh run` never pay for the rules database, the keyring or mitmproxy. `vsh run` first tries the warm
server (vshell.runfast): that path imports neither click nor the decision engine. Errors are turned
into a message and an exit status here and only here.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, NoReturn

    from vshell.environment import Environment
    from vshell.errors import VshError

# name -> (module, attribute, one-line help). The help is repeated here so `vsh --help` imports nothing.
SUBCOMMANDS: dict[str, tuple[str, str, str]] = {
    "run": ("vshell.cli_run", "run", "Run one command in the sandbox (for scripts and agents)."),
    "classify": ("vshell.cli_classify", "classify", "Parse a line and rate the risk of each action."),
    "check": ("vshell.cli_rules", "check", "Decide a line (allow/ask/deny) without running it."),
    "explain": ("vshell.cli_explain", "explain", "Explain everything about one decision."),
    "rules": ("vshell.cli_rules", "rules", "List, add, remove, import and export trust rules."),
    "cred": ("vshell.cli_cred", "cred", "Store and manage credentials the proxy injects."),
    "proxy": ("vshell.cli_proxy", "proxy", "Start, stop or inspect the egress proxy daemon."),
    "doctor": ("vshell.doctor", "doctor", "Check that the sandbox, state and proxy work."),
    "log": ("vshell.cli_rules", "log", "Show the audit log of decisions."),
    "demo": ("vshell.demo", "demo", "Show vsh's main job on a built-in example."),
}

# Under `vsh run`, vsh's own failures (usage included) exit 125 so they never look like the command's.
RUN_LIKE = {"run"}


def report(env: Environment, err: VshError) -> None:
    """The message (and hint; detail under --debug) for an error, on env's stderr."""
    env.warn(err.message)
    if err.hint:
        print(f"  hint: {err.hint}", file=env.stderr)
    if env.debug and err.detail:
        print(err.detail, file=env.stderr)


_report = report


def exit_code_for(err: VshError, *, run_like: bool) -> int:
    from vshell.errors import ExitCode

    code = int(err.exit_code)
    return ExitCode.VSH_FAILED if run_like and code == ExitCode.USAGE else code


def main(argv: list[str] | None = None, env: Environment | None = None) -> Any:
    """Entry point: run the CLI and map every outcome to an exit status."""
    args = sys.argv[1:] if argv is None else argv
    from vshell.supervise import reset_inherited_signals

    reset_inherited_signals()
    if env is None:
        from vshell import runfast

        try:
            status = runfast.run(args)
        except KeyboardInterrupt:  # Ctrl-C while the server was deciding: nothing ran
            sys.exit(130)
        if status is not None:
            sys.exit(status)
    from vshell.environment import Environment
    from vshell.options import parse_command

    env = env or Environment()
    values = parse_command(args[0], args[1:]) if args else None
    if values is not None:  # a plain `vsh run`, `check` or `classify`: no click needed
        from vshell import commands

        body = getattr(commands, f"{args[0]}_command")
        _exit_with(env, lambda: body(env, **values), run_like=args[0] in RUN_LIKE)
    run_like = bool(args) and next((a for a in args if not a.startswith("-")), "") in RUN_LIKE
    _exit_with(env, lambda: _click_main(env, args, run_like), run_like=run_like)


def _click_main(env: Environment, args: list[str], run_like: bool) -> Any:
    import click

    from vshell.cli_click import cli
    from vshell.errors import ExitCode

    try:
        return cli.main(args=args, prog_name="vsh", obj=env, standalone_mode=False)
    except click.exceptions.Abort:
        env.warn("aborted")
        sys.exit(130)
    except click.ClickException as e:
        e.show(file=env.stderr)
        sys.exit(ExitCode.VSH_FAILED if run_like else ExitCode.USAGE)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)


def _exit_with(env: Environment, command: Callable[[], Any], *, run_like: bool) -> NoReturn:
    """Run `command` and exit with its status; a VshError becomes its message and exit status."""
    from vshell.errors import VshError

    try:
        rv = command()
    except VshError as e:
        report(env, e)
        sys.exit(exit_code_for(e, run_like=run_like))
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(rv if isinstance(rv, int) else 0)
