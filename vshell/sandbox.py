"""From config, options and state paths to one SandboxSpec; the one switch that picks the backend;
the probe that proves the backend works before anything runs.

Fail closed: a workspace that cannot be protected, a protected name that is a symlink, a missing
bubblewrap or namespaces that cannot be created all raise, and nothing runs. There is no flag or
variable that runs a command unsandboxed (`vsh run --host` is a separate, decided path).
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import stat
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from vshell.config import Config
from vshell.environment import Environment
from vshell.errors import ConfigError, SandboxUnavailable
from vshell.protected import (
    MAX_MOUNT_PATH,
    ProtectedSymlink,
    Unprotectable,
    protected_refusal,
    scan_workspace,
)
from vshell.sandbox_spec import (
    CREDENTIAL_STORE_VARIABLES,
    CREDENTIAL_STORES,
    PROTECTED_NAMES,
    NetworkPolicy,
    SandboxSpec,
    under,
)
from vshell.state import StatePaths, atomic_write

# ---------------------------------------------------------------------------------------------------
# Environment: an allow list. Names on the deny side never pass, even when config.env_allow names
# them: a run must not widen into the caller's secrets or agents, and config cannot override that
# (use `vsh cred` for secrets: the proxy injects them, the sandbox never sees them).

ENV_ALLOW: tuple[str, ...] = (
    "PATH", "HOME", "LANG", "LANGUAGE", "TERM", "USER", "LOGNAME", "SHELL", "TZ", "COLORTERM",
    "NO_COLOR", "COLUMNS", "LINES",
)
ENV_ALLOW_PREFIXES: tuple[str, ...] = ("LC_",)

# exact name -> why it never passes
ENV_DENIED: dict[str, str] = {
    "SSH_AUTH_SOCK": "a door to the host's ssh agent",
    "GPG_AGENT_INFO": "a door to the host's gpg agent",
    "BASH_ENV": "makes every bash run a file first",
    "ENV": "makes every sh run a file first",
    "SHELLOPTS": "changes how every bash behaves",
    "BASHOPTS": "changes how every bash behaves",
    "PROMPT_COMMAND": "runs code at every prompt",
    "PS4": "can run code when tracing",
    "IFS": "changes how every shell splits words",
    "VSH_HOME": "vsh's own state is out of the sandbox's reach",
    "DBUS_SESSION_BUS_ADDRESS": "a door to the host's session bus",
    "XDG_RUNTIME_DIR": "host sockets live there",
}
ENV_DENIED_PREFIXES: dict[str, str] = {
    "LD_": "changes what every program loads",
    "DYLD_": "changes what every program loads",
    "BASH_FUNC_": "exports shell functions",
    "VSH_": "vsh's own settings",
}
# Fragments of names that look like secrets.
SECRET_FRAGMENTS: tuple[str, ...] = (
    "TOKEN", "SECRET", "PASSWORD", "PASSWD", "PASSPHRASE", "CREDENTIAL", "API_KEY", "APIKEY",
    "ACCESS_KEY", "PRIVATE_KEY", "AUTH", "COOKIE", "SESSION_KEY", "_PAT", "_KEY",
)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def env_refusal(name: str) -> str | None:
    """Why `name` may never enter the sandbox; None when it may (if allowed)."""
    if not _NAME.fullmatch(name):
        return "not a valid variable name"
    if name in ENV_DENIED:
        return ENV_DENIED[name]
    for prefix, why in ENV_DENIED_PREFIXES.items():
        if name.startswith(prefix):
            return why
    upper = name.upper()
    if any(f in upper for f in SECRET_FRAGMENTS) or upper.endswith("KEY"):
        return "looks like a secret (use `vsh cred`: the proxy injects it)"
    return None


def sandbox_env(environ: Mapping[str, str], allow: Iterable[str] = (),
                extra: Mapping[str, str] | None = None, tmpdir: str = "/tmp") -> dict[str, str]:
    """The environment inside: allow-listed names from `environ`, then `extra` (session exports,
    proxy variables) — every name through `env_refusal`, and every value taken from `environ`
    through the secret scanner: an allowed name does not make a token safe (`LC_X=ghp_…`).
    TMPDIR is the run's private temporary directory (/tmp is a private tmpfs on Linux; a fresh
    directory on macOS)."""
    from vshell.secretscan import find_secrets

    allowed = set(ENV_ALLOW) | set(allow)
    out = {k: v for k, v in environ.items()
           if (k in allowed or k.startswith(ENV_ALLOW_PREFIXES)) and env_refusal(k) is None
           and not find_secrets(v)}
    out.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    for k, v in (extra or {}).items():
        if env_refusal(k) is None:
            out[k] = v
    out["TMPDIR"] = tmpdir
    return out


# ---------------------------------------------------------------------------------------------------
# Workspace


def _real(p: Path) -> Path:
    return Path(os.path.realpath(p))


def caller_home(environ: Mapping[str, str]) -> Path:
    return _real(Path(environ.get("HOME") or Path.home()))


def resolve_workspace(env: Environment, config: Config, override: Path | str | None) -> Path:
    """The run's workspace, resolved. `override` (--workspace) wins over config, which wins over
    $VSH_HOME/workspace (created, 0700, when missing; the others must exist).

    Refused: `/`, the caller's home or any directory containing it, a hidden credential store or
    anything inside one, the state root itself, and a protected directory or anything inside one
    (a `.git` or other git directory, `.vscode`, ...: see protected_refusal).
    """
    chosen = Path(override).expanduser() if override is not None else config.workspace
    if chosen is None:
        env.paths.ensure()
        env.paths.workspace.mkdir(mode=0o700, exist_ok=True)
        chosen = env.paths.workspace
    resolved = _real(Path(os.path.abspath(chosen)))
    if not resolved.is_dir():
        raise ConfigError(f"workspace {chosen} is not a directory",
                          hint="create it, or pass --workspace DIR / set [sandbox] workspace")
    home = caller_home(env.environ)
    if resolved == Path("/") or resolved == home or resolved in home.parents:
        what = "/" if resolved == Path("/") else ("your home directory" if resolved == home
                                                  else f"a directory containing your home ({home})")
        raise ConfigError(f"refusing workspace {resolved}: it is {what}",
                          hint="use a project directory: --workspace DIR or [sandbox] workspace")
    state = _real(env.paths.root)
    default = _real(env.paths.workspace)
    if under(resolved, state) and not under(resolved, default):
        raise ConfigError(f"refusing workspace {resolved}: it is vsh's own state",
                          hint="use a project directory: --workspace DIR")
    why = _system_refusal(resolved, home, default)
    if why:
        raise ConfigError(f"refusing workspace {resolved}: {why}",
                          hint="use a project directory: --workspace DIR or [sandbox] workspace")
    for store in CREDENTIAL_STORES:
        s = _real(home / store)
        if under(resolved, s):
            raise ConfigError(f"refusing workspace {resolved}: it is inside the credential store {s}")
    why = protected_refusal(resolved, (*PROTECTED_NAMES, *config.readonly_paths))
    if why:
        raise ConfigError(f"refusing workspace {resolved}: {why}",
                          hint="use the project directory that contains it (the one holding .git) as the "
                               "workspace: --workspace DIR or [sandbox] workspace")
    return resolved


# The system's own trees: a workspace there (or containing one) would make the host writable,
# and we may be root.
SYSTEM_TREES: tuple[Path, ...] = tuple(Path(p) for p in (
    "/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/run", "/sbin",
    "/sys", "/usr", "/var/lib", "/var/log", "/var/spool", "/var/run", "/var/mail", "/var/cache",
))


def _system_refusal(workspace: Path, home: Path, default: Path) -> str | None:
    """Why `workspace` may not be one (a system tree, or a dot-directory of the home such as
    ~/.config or ~/.local whose files the host runs); None when it may. The default workspace
    under $VSH_HOME is always allowed."""
    if under(workspace, default):
        return None
    for tree in SYSTEM_TREES:
        if under(workspace, tree) or under(tree, workspace):
            return f"it is or contains the system directory {tree}"
    if home in workspace.parents:
        first = workspace.relative_to(home).parts[0]
        if first.startswith("."):
            return f"it is inside ~/{first}, where the host keeps configuration it runs"
    return None


def resolve_cwd(workspace: Path, cwd: Path | str | None) -> Path:
    """--cwd: relative to the workspace when relative; must resolve inside it."""
    if cwd is None:
        return workspace
    target = _real(workspace / Path(cwd).expanduser())
    if not under(target, workspace):
        raise ConfigError(f"--cwd {cwd} is outside the workspace {workspace}")
    if not target.is_dir():
        raise ConfigError(f"--cwd {cwd} is not a directory")
    return target


# ---------------------------------------------------------------------------------------------------
# The spec


# Host secrets outside HOME that a run started as root could otherwise read (the system is bound
# read-only, not hidden): the password hashes and the ssh host keys. Hidden on Linux when present.
SYSTEM_SECRETS: tuple[str, ...] = ("/etc/shadow", "/etc/gshadow", "/etc/shadow-", "/etc/gshadow-")
SSH_HOST_KEYS = "/etc/ssh"  # ssh_host_*_key: the private halves (the .pub files stay readable)


def system_secrets() -> list[Path]:
    """SYSTEM_SECRETS and the ssh host private keys that exist, on Linux (else none); a symlink is
    resolved (what it points to is hidden). Cheap: this runs before every run."""
    if not sys.platform.startswith("linux"):
        return []
    candidates = list(SYSTEM_SECRETS)
    with contextlib.suppress(OSError), os.scandir(SSH_HOST_KEYS) as it:
        candidates += sorted(e.path for e in it if e.name.startswith("ssh_host_") and e.name.endswith("_key"))
    out: list[Path] = []
    for p in candidates:
        try:
            st = os.lstat(p)
        except OSError:
            continue
        if stat.S_ISLNK(st.st_mode):
            real = os.path.realpath(p)
            if os.path.exists(real):
                out.append(Path(real))
        else:
            out.append(Path(p))
    return out


def account_homes(home: Path) -> list[Path]:
    """`home` ($HOME) and, when it names another directory, the account's own from the password
    database: a caller may point $HOME elsewhere, its real credential stores are still there."""
    import pwd

    homes = [home]
    with contextlib.suppress(KeyError, OSError):
        own = _real(Path(pwd.getpwuid(os.getuid()).pw_dir))
        if own != home and own != Path("/"):
            homes.append(own)
    return homes


def default_state_roots(homes: Iterable[Path], environ: Mapping[str, str]) -> list[Path]:
    """Where vsh keeps its state when $VSH_HOME is unset, for each home (and $XDG_DATA_HOME): with
    $VSH_HOME pointing elsewhere, that state (rules, vault, the proxy CA's key) is still vsh's."""
    darwin = sys.platform == "darwin"  # the defaults of vshell.runfast.state_root
    roots = [h / ("Library/Application Support/vsh" if darwin else ".local/share/vsh") for h in homes]
    xdg = environ.get("XDG_DATA_HOME")
    if xdg and not darwin:
        roots.append(Path(xdg) / "vsh")
    return roots


def git_global_configs(homes: Iterable[Path], environ: Mapping[str, str]) -> list[Path]:
    """The host's global and system git config files (those `git` would read, and the usual
    places besides: reading one too many costs nothing). What they name in the workspace (a
    relative core.hooksPath applies in every repository) is protected like a repository's own."""
    named = [environ.get(k, "") for k in ("GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM")]
    xdg = environ.get("XDG_CONFIG_HOME")
    out = [Path(p) for p in named if p]
    out += [p for h in homes for p in (h / ".gitconfig", h / ".config/git/config")]
    out += [Path(xdg) / "git/config"] if xdg else []
    return [*out, Path("/etc/gitconfig")]


