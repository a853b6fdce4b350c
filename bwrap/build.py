"""The Linux backend: a SandboxSpec turned into a bubblewrap argv (a list, end to end, never a string).

Pure but for one look at which /proc files this kernel has: nothing here touches the disk or the
environment; vshell.sandbox.build_spec has already walked
the workspace, resolved symlinks and refused what cannot be protected.

Mount order is the security argument, later mounts shadow earlier ones:

1. the whole system read-only (`--ro-bind / /`), a fresh /dev and /proc (this pid namespace only),
   with the kernel's knobs in /proc read-only and its debugging files masked (PROC_READ_ONLY,
   PROC_MASKED). bubblewrap covers /proc/sys only when it is writable by access(2), which it never
   claims to be; yet sysctl files are checked by owner bits against the *kernel* uid, so a run
   started by root (kernel uid 0 inside its user namespace too) could otherwise set
   kernel.core_pattern and have the kernel run a workspace script as host root;
2. private tmpfs over /tmp, /var/tmp, /dev/shm and /run: host unix sockets live there (docker,
   dbus, agents) and a read-only mount does not stop connect(2) on a socket file;
   HOME is bound back read-only when it lived under one of those roots;
3. hidden trees that contain the workspace (the default workspace lives in $VSH_HOME);
4. the workspace, read-write; then `pinned` directories bound onto themselves (a mount point cannot
   be renamed: `mv .git .g` fails with EBUSY) and every existing protected path bound read-only
   onto itself (so neither written, replaced, renamed nor removed);
5. every other hidden path: an empty read-only tmpfs over a directory, /dev/null over a file, so
   $VSH_HOME inside the workspace is hidden too;
6. the proxy's pieces under /run/vsh when the network mode is "proxy".

Protected names that do not exist when the run starts cannot be mounted over without creating
files in the user's workspace; the runner closes that class after the run instead (see
vshell.protected.quarantine_new_protected).
"""

from __future__ import annotations

import os
import platform
import struct
from collections.abc import Iterable
from pathlib import Path

from vshell.sandbox_spec import (
    INSIDE_CA_BUNDLE,
    INSIDE_PROXY_SOCKET,
    INSIDE_RUN_DIR,
    SandboxSpec,
    inside_forwarder,
    under,
)

# Only these binaries: a `bwrap` found through PATH could be anyone's, and no variable may pick it.
BWRAP_CANDIDATES: tuple[str, ...] = ("/usr/bin/bwrap", "/bin/bwrap", "/usr/local/bin/bwrap")

NAMESPACE_FLAGS: tuple[str, ...] = (
    "--unshare-user",
    "--unshare-pid",
    "--unshare-net",
    "--unshare-ipc",
    "--unshare-uts",
    "--unshare-cgroup-try",
    "--new-session",  # setsid(): no controlling terminal, so TIOCSTI cannot type into ours
    "--die-with-parent",
    # No bubblewrap init inside: it would be the one process there outside the seccomp filter, of
    # the command's uid and dumpable, so the command could rewrite its code through /proc/1/mem and
    # run unfiltered. pid 1 is vsh's non-dumpable forwarder (proxy mode) or the command itself.
    "--as-pid-1",
    "--cap-drop",
    "ALL",
    "--hostname",
    "vsh",
)

# /proc entries that change the host kernel when written, bound read-only onto themselves; and entries
# that only show host kernel state, covered with /dev/null (a file) or an empty read-only tmpfs.
PROC_READ_ONLY: tuple[str, ...] = (
    "/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus", "/proc/fs", "/proc/acpi", "/proc/scsi",
    "/proc/asound", "/proc/latency_stats", "/proc/driver",
)
PROC_MASKED_FILES: tuple[str, ...] = ("/proc/kcore", "/proc/keys", "/proc/key-users", "/proc/timer_list",
                                      "/proc/sched_debug", "/proc/kallsyms", "/proc/kmsg")

# Roots replaced by a private tmpfs (host sockets and scratch space live there).
PRIVATE_ROOTS: tuple[Path, ...] = (Path("/tmp"), Path("/var/tmp"), Path("/run"))


def _hide(path: Path, is_dir: bool) -> list[str]:
    if is_dir:
        return ["--tmpfs", str(path), "--remount-ro", str(path)]
    return ["--ro-bind", "/dev/null", str(path)]


def _pairs(flag: str, paths: Iterable[Path]) -> list[str]:
    out: list[str] = []
    for p in paths:
        out += [flag, str(p), str(p)]
    return out


def namespace_flags(disable_userns: bool) -> list[str]:
    """Every namespace unshared, and with `disable_userns` none creatable inside (a nested user
    namespace hands out a full set of capabilities over new mounts and network stacks: kernel attack
    surface a command never needs; bubblewrap 0.8 and later only)."""
    return [*NAMESPACE_FLAGS, *(["--disable-userns"] if disable_userns else [])]


