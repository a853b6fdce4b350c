"""From config, options and state paths to one SandboxSpec; the one switch that picks the backend;
the probe that proves the backend works before anything runs.

Fail closed: a workspace that cannot be protected, a protected name that is a symlink, a missing
bubblewrap or namespaces that cannot be created all raise, and nothing runs. There is no flag or
variable that runs a command unsandboxed (`vsh run --host` is a separate, decided path).
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from vshell.config import Config
from vshell.environment import Environment
from vshell.errors import ConfigError, SandboxUnavailable
from vshell.sandbox_spec import CREDENTIAL_STORES, PROTECTED_NAMES, NetworkPolicy, SandboxSpec
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
    proxy variables) — every name through `env_refusal`. TMPDIR is the run's private temporary
    directory (/tmp is a private tmpfs on Linux; a fresh directory on macOS)."""
    allowed = set(ENV_ALLOW) | set(allow)
    out = {k: v for k, v in environ.items()
           if (k in allowed or k.startswith(ENV_ALLOW_PREFIXES)) and env_refusal(k) is None}
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
    anything inside one, and the state root itself.
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
    if _under(resolved, state) and not _under(resolved, default):
        raise ConfigError(f"refusing workspace {resolved}: it is vsh's own state",
                          hint="use a project directory: --workspace DIR")
    why = _system_refusal(resolved, home, default)
    if why:
        raise ConfigError(f"refusing workspace {resolved}: {why}",
                          hint="use a project directory: --workspace DIR or [sandbox] workspace")
    for store in CREDENTIAL_STORES:
        s = _real(home / store)
        if _under(resolved, s):
            raise ConfigError(f"refusing workspace {resolved}: it is inside the credential store {s}")
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
    if _under(workspace, default):
        return None
    for tree in SYSTEM_TREES:
        if _under(workspace, tree) or _under(tree, workspace):
            return f"it is or contains the system directory {tree}"
    if home in workspace.parents:
        first = workspace.relative_to(home).parts[0]
        if first.startswith("."):
            return f"it is inside ~/{first}, where the host keeps configuration it runs"
    return None


def _under(p: Path, root: Path) -> bool:
    return p == root or root in p.parents


def resolve_cwd(workspace: Path, cwd: Path | str | None) -> Path:
    """--cwd: relative to the workspace when relative; must resolve inside it."""
    if cwd is None:
        return workspace
    target = _real(workspace / Path(cwd).expanduser())
    if not _under(target, workspace):
        raise ConfigError(f"--cwd {cwd} is outside the workspace {workspace}")
    if not target.is_dir():
        raise ConfigError(f"--cwd {cwd} is not a directory")
    return target


# ---------------------------------------------------------------------------------------------------
# Protected names: found by walking the workspace.


@dataclass(frozen=True)
class Scan:
    """Existing protected paths (`found`, with their (dev, ino) in `ids`) and `.git` directories."""

    found: tuple[Path, ...]
    pinned: tuple[Path, ...]
    ids: frozenset[tuple[int, int]]


def _name_table(names: Sequence[str]) -> dict[str, tuple[tuple[str, ...], ...]]:
    """first component -> the remaining components to look for ( () = the entry itself )."""
    table: dict[str, list[tuple[str, ...]]] = {}
    for name in names:
        parts = tuple(p for p in name.strip("/").split("/") if p)
        if parts:
            table.setdefault(parts[0], []).append(parts[1:])
    # `.git` as a file is a gitdir pointer: rewriting it would hand git an attacker's hooks.
    table.setdefault(".git", []).append(())
    return {k: tuple(v) for k, v in table.items()}


MAX_MODULE_DEPTH = 16  # nested submodules and slash-separated module names, within reason


def inner_git_dirs(gitdir: Path) -> list[Path]:
    """The git directories kept inside a `.git` directory: submodules' (`modules/NAME`, NAME may
    contain slashes, and nested `modules/` inside those) and linked worktrees' (`worktrees/NAME`).
    git reads hooks and config from them, so they are protected like `.git` itself. A directory
    counts as a git directory when it holds HEAD; symlinks are not followed."""
    out: list[Path] = []
    with contextlib.suppress(OSError):
        out += [Path(e.path) for e in os.scandir(gitdir / "worktrees") if e.is_dir(follow_symlinks=False)]
    stack = [(gitdir / "modules", 0)]
    while stack:
        d, depth = stack.pop()
        if depth > MAX_MODULE_DEPTH:
            continue
        try:
            entries = [e for e in os.scandir(d) if e.is_dir(follow_symlinks=False)]
        except OSError:
            continue
        for e in entries:
            sub = Path(e.path)
            if os.path.lexists(sub / "HEAD"):
                out.append(sub)
                stack.append((sub / "modules", depth + 1))
            else:
                stack.append((sub, depth + 1))
    return out


class ProtectedSymlink(SandboxUnavailable):
    """A protected path is a symlink: it cannot be mounted over safely, so the run does not start."""