def _hideable(p: Path, homes: Sequence[Path]) -> bool:
    """Whether `p` may be hidden as a credential store found by indirection (a variable, a symlink
    inside a store): never `/`, a home or anything above one (hiding those would hide everything)."""
    return p != Path("/") and not any(p == h or p in h.parents for h in homes)


def moved_stores(environ: Mapping[str, str], homes: Sequence[Path]) -> list[Path]:
    """Where the caller's environment moves credential stores (CREDENTIAL_STORE_VARIABLES, and the
    XDG base directories for the stores that live under them); absolute paths only (see _hideable)."""
    out: list[Path] = []
    for name, inside in CREDENTIAL_STORE_VARIABLES.items():
        for v in environ.get(name, "").split(":" if name == "KUBECONFIG" else "\0"):
            if v:
                out += [Path(v, s) for s in inside] if inside else [Path(v)]
    for var, prefix in (("XDG_CONFIG_HOME", ".config/"), ("XDG_DATA_HOME", ".local/share/")):
        if base := environ.get(var):
            out += [Path(base) / s[len(prefix):] for s in CREDENTIAL_STORES if s.startswith(prefix)]
    return [p for p in out if p.is_absolute() and _hideable(p, homes)]


MAX_STORE_LINKS = 256  # entries looked at per store for symlinks out of it: stores are small


