"""`vsh explain`: everything about one decision, for a person.

The parsed actions and why each got its risk, the rules consulted in order and why each did or did
not apply, the sandbox that would run the line, and the credentials and network policy it would get.
Nothing runs, nothing prompts and no state is written (except creating $VSH_HOME when missing).
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any

import click

from vshell.config import CONTEXTS
from vshell.environment import Environment
from vshell.errors import UsageError, VshError

EPILOG = """\b
Examples:
  vsh explain -- 'cd /repo && gh pr view 5525 --json title'
  vsh explain --context headless --cred fal/api_key -- 'curl -s https://api.fal.run/v1/models'
  vsh explain --json -- 'find . -name "*.tmp" -delete'
"""


def _section(out: Any, title: str) -> None:
    print(f"\n{title}", file=out)
    print("-" * len(title), file=out)


@click.command(epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--context", type=click.Choice(CONTEXTS), default=None,
              help="Decide as in this context (default: conversation on a terminal, else headless).")
@click.option("--host", is_flag=True, help="Explain a --host run (tool host_bash, no sandbox).")
@click.option("--cwd", type=click.Path(path_type=Path), default=None,
              help="Directory the line would start in (default: the workspace).")
@click.option("--workspace", type=click.Path(path_type=Path), default=None,
              help="Workspace the run would get (default: config, else $VSH_HOME/workspace).")
@click.option("--cred", "creds", multiple=True, metavar="REF",
              help="A credential the run would name (service/field or UUID); repeatable.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead.")
@click.argument("line", nargs=-1)
@click.pass_context
def explain(ctx: click.Context, context: str | None, host: bool, cwd: Path | None, workspace: Path | None,
            creds: tuple[str, ...], as_json: bool, line: tuple[str, ...]) -> None:
    """Explain everything about one decision, without running anything."""
    env = ctx.ensure_object(Environment)
    if not line:
        raise UsageError("nothing to explain: give the line after --, e.g. vsh explain -- 'git status'")
    text = line[0] if len(line) == 1 else shlex.join(line)
    if not text.strip():
        raise UsageError("the line is empty")

    from vshell.approval import default_context, evaluate
    from vshell.classify import classify, render_human
    from vshell.sandbox import resolve_cwd, resolve_workspace

    config = env.config()
    ctx_name = context or default_context(env)
    ws = resolve_workspace(env, config, workspace)
    directory = resolve_cwd(ws, cwd)
    c = classify(text, tree=True)
    d = evaluate(env, text, tool="host_bash" if host else "bash", context=ctx_name, cwd=directory,
                 workspace=ws, config=config)
    sandbox = _sandbox(env, config, text, ws, directory, host)
    network = _network(env, config, creds, host)

    if as_json:
        doc = {"classification": c.to_json(), "decision": d.to_json(), "sandbox": sandbox, "network": network}
        json.dump(doc, env.stdout, indent=2)
        print(file=env.stdout)
        return

    from vshell.display import visible

    out = env.stdout
    print(f"line: {visible(text)}", file=out)
    _section(out, "Parse tree")
    print(c.tree.rstrip() or "(empty)", file=out)
    _section(out, "Actions and risk")
    print(render_human(c).rstrip(), file=out)
    _section(out, f"Decision: {d.decision} (context {ctx_name}, {'host' if host else 'sandbox'}, mode {d.mode})")
    for a in d.actions:
        print(a.line, file=out)
        for why in a.barred:
            print(f"    rules cannot allow it: {why}", file=out)
        if not a.consulted:
            print("    rules consulted: none matched its program", file=out)
        for v in a.consulted:
            mark = "applies" if v.applies else "does not apply"
            print(f"    rule #{v.rule.id} {v.rule.decision} `{visible(v.rule.pattern)}` "
                  f"(priority {v.rule.priority}): {mark}: {v.why}", file=out)
    if d.suggested_rule and d.decision != "allow":
        print(f"to allow it: {visible(d.suggested_rule)}", file=out)
    _section(out, "Sandbox")
    for key, value in sandbox.items():
        print(f"{key}: {_fmt(value)}", file=out)
    _section(out, "Network and credentials")
    for key, value in network.items():
        print(f"{key}: {_fmt(value)}", file=out)


def _fmt(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) if value else "(none)"
    return str(value)


def _sandbox(env: Environment, config: Any, text: str, ws: Path, directory: Path, host: bool) -> dict[str, Any]:
    if host:
        return {"backend": "none: --host runs on the host, unsandboxed, only after a rule or a person allows it",
                "cwd": str(directory)}
    from vshell.sandbox import build_spec
    from vshell.sandbox_spec import NetworkPolicy

    spec = build_spec(env, config, argv=("bash", "-c", text), workspace=ws, cwd=directory,
                      network=NetworkPolicy(mode="proxy"))
    backend = "sandbox-exec (SBPL profile from sbpl/)" if sys.platform == "darwin" else "bubblewrap (bwrap/)"
    return {
        "backend": backend,
        "workspace (the only writable tree, with a private /tmp)": str(spec.workspace),
        "cwd": str(spec.cwd),
        "hidden (neither readable nor writable)": [f"{spec.state_root} (vsh state)", *map(str, spec.hidden)],
        "protected at any depth (read-only)": list(spec.protected_names),
        "protected paths present now": [str(p) for p in spec.protected_found],
        "environment passed in": sorted(spec.env),
    }


def _network(env: Environment, config: Any, refs: tuple[str, ...], host: bool) -> dict[str, Any]:
    if host:
        return {"egress": "the host's own network (no proxy, no credential injection)"}
    info: dict[str, Any] = {
        "egress": "only through vsh's proxy (the sandbox has no network of its own)",
        "allowed domains": list(config.allowed_domains),
        "denied domains (win over allowed)": list(config.denied_domains),
        "private, loopback, link-local and metadata addresses": "refused unless pinned by [proxy] resolve",
        "pinned hosts ([proxy] resolve)": [f"{h} -> {a}:{p}" for h, (a, p) in sorted(config.resolve.items())],
        "TLS": "intercepted only for hosts a named credential may inject into; other hosts are tunnelled",
    }
    if not refs:
        info["credentials"] = "none named (--cred REF): nothing is injected"
        return info
    from vshell.credentials import CredentialStore

    try:
        creds = CredentialStore(env.paths).resolve(list(refs))
    except VshError as e:
        info["credentials"] = f"error: {e.message} (vsh run would exit 125 before running)"
        return info
    info["credentials"] = [
        f"{c.ref} ({c.id}): " + "; ".join(t.describe() for t in c.templates) for c in creds
    ]
    info["injection"] = ("only over TLS, when CONNECT target, TLS server name and Host agree; any credential "
                         "header the client sent is removed first; two credentials matching one host block "
                         "the request (403)")
    return info