def system_mounts() -> list[str]:
    """Step 1: the system read-only, a fresh /dev, this pid namespace's /proc with the host kernel's
    knobs read-only and its debugging files masked (vshell.sandbox.probe checks it with these)."""
    argv = ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    for path in PROC_READ_ONLY:
        argv += ["--ro-bind-try", path, path]
    for path in PROC_MASKED_FILES:
        # A file cannot be created in procfs: cover only what this kernel has (the sandbox's /proc
        # shows the same global entries as the host's). The one look at the disk in this module.
        if os.path.exists(path):
            argv += ["--ro-bind", "/dev/null", path]
    return argv


def mounts(spec: SandboxSpec, hidden_dirs: frozenset[Path]) -> list[str]:
    """The filesystem part of the argv, in the order described in the module docstring.

    `hidden_dirs` says which hidden paths are directories (the rest are files); build_spec knows.
    """
    argv = system_mounts()
    for root in PRIVATE_ROOTS:
        argv += ["--tmpfs", str(root)]
    argv += ["--tmpfs", "/dev/shm"]
    if any(under(spec.home, r) for r in PRIVATE_ROOTS) and not under(spec.home, spec.workspace):
        argv += ["--ro-bind-try", str(spec.home), str(spec.home)]

    hidden = list(dict.fromkeys([*spec.hidden, *([spec.state_root] if spec.state_root else [])]))
    around = [h for h in hidden if under(spec.workspace, h)]
    inner = [h for h in hidden if h not in around]
    for h in around:
        argv += ["--tmpfs", str(h)]
    argv += ["--bind", str(spec.workspace), str(spec.workspace)]
    for h in around:  # read-only only now: the workspace's mount point had to be made in it first
        argv += ["--remount-ro", str(h)]
    argv += _pairs("--bind", spec.pinned)
    argv += _pairs("--ro-bind", spec.protected_found)
    for h in inner:
        argv += _hide(h, h in hidden_dirs)
    argv += network_mounts(spec)
    return argv


def network_mounts(spec: SandboxSpec) -> list[str]:
    policy = spec.network
    if policy.mode == "none":
        return []
    if policy.mode != "proxy":
        raise ValueError(f"unknown network mode {policy.mode!r}")
    if policy.proxy_socket is None or policy.forwarder is None:
        raise ValueError("network mode 'proxy' needs the proxy socket and the forwarder")
    argv = ["--dir", str(INSIDE_RUN_DIR),
            "--bind", str(policy.proxy_socket), str(INSIDE_PROXY_SOCKET),
            "--ro-bind", str(policy.forwarder), str(inside_forwarder(policy.forwarder))]
    if policy.ca_bundle is not None:
        argv += ["--ro-bind", str(policy.ca_bundle), str(INSIDE_CA_BUNDLE)]
        for system in policy.system_ca_paths:
            argv += ["--ro-bind", str(policy.ca_bundle), str(system)]
    return argv


def build_argv(
    spec: SandboxSpec,
    *,
    bwrap: str = BWRAP_CANDIDATES[0],
    seccomp_fd: int | None = None,
    status_fd: int | None = None,
    hidden_dirs: frozenset[Path] | None = None,
    disable_userns: bool = True,
) -> list[str]:
    """The complete bwrap command line for `spec`.

    disable_userns: see namespace_flags; the caller says whether this bubblewrap can.

    seccomp_fd: an fd (inherited by bwrap) holding `seccomp_program()`; None adds no filter.
    status_fd: an fd bwrap writes JSON status to (`child-pid` once the sandbox is set up): lets the
      runner tell "the sandbox failed to start" from "the command exited 1".
    hidden_dirs: which hidden paths are directories; None treats every hidden path as one.
    """
    if not spec.argv:
        raise ValueError("nothing to run: empty argv")
    for name, p in (("workspace", spec.workspace), ("cwd", spec.cwd), ("home", spec.home)):
        if not p.is_absolute():
            raise ValueError(f"{name} must be absolute: {p}")
    if not under(spec.cwd, spec.workspace):
        raise ValueError(f"cwd {spec.cwd} is outside the workspace {spec.workspace}")
    dirs = hidden_dirs if hidden_dirs is not None else frozenset(
        [*spec.hidden, *([spec.state_root] if spec.state_root else [])])
    # The environment is bubblewrap's own (the caller spawns it with exactly spec.env), never
    # `--setenv` arguments: every local user can read a process's argv, and the environment holds
    # the run's proxy token.
    for key, value in spec.env.items():
        if not key or "=" in key or "\0" in key or "\0" in value:
            raise ValueError(f"environment name or value not representable: {key!r}")
    argv = [bwrap, *namespace_flags(disable_userns), *mounts(spec, dirs), "--chdir", str(spec.cwd)]
    if seccomp_fd is not None:
        argv += ["--seccomp", str(seccomp_fd)]
    if status_fd is not None:
        argv += ["--json-status-fd", str(status_fd)]
    return [*argv, "--", *spec.argv]


