"""`vsh cred`: store, list, show and remove credentials and their injection templates.

A value is read from a hidden prompt on the terminal or from stdin (`--value-stdin`), never from
an argument (argv is visible to every local process and lands in shell history). No command here
prints a value: output is metadata only.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

import click

from vshell.credentials import Credential, CredentialStore, HostTemplate, parse_ref
from vshell.environment import Environment
from vshell.errors import CredentialError, UsageError
from vshell.secret import Secret

# Characters a value may not hold: they would split or end the header it is injected into.
_FORBIDDEN_IN_VALUE = frozenset("\r\n\0")


def _env(ctx: click.Context) -> Environment:
    return ctx.ensure_object(Environment)


def _store(env: Environment) -> CredentialStore:
    return CredentialStore(env.paths)


def _templates(
    hosts: Sequence[str], header: str | None, prefix: str, query_param: str | None, path: str | None,
    methods: Sequence[str],
) -> list[HostTemplate]:
    if header is not None and query_param is not None:
        raise UsageError("use either --header or --query-param, not both")
    return [
        HostTemplate(host=h, header=header or "Authorization", prefix=prefix, query_param=query_param,
                     path=path, methods=tuple(methods)).validate()
        for h in hosts
    ]


def _read_value(env: Environment, from_stdin: bool) -> Secret:
    if from_stdin:
        text = env.stdin.read()
        if text.endswith("\r\n"):
            text = text[:-2]
        elif text.endswith("\n"):
            text = text[:-1]
    else:
        try:
            os.close(os.open("/dev/tty", os.O_RDWR))
        except OSError:
            raise UsageError(
                "no terminal to prompt for the value on", hint="pipe the value in with --value-stdin"
            ) from None
        text = click.prompt("Value (hidden)", hide_input=True, confirmation_prompt=True, err=True)
    if not text:
        raise UsageError("the credential value is empty")
    if any(c in _FORBIDDEN_IN_VALUE for c in text):
        raise UsageError("the credential value contains a line break or NUL (only one trailing newline is removed)")
    return Secret(text)


def _human(c: Credential) -> str:
    lines = [f"{c.ref}  {c.id}"]
    for i, t in enumerate(c.templates):
        lines.append(f"  [{i}] {t.describe()}")
    if c.allowed_domains:
        lines.append(f"  allowed domains: {', '.join(c.allowed_domains)}")
    if c.allowed_tools:
        lines.append(f"  allowed tools: {', '.join(c.allowed_tools)}")
    return "\n".join(lines)


template_options = [
    click.option("--host", "hosts", multiple=True, required=True, metavar="PATTERN",
                 help="Host pattern: 'api.example.com' or '*.example.com' (the domain and its subdomains), "
                      "optionally ':PORT'. Repeat for several hosts."),
    click.option("--header", default=None, metavar="NAME", help="Header to set (default: Authorization)."),
    click.option("--prefix", default="", metavar="TEXT", help="Text before the value, e.g. 'Bearer ' or 'Key '."),
    click.option("--query-param", default=None, metavar="NAME", help="Inject as this query parameter instead."),
    click.option("--path", default=None, metavar="GLOB",
                 help="Only paths matching GLOB ('*' within a segment, '**' across segments)."),
    click.option("--method", "methods", multiple=True, metavar="M", help="Only these HTTP methods (repeatable)."),
]


def with_template_options(f: Any) -> Any:
    for option in reversed(template_options):
        f = option(f)
    return f


@click.group()
def cred() -> None:
    """Store credentials that the egress proxy injects into matching requests.

    The command inside the sandbox never sees a value: it is added by the proxy to requests for the
    credential's hosts, over TLS only. REF is SERVICE/FIELD (e.g. fal/api_key) or the credential's UUID.
    Values are kept in the OS keyring when a real one is available, else in an encrypted file under
    $VSH_HOME (VSH_VAULT_BACKEND=file forces the file; VSH_VAULT_PASSPHRASE derives its key).
    """


@cred.command("add", short_help="Store a credential (value from a hidden prompt or --value-stdin).")
@click.argument("ref")
@with_template_options
@click.option("--value-stdin", is_flag=True, help="Read the value from stdin (one trailing newline removed).")
@click.option("--replace", is_flag=True, help="Replace the value and templates of an existing credential.")
@click.option("--allowed-domain", "allowed_domains", multiple=True, metavar="GLOB",
              help="Runs holding this credential may reach only these domains (repeatable).")
@click.option("--allowed-tool", "allowed_tools", multiple=True, type=click.Choice(["bash", "host_bash"]),
              help="Only these tools may use the credential (repeatable; default any).")
@click.pass_context
def add(
    ctx: click.Context, ref: str, hosts: tuple[str, ...], header: str | None, prefix: str, query_param: str | None,
    path: str | None, methods: tuple[str, ...], value_stdin: bool, replace: bool,
    allowed_domains: tuple[str, ...], allowed_tools: tuple[str, ...],
) -> None:
    """Store a credential: the value from a hidden prompt or --value-stdin, never an argument."""
    env = _env(ctx)
    parse_ref(ref)
    templates = _templates(hosts, header, prefix, query_param, path, methods)
    store = _store(env)
    existing = next((c for c in store.list() if c.ref == ref), None)
    if existing is not None and not replace:
        raise CredentialError(f"credential {ref!r} already exists", hint=f"vsh cred add {ref} --replace ...")
    value = _read_value(env, value_stdin)

    from vshell.vault import open_vault

    vault = open_vault(env.paths, env.environ)
    if existing is not None:
        vault.put(existing.id, value)
        c = store.add(ref, templates, allowed_domains=allowed_domains, allowed_tools=allowed_tools, replace=True)
    else:
        # Metadata first (it allocates the id and enforces write-once under its lock), then the
        # value; if the vault refuses, the metadata is rolled back so no value-less credential stays.
        c = store.add(ref, templates, allowed_domains=allowed_domains, allowed_tools=allowed_tools)
        try:
            vault.put(c.id, value)
        except BaseException:
            store.remove(c.id)
            raise
    verb = "replaced" if existing else "stored"
    print(f"{verb} {c.ref} ({c.id}) in the vault: {vault.backend_name}", file=env.stdout)
    for i, t in enumerate(c.templates):
        print(f"  [{i}] {t.describe()}", file=env.stdout)


@cred.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (metadata only).")
@click.pass_context
def list_(ctx: click.Context, as_json: bool) -> None:
    """List stored credentials (never their values)."""
    env = _env(ctx)
    creds = _store(env).list()
    if as_json:
        print(json.dumps([c.to_json() for c in creds], indent=2), file=env.stdout)
        return
    if not creds:
        print("no credentials stored (add one with: vsh cred add SERVICE/FIELD --host HOST)", file=env.stdout)
    for c in creds:
        print(_human(c), file=env.stdout)


@cred.command("show")
@click.argument("ref")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (metadata only).")
@click.pass_context
def show(ctx: click.Context, ref: str, as_json: bool) -> None:
    """Show one credential's templates and policy (never its value)."""
    env = _env(ctx)
    c = _store(env).get(ref)
    if as_json:
        print(json.dumps(c.to_json(), indent=2), file=env.stdout)
    else:
        print(_human(c), file=env.stdout)