def _linked_out(store: Path, homes: Sequence[Path]) -> list[Path]:
    """Targets of the symlinks inside a hidden store directory that lead out of it (~/.ssh/id_rsa ->
    ~/keys/id_rsa): hiding the store hides the link, not what it points to (see _hideable)."""
    out: list[Path] = []
    seen = 0
    for top, dirs, files in os.walk(store):
        for name in [*dirs, *files]:
            seen += 1
            p = Path(top, name)
            if p.is_symlink() and (real := _real(p)).exists() and not under(real, store) and _hideable(real, homes):
                out.append(real)
        if seen > MAX_STORE_LINKS:
            break
    return out


def hidden_paths(homes: Sequence[Path], state_root: Path, extra: Iterable[Path],
                 other_state: Iterable[Path] = ()) -> tuple[Path, ...]:
    """Credential stores under each of `homes`, other state roots of vsh and configured extras
    (with the stores the caller's environment moved, see moved_stores), resolved (a symlinked
    ~/.aws hides its target; so does a symlink inside a store: see _linked_out); this run's state
    root is carried separately in the spec. Absent ones are left out: outside the workspace nothing
    can create them (the system is read-only)."""
    out: list[Path] = []
    for p in [*(h / s for h in homes for s in CREDENTIAL_STORES), *other_state, *extra]:
        real = _real(Path(os.path.abspath(p)))
        # A dangling symlink hides nothing; its target cannot appear (read-only).
        if real.exists() and real != state_root:
            out.append(real)
            if real.is_dir():
                out += [t for t in _linked_out(real, homes) if t != state_root]
    return tuple(dict.fromkeys(out))


