"""The bubblewrap argv builder: pure tests of the argv and the seccomp program, plus the spec's
environment allow list and workspace rules (no sandbox is started here)."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from vshell.bwrap.build import (
    ARCHES,
    RET_ALLOW,
    RET_EPERM,
    build_argv,
    seccomp_program,
)

from vshell.sandbox import env_refusal, sandbox_env
from vshell.sandbox_spec import INSIDE_FORWARDER, INSIDE_PROXY_SOCKET, NetworkPolicy, SandboxSpec

WS = Path("/home/u/proj")
HOME = Path("/home/u")


def spec(**kw: object) -> SandboxSpec:
    base: dict[str, object] = dict(argv=("echo", "hi"), cwd=WS, workspace=WS, home=HOME,
                                   env={"PATH": "/usr/bin"}, state_root=Path("/home/u/.local/share/vsh"))
    base.update(kw)
    return SandboxSpec(**base)  # type: ignore[arg-type]


def index_of(argv: list[str], *seq: str) -> int:
    for i in range(len(argv) - len(seq) + 1):
        if tuple(argv[i:i + len(seq)]) == seq:
            return i
    raise AssertionError(f"{seq} not in {argv}")


def test_namespaces_session_caps_and_exact_argv_tail() -> None:
    argv = build_argv(spec(argv=("printf", "%s\n", "a b; rm -rf /")))
    for flag in ("--unshare-user", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
                 "--unshare-cgroup-try", "--new-session", "--die-with-parent"):
        assert flag in argv
    index_of(argv, "--cap-drop", "ALL")
    assert argv[-4:] == ["--", "printf", "%s\n", "a b; rm -rf /"]
    assert argv[0] == "/usr/bin/bwrap"
    assert all(isinstance(a, str) for a in argv)


def test_system_read_only_then_private_tmp_then_workspace_rw() -> None:
    argv = build_argv(spec())
    ro = index_of(argv, "--ro-bind", "/", "/")
    tmp = index_of(argv, "--tmpfs", "/tmp")
    run = index_of(argv, "--tmpfs", "/run")
    shm = index_of(argv, "--tmpfs", "/dev/shm")
    ws = index_of(argv, "--bind", str(WS), str(WS))
    assert ro < tmp < ws and ro < run < ws and index_of(argv, "--dev", "/dev") < shm
    index_of(argv, "--proc", "/proc")
    index_of(argv, "--chdir", str(WS))


def test_user_namespaces_are_disabled_inside_unless_bwrap_cannot() -> None:
    assert "--disable-userns" in build_argv(spec())
    assert "--disable-userns" not in build_argv(spec(), disable_userns=False)


def test_environment_never_appears_in_argv() -> None:
    """Any local user can read a process's argv; the environment carries the run's proxy token. The
    caller spawns bubblewrap with exactly spec.env, which the command inherits."""
    argv = build_argv(spec(env={"PATH": "/bin", "HTTPS_PROXY": "http://vsh:tok-123@127.0.0.1:3128"}))
    assert "--setenv" not in argv and not any("tok-123" in a for a in argv)


def test_proc_kernel_knobs_are_read_only_and_debug_files_masked() -> None:
    argv = build_argv(spec())
    proc = index_of(argv, "--proc", "/proc")
    assert index_of(argv, "--ro-bind-try", "/proc/sys", "/proc/sys") > proc
    assert index_of(argv, "--ro-bind-try", "/proc/sysrq-trigger", "/proc/sysrq-trigger") > proc
    if Path("/proc/keys").exists():
        assert index_of(argv, "--ro-bind", "/dev/null", "/proc/keys") > proc


@pytest.mark.parametrize("bad", [{"A=B": "x"}, {"": "x"}, {"A": "x\0y"}])
def test_unrepresentable_environment_is_refused(bad: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        build_argv(spec(env=bad))


def test_hidden_inside_workspace_is_mounted_after_it_and_around_before_it() -> None:
    state = WS / "state"
    cred = HOME / ".ssh"
    netrc = HOME / ".netrc"
    argv = build_argv(spec(state_root=state, hidden=(cred, netrc)), hidden_dirs=frozenset({state, cred}))
    ws = index_of(argv, "--bind", str(WS), str(WS))
    assert index_of(argv, "--tmpfs", str(state), "--remount-ro", str(state)) > ws
    index_of(argv, "--tmpfs", str(cred), "--remount-ro", str(cred))
    index_of(argv, "--ro-bind", "/dev/null", str(netrc))

    # the default workspace lives inside the state root: hide first, then bind the workspace back
    root = HOME / ".local/share/vsh"
    inner_ws = root / "workspace"
    argv = build_argv(spec(workspace=inner_ws, cwd=inner_ws, state_root=root))
    assert index_of(argv, "--tmpfs", str(root)) < index_of(argv, "--bind", str(inner_ws), str(inner_ws))


def test_protected_and_pinned_come_after_the_workspace() -> None:
    hooks = WS / ".git/hooks"
    git = WS / ".git"
    argv = build_argv(spec(protected_found=(hooks,), pinned=(git,)))
    ws = index_of(argv, "--bind", str(WS), str(WS))
    assert index_of(argv, "--bind", str(git), str(git)) > ws
    assert index_of(argv, "--ro-bind", str(hooks), str(hooks)) > index_of(argv, "--bind", str(git), str(git))


def test_home_under_a_private_root_is_bound_back_read_only() -> None:
    home = Path("/tmp/fakehome")
    argv = build_argv(spec(home=home))
    assert index_of(argv, "--ro-bind-try", str(home), str(home)) > index_of(argv, "--tmpfs", "/tmp")
    plain = spec()  # a home outside the private roots is never bound back (it is already there)
    argv = build_argv(plain)
    assert not any(argv[i] == "--ro-bind-try" and argv[i + 1] == str(plain.home) for i in range(len(argv) - 1))


def test_cwd_must_be_inside_workspace_and_paths_absolute() -> None:
    with pytest.raises(ValueError):
        build_argv(spec(cwd=Path("/etc")))
    with pytest.raises(ValueError):
        build_argv(spec(workspace=Path("rel"), cwd=Path("rel")))
    with pytest.raises(ValueError):
        build_argv(spec(argv=()))


def test_proxy_mode_binds_socket_forwarder_and_ca() -> None:
    net = NetworkPolicy(mode="proxy", proxy_socket=Path("/s/p.sock"), ca_bundle=Path("/s/ca.pem"),
                        forwarder=Path("/x/forwarder.py"),
                        system_ca_paths=(Path("/etc/ssl/certs/ca-certificates.crt"),))
    argv = build_argv(spec(network=net))
    index_of(argv, "--bind", "/s/p.sock", str(INSIDE_PROXY_SOCKET))
    index_of(argv, "--ro-bind", "/x/forwarder.py", str(INSIDE_FORWARDER))
    index_of(argv, "--ro-bind", "/s/ca.pem", "/etc/ssl/certs/ca-certificates.crt")
    assert "--unshare-net" in argv  # still no network of its own
    with pytest.raises(ValueError):
        build_argv(spec(network=NetworkPolicy(mode="proxy")))
    with pytest.raises(ValueError):
        build_argv(spec(network=NetworkPolicy(mode="open")))


def test_seccomp_fd_is_passed() -> None:
    argv = build_argv(spec(), seccomp_fd=7)
    assert index_of(argv, "--seccomp", "7") < argv.index("--")
    assert "--seccomp" not in build_argv(spec())


def _run_bpf(prog: bytes, nr: int, arch: int, arg0: int, arg1: int = 0) -> int:
    """A tiny classic-BPF interpreter for the instructions the program uses."""
    data = struct.pack("<iIQ6Q", nr, arch, 0, arg0, arg1, 0, 0, 0, 0)
    insns = [struct.unpack("<HBBI", prog[i:i + 8]) for i in range(0, len(prog), 8)]
    pc, acc = 0, 0
    while True:
        code, jt, jf, k = insns[pc]
        if code == 0x20:
            acc = struct.unpack_from("<I", data, k)[0]
            pc += 1
        elif code in (0x15, 0x35):
            hit = acc == k if code == 0x15 else acc >= k
            pc += 1 + (jt if hit else jf)
        elif code == 0x06:
            return k
        else:
            raise AssertionError(f"unknown opcode {code:#x}")


@pytest.mark.parametrize("machine", sorted(ARCHES))
def test_seccomp_program_semantics(machine: str) -> None:
    prog = seccomp_program(machine)
    assert prog is not None and len(prog) % 8 == 0
    arch, nr_socket, nr_ioctl, refused = ARCHES[machine]
    assert _run_bpf(prog, nr_socket, arch, 1) == RET_EPERM  # socket(AF_UNIX)
    assert _run_bpf(prog, nr_socket, arch, 2) == RET_ALLOW  # socket(AF_INET)
    assert _run_bpf(prog, nr_socket, arch, 10) == RET_ALLOW  # AF_INET6
    assert _run_bpf(prog, nr_socket, arch, 16) == RET_ALLOW  # AF_NETLINK (its own namespace)
    # every other family: vsock (reaches the hypervisor; no netns), packet, bluetooth, alg, ...
    for family in (0, 3, 4, 5, 17, 29, 31, 38, 40, 44, 45, 0xFFFF):
        assert _run_bpf(prog, nr_socket, arch, family) == RET_EPERM, family
    assert len(refused) == 6  # io_uring (3) and the keyring calls add_key, request_key, keyctl
    for nr in refused:
        assert _run_bpf(prog, nr, arch, 0) == RET_EPERM
    for nr in (0, 1, 2, 59, 56, 57, 200, 300, 424, 428, 435):  # read, write, open, execve, clone, ...
        if nr not in refused and nr != nr_socket:
            assert _run_bpf(prog, nr, arch, 0) == RET_ALLOW, nr
    for request in (0x5412, 0x541C, 0xFFFF_FFFF_0000_5412):  # TIOCSTI, TIOCLINUX; the kernel reads 32 bits
        assert _run_bpf(prog, nr_ioctl, arch, 0, request) == RET_EPERM, hex(request)
    for request in (0x5401, 0x5413, 0x540E, 0x5411, 0x541B, 0):  # TCGETS, TIOCGWINSZ, TIOCSCTTY, ...
        assert _run_bpf(prog, nr_ioctl, arch, 0, request) == RET_ALLOW, hex(request)
    assert _run_bpf(prog, 0x40000000 + 41, arch, 1) == RET_EPERM  # x32 ABI
    assert _run_bpf(prog, 41, 0x40000003, 1) == RET_EPERM  # a foreign ABI (i386)


def test_seccomp_unknown_machine_gives_none() -> None:
    assert seccomp_program("pdp11") is None


@pytest.mark.parametrize("name", [
    "GITHUB_TOKEN", "AWS_SECRET_ACCESS_KEY", "MY_PASSWORD", "SSH_AUTH_SOCK", "LD_PRELOAD", "LD_LIBRARY_PATH",
    "BASH_ENV", "ENV", "DYLD_INSERT_LIBRARIES", "OPENAI_API_KEY", "NPM_AUTH", "VSH_HOME", "BASH_FUNC_x%%",
    "GH_PAT", "SIGNING_KEY", "DBUS_SESSION_BUS_ADDRESS",
])
def test_env_never_passes(name: str) -> None:
    assert env_refusal(name) is not None
    assert name not in sandbox_env({name: "v", "PATH": "/bin"}, allow=[name], extra={name: "v"})


def test_env_allow_list_and_configured_names() -> None:
    env = sandbox_env({"PATH": "/bin", "HOME": "/h", "LC_ALL": "C", "TERM": "xterm", "RANDOM_VAR": "x",
                       "MYVAR": "y", "PYTHONPATH": "/p"}, allow=["MYVAR"])
    assert env == {"PATH": "/bin", "HOME": "/h", "LC_ALL": "C", "TERM": "xterm", "MYVAR": "y", "TMPDIR": "/tmp"}
    assert sandbox_env({})["PATH"]