# ---------------------------------------------------------------------------------------------------
# seccomp: a classic-BPF program built by hand (no libseccomp needed), passed to `bwrap --seccomp FD`.
# socket(2) is allowed only for the families ALLOWED_FAMILIES: AF_UNIX is refused (host unix sockets
# reachable through the read-only system would otherwise be a way out: connect(2) ignores read-only
# mounts), and so is every family a network namespace does not confine (AF_VSOCK reaches the
# hypervisor, and the rest have no business in a sandbox: packet, bluetooth, alg, can, ...). io_uring
# is refused: its operations bypass syscall filtering. socketpair(2) stays allowed: it connects nowhere.

AF_UNIX = 1
AF_INET = 2
AF_INET6 = 10
AF_NETLINK = 16  # the sandbox's own network namespace (getaddrinfo, getifaddrs)
ALLOWED_FAMILIES = (AF_INET, AF_INET6, AF_NETLINK)
EPERM = 1
_LD_ABS_W = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JGE_K = 0x35  # BPF_JMP | BPF_JGE | BPF_K
_RET_K = 0x06  # BPF_RET | BPF_K
RET_ALLOW = 0x7FFF0000
RET_EPERM = 0x00050000 | EPERM
X32_SYSCALL_BIT = 0x40000000

# machine -> (AUDIT_ARCH, socket nr, ioctl nr, refused nrs: io_uring_setup/enter/register, add_key,
# request_key, keyctl). Kernel keyrings are not namespaced: the caller's session keyring (Kerberos
# tickets, fscrypt keys) would be readable and writable from inside.
ARCHES: dict[str, tuple[int, int, int, tuple[int, ...]]] = {
    "x86_64": (0xC000003E, 41, 16, (425, 426, 427, 248, 249, 250)),
    "aarch64": (0xC00000B7, 198, 29, (425, 426, 427, 217, 218, 219)),
}
# ioctl requests refused whatever the descriptor: TIOCSTI types into a terminal's input queue and
# TIOCLINUX can paste into a console. --new-session leaves the command no controlling terminal, but
# one started on a terminal that is nobody's can make it its own (setsid, TIOCSCTTY) and type into
# it, for whoever reads that terminal next.
REFUSED_IOCTLS: tuple[int, ...] = (0x5412, 0x541C)


def _insn(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("<HBBI", code, jt, jf, k)


def seccomp_program(machine: str | None = None) -> bytes | None:
    """The filter as `struct sock_filter[]` bytes; None on an architecture we have no table for.

    Syscalls of a foreign ABI (i386 on x86_64, x32) are refused outright: their numbers differ.
    """
    arch = ARCHES.get(machine or platform.machine())
    if arch is None:
        return None
    audit_arch, nr_socket, nr_ioctl, refused = arch
    # Layout (jump offsets count from the next instruction; BPF jumps only forward):
    #   0-3   arch check (a foreign ABI is refused outright), load nr
    #   4     x32 -> deny;  5: socket -> family check;  6: ioctl -> request check;
    #   then one test per refused nr -> deny;  then allow
    #   family check: load args[0], one test per allowed family -> allow;  deny;  allow
    #   request check: load args[1], one test per refused request -> its own deny;  allow;  deny
    family_at = 8 + len(refused)
    deny = family_at + 1 + len(ALLOWED_FAMILIES)
    allow = deny + 1
    ioctl_at = allow + 1
    prog = [
        _insn(_LD_ABS_W, 4),  # arch
        _insn(_JEQ_K, audit_arch, 1, 0),  # native -> load nr
        _insn(_RET_K, RET_EPERM),
        _insn(_LD_ABS_W, 0),  # nr
        _insn(_JGE_K, X32_SYSCALL_BIT, deny - 5, 0),
        _insn(_JEQ_K, nr_socket, family_at - 6, 0),
        _insn(_JEQ_K, nr_ioctl, ioctl_at - 7, 0),
        *(_insn(_JEQ_K, nr, deny - (8 + i), 0) for i, nr in enumerate(refused)),
        _insn(_RET_K, RET_ALLOW),
        _insn(_LD_ABS_W, 16),  # args[0] (the domain), low 32 bits (little-endian)
        *(_insn(_JEQ_K, family, allow - (family_at + 2 + i), 0) for i, family in enumerate(ALLOWED_FAMILIES)),
        _insn(_RET_K, RET_EPERM),  # deny
        _insn(_RET_K, RET_ALLOW),  # allow
        # args[1] (the request), low 32 bits: the kernel reads it as an unsigned int
        _insn(_LD_ABS_W, 24),
        *(_insn(_JEQ_K, cmd, len(REFUSED_IOCTLS) - i, 0) for i, cmd in enumerate(REFUSED_IOCTLS)),
        _insn(_RET_K, RET_ALLOW),
        _insn(_RET_K, RET_EPERM),
    ]
    assert len(prog) == ioctl_at + 3 + len(REFUSED_IOCTLS)
    return b"".join(prog)