def build_spec(env: Environment, config: Config, *, argv: Sequence[str], workspace: Path, cwd: Path,
               network: NetworkPolicy, extra_env: Mapping[str, str] | None = None) -> SandboxSpec:
    """The spec for one run. `workspace` and `cwd` are already resolved (resolve_workspace/_cwd)."""
    home = caller_home(env.environ)
    state_root = _real(env.paths.ensure())
    homes = account_homes(home)
    other_state = default_state_roots(homes, env.environ)
    extra = (*config.hidden_paths, *moved_stores(env.environ, homes))
    hidden = tuple(dict.fromkeys([*hidden_paths(homes, state_root, extra, other_state),
                                  *system_secrets()]))
    names = (*PROTECTED_NAMES, *config.readonly_paths)
    if sys.platform.startswith("linux"):
        from vshell.pending import finish_orphans

        finish_orphans(state_root, workspace, env.warn)  # before the scan: it must not trust their leftovers
    try:
        scan = scan_workspace(workspace, names, skip=(state_root, *hidden), home=home,
                              global_configs=git_global_configs(homes, env.environ))
    except OSError as e:
        raise Unprotectable(f"cannot look through the workspace {workspace} for protected files: "
                            f"{e.strerror or e}", hint="check that the workspace is readable") from None
    deep = [p for p in scan.found if len(os.fsencode(p)) > MAX_MOUNT_PATH]
    if deep:
        raise Unprotectable(
            f"refusing to start: protected path {_abbreviate(deep[0])} is too deep to protect "
            f"({len(os.fsencode(deep[0]))} bytes; {len(deep)} such)",
            hint="move or delete it: a path that long cannot be bound read-only")
    # A pin only stops renames (what a rename lets the run create is quarantined after it anyway):
    # one too deep to mount is left out rather than refusing the run.
    pinned = [p for p in scan.pinned if len(os.fsencode(p)) <= MAX_MOUNT_PATH]
    # Directories between the workspace and a state root inside it are pinned: renaming one would
    # move $VSH_HOME away from where vsh looks for it (its rules and grants with it).
    if state_root != workspace and workspace in state_root.parents:
        d = state_root.parent
        while d != workspace:
            pinned.append(d)
            d = d.parent
    for h in hidden:
        if h == workspace:
            raise ConfigError(f"refusing workspace {workspace}: it is a hidden path")
    spec = SandboxSpec(
        argv=tuple(argv),
        cwd=cwd,
        workspace=workspace,
        home=home,
        env=sandbox_env(env.environ, config.env_allow, extra_env, tmpdir=_private_tmpdir()),
        hidden=hidden,
        protected_names=names,
        protected_paths=tuple(home / n for n in PROTECTED_NAMES if not n.endswith("/") and "/" not in n),
        network=network,
        state_root=state_root,
        protected_found=scan.found,
        # parents first: a pin bound after one inside it would hide that one's mount
        pinned=tuple(sorted(dict.fromkeys(pinned), key=lambda p: len(p.parts))),
        git_dirs=scan.git_dirs,
        watched=scan.watched,
    )
    return spec


