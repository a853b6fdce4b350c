"""The click command group behind `vsh` (vshell.cli.main runs it): subcommands are imported only
when invoked."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from vshell.cli import SUBCOMMANDS
from vshell.environment import Environment
from vshell.options import CONTEXTS, Option


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
    elif kind == "path":
        kw["type"] = click.Path(path_type=Path)
    elif kind == "context":
        kw["type"] = click.Choice(CONTEXTS)
    elif kind == "seconds":
        kw["type"] = click.FloatRange(min=0, min_open=True)
    return click.option(*flags, dest, **kw)


def options_from(table: Sequence[Option]) -> Callable[[Any], Any]:
    """The click options of a table in vshell.options (the fast parser reads the same table)."""
    def decorate(f: Any) -> Any:
        for option in reversed(table):
            f = _click_option(*option)(f)
        return f
    return decorate


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


