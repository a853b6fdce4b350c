"""The `vsh` command line.

Subcommands live in their own modules and are imported only when invoked, so `vsh classify` and
`vsh run` never pay for the rules database, the keyring or mitmproxy. Errors are turned into a
message and an exit status here and only here.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from vshell.environment import Environment
from vshell.errors import ExitCode, VshError

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


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = SUBCOMMANDS.get(cmd_name)
        if entry is None:
            return None
        module = importlib.import_module(entry[0])
        cmd = getattr(module, entry[1])
        assert isinstance(cmd, click.Command)
        return cmd

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_) for name, (_, _, help_) in SUBCOMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, invoke_without_command=True,
             context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Print the decision trace (same as LOG_LEVEL=debug).")
@click.version_option(package_name="vsh", prog_name="vsh")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """vsh: a shell for agents and scripts. Every line is parsed, judged by your trust rules
    and risk tolerance, and run in the OS sandbox, with network egress only through a proxy that
    injects credentials the command never sees.

    Run `vsh` alone for an interactive session, or `vsh run -c 'LINE'` in scripts.
    State lives in $VSH_HOME (default: ~/.local/share/vsh).
    """
    env = ctx.ensure_object(Environment)
    env.debug = env.debug or debug
    if ctx.invoked_subcommand is None:
        from vshell.session import interactive

        ctx.exit(interactive(env))


def _report(env: Environment, err: VshError) -> None:
    env.warn(err.message)
    if err.hint:
        print(f"  hint: {err.hint}", file=env.stderr)
    if env.debug and err.detail:
        print(err.detail, file=env.stderr)


def main(argv: list[str] | None = None, env: Environment | None = None) -> Any:
    """Entry point: run the CLI and map every outcome to an exit status."""
    env = env or Environment()
    args = sys.argv[1:] if argv is None else argv
    run_like = bool(args) and next((a for a in args if not a.startswith("-")), "") in RUN_LIKE
    try:
        rv = cli.main(args=args, prog_name="vsh", obj=env, standalone_mode=False)
    except VshError as e:
        _report(env, e)
        code = int(e.exit_code)
        if run_like and code == ExitCode.USAGE:
            code = ExitCode.VSH_FAILED
        sys.exit(code)
    except click.exceptions.Abort:
        env.warn("aborted")
        sys.exit(130)
    except click.ClickException as e:
        e.show(file=env.stderr)
        sys.exit(ExitCode.VSH_FAILED if run_like else ExitCode.USAGE)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(rv if isinstance(rv, int) else 0)
