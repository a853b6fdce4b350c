"""`vsh proxy start|stop|status`: the egress proxy daemon's lifecycle from the command line."""

from __future__ import annotations

import json

import click

from vshell.environment import Environment
from vshell.proxy import client


@click.group("proxy")
def proxy() -> None:
    """Start, stop or inspect the egress proxy daemon (one per $VSH_HOME).

    `vsh run` starts it on demand; while it is down, sandboxed requests fail (never go direct).
    """


@proxy.command("start")
@click.pass_obj
def start(env: Environment) -> None:
    """Start the daemon unless one is running."""
    info = client.ensure_daemon(env)
    click.echo(f"vsh proxy running: pid {info.pid}, 127.0.0.1:{info.port}, socket {info.socket_path}",
               file=env.stdout)


@proxy.command("stop")
@click.pass_obj
def stop(env: Environment) -> None:
    """Stop the daemon. Runs still using it lose their network."""
    if client.stop(env):
        click.echo("vsh proxy stopped", file=env.stdout)
    else:
        click.echo("vsh proxy was not running", file=env.stdout)


@proxy.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@click.pass_obj
def status(env: Environment, as_json: bool) -> int:
    """Show whether the daemon runs, where it listens, its runs and its memory. Exit 1 when down."""
    st = client.status(env)
    if as_json:
        click.echo(json.dumps(st if st is not None else {"ok": False, "running": False}), file=env.stdout)
    elif st is None:
        click.echo("vsh proxy: not running", file=env.stdout)
    else:
        click.echo(
            f"vsh proxy: running (pid {st['pid']}), 127.0.0.1:{st['port']}, socket {st['socket']}\n"
            f"  runs: {st['runs']}  rss: {st['rss_kib'] // 1024} MiB  uptime: {st['uptime']}s\n"
            f"  CA bundle: {st['ca_bundle']}",
            file=env.stdout,
        )
    return 0 if st is not None else 1
