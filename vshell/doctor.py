"""`vsh doctor`: is everything vsh needs in working order, and if not, how to fix it.

Each check is a function from the environment to a `Check`; `CHECKS` lists them in the order they
are shown. A check never raises: whatever goes wrong becomes its status. Statuses:
  ok    works;
  warn  works, or is not needed yet, but deserves a look (e.g. the proxy daemon is not running — runs
        start it on demand — or a part of vsh that this build does not have);
  fail  something vsh needs is broken: runs would refuse to start. `vsh doctor` then exits 1.
Checks run for real (the sandbox probe starts bubblewrap); nothing is changed except what vsh would
create on first use anyway (the state directory, the rules database).
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import click

from vshell.environment import Environment
from vshell.errors import VshError

STATUSES = ("ok", "warn", "fail")


@dataclass(frozen=True)
class Check:
    """One result. fix: what to do about it ("" when status is ok)."""

    name: str
    status: str
    detail: str
    fix: str = ""

    def line(self) -> str:
        text = f"{self.status:<5} {self.name:<10} {self.detail}"
        return f"{text} — fix: {self.fix}" if self.fix and self.status != "ok" else text


def _missing(name: str, module: str) -> Check:
    return Check(name, "warn", f"unavailable in this build ({module} is not installed)",
                 "update vsh to a build that includes it")


def _from_error(name: str, e: VshError, default_fix: str, status: str = "fail") -> Check:
    return Check(name, status, e.message, e.hint or default_fix)


def check_sandbox(env: Environment) -> Check:
    """The backend is probed by running it: binary present, namespaces usable, network cut off."""
    try:
        from vshell import sandbox
    except ImportError:
        return _missing("sandbox", "vshell.sandbox")
    try:
        env.paths.ensure()  # the probe caches its success under the root: make the root 0700 first
        detail = sandbox.probe(env.paths, fresh=True)
    except VshError as e:
        return _from_error("sandbox", e, "install bubblewrap and allow unprivileged user namespaces")
    return Check("sandbox", "ok", detail)


def check_state(env: Environment) -> Check:
    """$VSH_HOME: a directory owned by this user and closed to everyone else (0700)."""
    root = env.paths.root
    try:
        st = root.lstat()
    except FileNotFoundError:
        return Check("state", "warn", f"{root} does not exist yet",
                     "nothing to do: vsh creates it (0700) on first use")
    except OSError as e:
        return Check("state", "fail", f"{root}: {e.strerror}", f"check the permissions of {root.parent}")
    if stat.S_ISLNK(st.st_mode):
        return Check("state", "fail", f"{root} is a symbolic link", "point VSH_HOME at the real directory")
    if not stat.S_ISDIR(st.st_mode):
        return Check("state", "fail", f"{root} is not a directory", f"move {root} away; vsh recreates it")
    if st.st_uid != os.geteuid():
        return Check("state", "fail", f"{root} is owned by uid {st.st_uid}, not you ({os.geteuid()})",
                     f"chown -R {os.geteuid()} {root}")
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        return Check("state", "fail", f"{root} is open to others (mode {mode:04o})", f"chmod 700 {root}")
    open_files = [p.name for p in _state_files(root) if stat.S_IMODE(p.lstat().st_mode) & 0o077]
    if open_files:
        return Check("state", "warn", f"{root} is 0700 but some files inside are open to others: "
                     f"{', '.join(sorted(open_files))}", f"chmod -R go= {root}")
    return Check("state", "ok", f"{root} (0700, yours)")


def _state_files(root: Path) -> list[Path]:
    try:
        return [p for p in root.iterdir() if p.is_file() and not p.is_symlink()]
    except OSError:
        return []


def check_config(env: Environment) -> Check:
    from vshell.config import load_config

    path = env.paths.config
    try:
        config = load_config(path)
    except VshError as e:
        return _from_error("config", e, f"edit {path} (see DESIGN.md, Configuration)")
    if config.source is None:
        return Check("config", "ok", f"no {path.name}: defaults (auto-approve up to low risk)")
    return Check("config", "ok", f"{path} is valid (mode {config.mode})")


def check_workspace(env: Environment) -> Check:
    from vshell.config import load_config

    try:
        config = load_config(env.paths.config)
    except VshError:
        return Check("workspace", "warn", "not checked: the config does not load", "fix the config first")
    if config.workspace is None and not env.paths.workspace.exists():
        return Check("workspace", "ok", f"{env.paths.workspace} (created on first run)")
    from vshell.sandbox import resolve_workspace

    try:  # the very check `vsh run` makes, so doctor and run never disagree
        resolved = resolve_workspace(env, config, None)
    except VshError as e:
        return Check("workspace", "fail", e.message,
                     e.hint or "set [sandbox] workspace in config.toml to a project directory")
    return Check("workspace", "ok", str(resolved))


def check_parser(env: Environment) -> Check:
    try:
        from vshell.classify import classify
    except ImportError:
        return _missing("parser", "vshell.classify")
    c = classify("git status && echo ok")
    if not c.parse_ok:
        return Check("parser", "fail", "tree-sitter-bash could not parse a simple line",
                     "reinstall vsh's dependencies (tree-sitter, tree-sitter-bash)")
    return Check("parser", "ok", f"tree-sitter-bash ({len(c.actions)} actions in a test line)")


def check_rules(env: Environment) -> Check:
    try:
        from vshell.rules import RuleStore
    except ImportError:
        return _missing("rules", "vshell.rules")
    path = env.paths.rules_db
    if not os.path.lexists(path):
        return Check("rules", "ok", f"no rules database yet ({path} is created on first use)")
    try:
        with RuleStore(env.paths) as store:
            count = len(store.list())
    except VshError as e:
        return _from_error("rules", e, f"move {path} aside (decisions fail closed until then); "
                           "`vsh rules import` restores an export")
    return Check("rules", "ok", f"{path} ({count} rule{'' if count == 1 else 's'})")


def check_vault(env: Environment) -> Check:
    """Where credential values live: the system keyring when it is a real one, else the encrypted
    file (whose key file must be closed to others)."""
    try:
        from vshell.vault import keyring_refusal, open_vault
    except ImportError:
        return _missing("vault", "vshell.vault")
    try:
        vault = open_vault(env.paths, env.environ)
    except VshError as e:
        return _from_error("vault", e, "install a keyring backend, or remove a damaged vault file")
    # Checked whatever the backend: a key file left open to others is a leak even when the keyring
    # is what vsh uses now.
    for p in (env.paths.vault, env.paths.vault_key):
        if p.exists() and stat.S_IMODE(p.stat().st_mode) & 0o077:
            return Check("vault", "fail", f"{p} is open to others", f"chmod 600 {p}")
    if vault.backend_name.startswith("keyring"):
        return Check("vault", "ok", f"secrets kept in the {vault.backend_name}")
    import keyring

    why = keyring_refusal(keyring.get_keyring())
    because = f" ({why})" if why else ""
    return Check("vault", "ok", f"secrets kept in the encrypted {vault.backend_name} vault "
                 f"{env.paths.vault}{because}")


def check_proxy(env: Environment) -> Check:
    """The egress proxy: running and healthy, with its CA. Not running is a warn: runs start it."""
    try:
        from vshell.proxy import client
    except ImportError:
        return _missing("proxy", "vshell.proxy.client")
    confdir = env.paths.proxy_dir / "mitm"
    ca_key = confdir / "mitmproxy-ca.pem"
    if ca_key.exists() and stat.S_IMODE(ca_key.stat().st_mode) & 0o077:
        return Check("proxy", "fail", f"the proxy CA's private key {ca_key} is open to others",
                     f"chmod 600 {ca_key}")
    ca_note = f"CA {confdir / 'mitmproxy-ca-cert.pem'}" if ca_key.exists() else "no CA yet (made at first start)"
    st = client.status(env)
    if st is None:
        return Check("proxy", "warn", f"daemon not running; {ca_note}",
                     "nothing to do: runs start it on demand (or `vsh proxy start`)")
    try:
        info = client.DaemonInfo.from_status(st)
    except (KeyError, ValueError, TypeError):
        return Check("proxy", "fail", "the daemon answers but its status is malformed",
                     "vsh proxy stop; vsh proxy start")
    if not info.ca_bundle.is_file():
        return Check("proxy", "fail", f"daemon running (pid {info.pid}) but its CA bundle is missing "
                     f"({info.ca_bundle})", "vsh proxy stop; vsh proxy start")
    return Check("proxy", "ok", f"daemon running (pid {info.pid}, port {info.port}, {info.runs} runs); "
                 f"CA bundle {info.ca_bundle}")


def check_warm(env: Environment) -> Check:
    """The warm server that decides `vsh run` lines: informational, never a failure (runs decide
    in-process without it)."""
    from vshell.runfast import SOCKET_NAME, connect

    try:
        config = env.config()
    except VshError:
        return Check("warm", "warn", "not checked: the config does not load", "fix the config first")
    if not config.warm_server:
        return Check("warm", "ok", "switched off ([sandbox] warm_server = false): runs decide in-process")
    path = env.paths.run_dir / SOCKET_NAME
    sock = connect(str(path))
    if sock is None:
        return Check("warm", "ok", "not running; the next `vsh run` starts it (runs decide in-process meanwhile)")
    sock.close()
    try:
        pid = int((env.paths.run_dir / "warm.pid").read_text())
    except (OSError, ValueError):
        pid = 0
    return Check("warm", "ok", f"running (pid {pid}) on {path}")


CHECKS: tuple[Callable[[Environment], Check], ...] = (
    check_sandbox,
    check_state,
    check_config,
    check_workspace,
    check_parser,
    check_rules,
    check_vault,
    check_proxy,
    check_warm,
)


def run_checks(env: Environment) -> list[Check]:
    """Every check, in order. A check that blows up unexpectedly is reported as failed, not raised."""
    out: list[Check] = []
    for check in CHECKS:
        name = check.__name__.removeprefix("check_")
        try:
            out.append(check(env))
        except (OSError, VshError) as e:
            out.append(Check(name, "fail", f"the check itself failed: {e}", "run with --debug and report it"))
    return out


@click.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="One JSON object: {ok, checks: [{name, status, detail, fix}]}.")
@click.pass_context
def doctor(ctx: click.Context, as_json: bool) -> None:
    """Check that the sandbox, state, config, rules, vault and proxy work. Exits 1 when one fails."""
    env = ctx.ensure_object(Environment)
    checks = run_checks(env)
    ok = all(c.status != "fail" for c in checks)
    if as_json:
        print(json.dumps({"ok": ok, "checks": [asdict(c) for c in checks]}, indent=2), file=env.stdout)
    else:
        for c in checks:
            print(c.line(), file=env.stdout)
    env.stdout.flush()
    if not ok:
        ctx.exit(1)