def _abbreviate(p: Path, keep: int = 60) -> str:
    text = str(p)
    return text if len(text) <= 2 * keep + 3 else f"{text[:keep]}...{text[-keep:]}"


RUN_TMP_PREFIX = "vsh-run-"


def _private_tmpdir() -> str:
    """Linux: /tmp (a private tmpfs inside). macOS: a fresh per-run directory (the profile makes
    only it writable; the runner removes it afterwards)."""
    if sys.platform != "darwin":
        return "/tmp"
    import tempfile

    return os.path.realpath(tempfile.mkdtemp(prefix=RUN_TMP_PREFIX))


# ---------------------------------------------------------------------------------------------------
# The one backend switch


def find_bwrap() -> str:
    from vshell.bwrap.build import BWRAP_CANDIDATES

    for candidate in BWRAP_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    raise SandboxUnavailable(
        "no sandbox backend: bubblewrap is not installed",
        hint="install bubblewrap (apt install bubblewrap / dnf install bubblewrap); `vsh doctor` checks it")


@functools.lru_cache(maxsize=4)
def bwrap_can_disable_userns(bwrap: str, _mtime_ns: int = 0) -> bool:
    """Whether this bubblewrap knows --disable-userns (0.8 and later): its binary holds the option's
    name. Read, not run: a look at 100 KB costs less than starting a process on every run."""
    try:
        with open(bwrap, "rb") as f:
            return b"--disable-userns" in f.read(4 << 20)
    except OSError:
        return False


def _userns_flag(bwrap: str) -> bool:
    try:
        mtime = os.stat(bwrap).st_mtime_ns
    except OSError:
        return False
    return bwrap_can_disable_userns(bwrap, mtime)


def backend_argv(spec: SandboxSpec, *, seccomp_fd: int | None = None,
                 status_fd: int | None = None) -> list[str]:
    """THE place that picks the backend: bubblewrap on Linux, sandbox-exec on macOS.
    seccomp_fd/status_fd: see vshell.bwrap.build.build_argv (Linux only)."""
    if sys.platform == "darwin":
        from vshell.sbpl.render import build_argv as sbpl_argv

        return sbpl_argv(spec)
    if sys.platform.startswith("linux"):
        from vshell.bwrap.build import build_argv

        dirs = frozenset(p for p in [*spec.hidden, *([spec.state_root] if spec.state_root else [])]
                         if p.is_dir())
        bwrap = find_bwrap()
        return build_argv(spec, bwrap=bwrap, seccomp_fd=seccomp_fd, status_fd=status_fd, hidden_dirs=dirs,
                          disable_userns=_userns_flag(bwrap))
    raise SandboxUnavailable(f"no sandbox backend for {sys.platform}",
                             hint="vsh sandboxes on Linux (bubblewrap) and macOS (sandbox-exec)")