def scan_workspace(workspace: Path, names: Sequence[str]) -> Scan:
    """Walk the workspace (symlinks not followed) for protected names at any depth.

    `.git` directories are pinned (bound onto themselves) and their protected children collected;
    a `.git` file is protected itself. A protected path that is a symlink raises ProtectedSymlink.
    """
    table = _name_table(names)
    found: list[Path] = []
    pinned: list[Path] = []
    ids: set[tuple[int, int]] = set()

    def take(p: Path) -> None:
        try:
            st = p.lstat()
        except (FileNotFoundError, NotADirectoryError):
            return
        if p.is_symlink():
            raise ProtectedSymlink(
                f"refusing to start: protected path {p} is a symlink",
                hint="replace the symlink with the file it points to (a symlink cannot be protected)")
        found.append(p)
        ids.add((st.st_dev, st.st_ino))

    stack = [workspace]
    while stack:
        d = stack.pop()
        try:
            entries = list(os.scandir(d))
        except (PermissionError, FileNotFoundError, NotADirectoryError):
            continue
        for e in entries:
            rests = table.get(e.name)
            is_dir = e.is_dir(follow_symlinks=False)
            if rests is not None:
                path = Path(e.path)
                if e.name == ".git" and is_dir:
                    pinned.append(path)
                    for gitdir in (path, *inner_git_dirs(path)):
                        for rest in rests:
                            if rest:
                                take(gitdir.joinpath(*rest))
                    continue  # nothing else inside .git is protected by name
                for rest in rests:
                    take(path.joinpath(*rest) if rest else path)
                if () in rests:
                    continue  # protected as a whole: its inside cannot change
            if is_dir:
                stack.append(Path(e.path))
    return Scan(tuple(found), tuple(pinned), frozenset(ids))


def _owner_access(d: Path) -> None:
    """Give the owner (us: the run's files are ours) read, write and search on directory `d`."""
    mode = d.lstat().st_mode
    os.chmod(d, (mode & 0o7777) | 0o700)


def quarantine_new_protected(workspace: Path, names: Sequence[str], before: Scan, state_root: Path,
                             run_id: str) -> list[tuple[Path, Path | None]]:
    """After a run: move every protected path that appeared during it out of the workspace.

    Existing protected paths were mounted read-only, so they kept their (dev, ino); anything with a
    protected name and a new identity was created inside the sandbox (a fresh `.envrc`, a
    `.vscode/tasks.json` in a new directory, a `.git/hooks` after `mv .git .g`). Host tools must
    never see it, so it goes to $VSH_HOME/quarantine/RUN_ID/ (kept for the person to inspect).
    Returns (from, to) pairs; `to` is None when the move failed (the caller must say so loudly).
    """
    table = _name_table(names)
    moved: list[tuple[Path, Path | None]] = []
    target_root = state_root / "quarantine" / run_id

    def check(p: Path) -> None:
        try:
            st = p.lstat()
        except (FileNotFoundError, NotADirectoryError):
            return
        if (st.st_dev, st.st_ino) in before.ids:
            return
        dest = target_root / p.relative_to(workspace)
        try:
            dest.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            try:
                os.rename(p, dest)
            except PermissionError:
                _owner_access(p.parent)  # the run may have made the directory read-only
                os.rename(p, dest)
            except OSError:
                import shutil

                shutil.move(str(p), str(dest))
        except OSError:
            moved.append((p, None))
            return
        moved.append((p, dest))

    stack = [workspace]
    while stack:
        d = stack.pop()
        try:
            entries = list(os.scandir(d))
        except PermissionError:
            # the run may have closed a directory to us (chmod 000) to hide what it planted in it
            try:
                _owner_access(d)
                entries = list(os.scandir(d))
            except OSError:
                moved.append((d, None))
                continue
        except (FileNotFoundError, NotADirectoryError):
            continue
        for e in entries:
            path = Path(e.path)
            if _under(path, state_root):
                continue
            rests = table.get(e.name)
            is_dir = e.is_dir(follow_symlinks=False)
            if rests is not None:
                if e.name == ".git" and is_dir:
                    for gitdir in (path, *inner_git_dirs(path)):
                        for rest in rests:
                            if rest:
                                check(gitdir.joinpath(*rest))
                    continue
                for rest in rests:
                    check(path.joinpath(*rest) if rest else path)
                if () in rests or not path.exists():
                    continue
            if is_dir:
                stack.append(path)
    return moved


# ---------------------------------------------------------------------------------------------------
# The spec


def hidden_paths(home: Path, state_root: Path, extra: Iterable[Path]) -> tuple[Path, ...]:
    """Credential stores under `home` and configured extras, resolved (a symlinked ~/.aws hides its
    target); the state root is carried separately in the spec. Absent ones are left out: outside
    the workspace nothing can create them (the system is read-only)."""
    out: list[Path] = []
    for p in [*(home / s for s in CREDENTIAL_STORES), *extra]:
        real = _real(Path(os.path.abspath(p)))
        if real.exists():  # a dangling symlink hides nothing; its target cannot appear (read-only)
            out.append(real)
    return tuple(dict.fromkeys(out))


def build_spec(env: Environment, config: Config, *, argv: Sequence[str], workspace: Path, cwd: Path,
               network: NetworkPolicy, extra_env: Mapping[str, str] | None = None) -> SandboxSpec:
    """The spec for one run. `workspace` and `cwd` are already resolved (resolve_workspace/_cwd)."""
    home = caller_home(env.environ)
    state_root = _real(env.paths.ensure())
    hidden = hidden_paths(home, state_root, config.hidden_paths)
    names = (*PROTECTED_NAMES, *config.readonly_paths)
    scan = scan_workspace(workspace, names)
    pinned = list(scan.pinned)
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
        pinned=tuple(dict.fromkeys(pinned)),
    )
    return spec


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
        return build_argv(spec, bwrap=find_bwrap(), seccomp_fd=seccomp_fd, status_fd=status_fd,
                          hidden_dirs=dirs)
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
_PROBE_VERSION = "2"  # 2: /proc/sys must not open for writing
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

    from vshell.bwrap.build import NAMESPACE_FLAGS, system_mounts

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
        argv = [bwrap, *NAMESPACE_FLAGS, *system_mounts(),
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