@cred.command("rm")
@click.argument("ref")
@click.pass_context
def rm(ctx: click.Context, ref: str) -> None:
    """Remove a credential and its value."""
    env = _env(ctx)
    store = _store(env)
    c = store.get(ref)

    from vshell.vault import open_vault

    # The value goes first: if the vault cannot be changed, nothing is and the error says why.
    open_vault(env.paths, env.environ).delete(c.id)
    store.remove(c.id)
    print(f"removed {c.ref} ({c.id})", file=env.stdout)


@cred.group("template")
def template() -> None:
    """Add or remove host templates of a stored credential."""


@template.command("add")
@click.argument("ref")
@with_template_options
@click.pass_context
def template_add(
    ctx: click.Context, ref: str, hosts: tuple[str, ...], header: str | None, prefix: str,
    query_param: str | None, path: str | None, methods: tuple[str, ...],
) -> None:
    """Add one template per --host to REF (its value is unchanged)."""
    env = _env(ctx)
    store = _store(env)
    store.get(ref)
    c: Credential | None = None
    for t in _templates(hosts, header, prefix, query_param, path, methods):
        c = store.add_template(ref, t)
    assert c is not None
    print(_human(c), file=env.stdout)


@template.command("rm")
@click.argument("ref")
@click.argument("index", type=int)
@click.pass_context
def template_rm(ctx: click.Context, ref: str, index: int) -> None:
    """Remove template INDEX (as numbered by `vsh cred show`) from REF."""
    env = _env(ctx)
    c = _store(env).remove_template(ref, index)
    print(_human(c), file=env.stdout)