def check_bind_targets(spec: SandboxSpec) -> None:
    """Refuse to start when a path the backend mounts on is (now) a symlink."""
    for p in (spec.workspace, spec.cwd, *spec.pinned, *spec.protected_found):
        if p.is_symlink():
            raise ProtectedSymlink(f"refusing to start: {p} is a symlink",
                                   hint="a symlink cannot be protected; replace it with what it points to")


# ---------------------------------------------------------------------------------------------------
# The probe

_PROBE_MARK = "vsh-probe-ok"
# Part of the cached success: a probe that checks more invalidates what an older one cached.
_PROBE_VERSION = "3"  # 2: /proc/sys must not open for writing; 3: --as-pid-1
_FIX = "install bubblewrap and allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1)"


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _cache(paths: StatePaths) -> Path:
    return paths.run_dir / "probe-ok"


def probe(paths: StatePaths, *, fresh: bool = False) -> str:
    """Run the backend for real: namespaces created, pid 1 is not ours, the host's loopback is out of
    reach. Returns a one-line description; raises SandboxUnavailable with a fix hint.
    Success is cached per boot in $VSH_HOME/run (failure never is)."""
    boot = _boot_id()
    if not fresh and boot and sys.platform.startswith("linux"):
        try:
            if _cache(paths).read_text() == f"{boot} {_PROBE_VERSION}":
                return "bubblewrap works (cached for this boot)"
        except OSError:
            pass
    if sys.platform == "darwin":
        if not os.access("/usr/bin/sandbox-exec", os.X_OK):
            raise SandboxUnavailable("no sandbox backend: /usr/bin/sandbox-exec is missing")
        return "sandbox-exec present"
    bwrap = find_bwrap()
    import socket
    import subprocess

    from vshell.bwrap.build import namespace_flags, system_mounts

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        # Opening a sysctl for appending writes nothing; it must fail (run as root, owner bits alone
        # would allow it: the kernel's uid is still 0 inside the user namespace).
        script = (f"exec 3<>/dev/tcp/127.0.0.1/{port} && echo reached; "
                  "(exec 4>>/proc/sys/kernel/core_pattern) 2>/dev/null && echo sysctl-writable; "
                  f"[ -r /proc/1/cmdline ] && echo {_PROBE_MARK}")
        argv = [bwrap, *namespace_flags(_userns_flag(bwrap)), *system_mounts(),
                "--", "/bin/bash", "--noprofile", "--norc", "-c", script]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=20, env={})
        except (OSError, subprocess.TimeoutExpired) as e:
            raise SandboxUnavailable(f"the sandbox backend could not be started: {e}", hint=_FIX) from None
    finally:
        listener.close()
    if "reached" in done.stdout:
        raise SandboxUnavailable("the sandbox is not cut off from the network: a probe reached the host",
                                 hint="bubblewrap must be able to unshare the network namespace")
    if "sysctl-writable" in done.stdout:
        raise SandboxUnavailable("the sandbox could change host kernel settings: /proc/sys is writable inside",
                                 hint="this bubblewrap cannot bind /proc/sys read-only; update bubblewrap")
    if _PROBE_MARK not in done.stdout:
        err = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise SandboxUnavailable(f"the sandbox backend does not work here: {err}", hint=_FIX,
                                 detail=done.stderr)
    if boot:
        try:
            atomic_write(_cache(paths), f"{boot} {_PROBE_VERSION}".encode(), 0o600)
        except OSError:
            pass  # an uncached success only costs the next run another probe
    return f"{bwrap} creates user, pid, net, ipc, uts namespaces; host loopback unreachable"


def forget_probe(paths: StatePaths) -> None:
    """Drop the cached probe result (the backend failed after all): the next run probes again."""
    try:
        _cache(paths).unlink()
    except OSError:
        pass


def ensure_available(paths: StatePaths) -> None:
    """Raise SandboxUnavailable unless the backend works (probe, cached per boot on success)."""
    probe(paths)


def describe(spec: SandboxSpec) -> str:
    """A short description of the sandbox for `--debug` and explain."""
    return (f"workspace {spec.workspace} (rw), cwd {spec.cwd}, network {spec.network.mode}, "
            f"{len(spec.hidden) + 1} hidden, {len(spec.protected_found)} protected existing, "
            f"{len(spec.pinned)} pinned")

