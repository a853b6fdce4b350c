"""The click command group behind `vsh` (vshell.cli.main runs it): subcommands are imported only
when invoked."""

from __future__ import annotations

import importlib

import click

from vshell.cli import SUBCOMMANDS
from vshell.environment import Environment


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


