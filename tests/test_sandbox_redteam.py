"""Every case of shared/redteam-public/sandbox.md, run in the REAL bubblewrap sandbox, with the host
checked afterwards. A fake HOME is seeded with credential files and shell start-up files.

Runs go through the real `vsh run` (config auto-approves everything: these tests attack the
sandbox, not the rules).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REDTEAM, SandboxBox, needs_bwrap, stop_warm, vsh_env

pytestmark = [needs_bwrap, pytest.mark.sandbox]

SECRETS = {
    ".ssh/id_rsa": "-----BEGIN OPENSSH PRIVATE KEY----- SECRET-SSH-KEY",
    ".aws/credentials": "[default]\naws_secret_access_key = SECRET-AWS",
    ".netrc": "machine example.com login me password SECRET-NETRC",
    ".git-credentials": "https://me:SECRET-GITCRED@github.com",
    ".config/gh/hosts.yml": "github.com:\n  oauth_token: SECRET-GH",
    ".docker/config.json": '{"auths": {"x": {"auth": "SECRET-DOCKER"}}}',
    ".kube/config": "token: SECRET-KUBE",
    ".npmrc": "//registry.npmjs.org/:_authToken=SECRET-NPM",
    ".pypirc": "password = SECRET-PYPI",
    ".gnupg/private.key": "SECRET-GPG",
    ".config/git/credentials": "https://me:SECRET-XDG-GITCRED@github.com",
    ".cargo/credentials.toml": '[registry]\ntoken = "SECRET-CARGO"',
    ".vault-token": "SECRET-VAULT",
    ".pgpass": "db:5432:*:me:SECRET-PG",
    ".password-store/github.gpg": "SECRET-PASS",
    ".bash_history": "export TOKEN=SECRET-HISTORY",
    ".config/containers/auth.json": '{"auths": {"x": {"auth": "SECRET-PODMAN"}}}',
    ".m2/settings.xml": "<password>SECRET-MAVEN</password>",
    ".gradle/gradle.properties": "signing.password=SECRET-GRADLE",
    ".cache/huggingface/token": "SECRET-HF",
    ".claude/.credentials.json": '{"accessToken": "SECRET-CLAUDE"}',
    ".codex/auth.json": '{"token": "SECRET-CODEX"}',
    ".config/sops/age/keys.txt": "AGE-SECRET-KEY-SECRET-SOPS",
    ".pulumi/credentials.json": '{"accessToken": "SECRET-PULUMI"}',
    ".Xauthority": "SECRET-XAUTH",
    ".mozilla/firefox/p/logins.json": "SECRET-FIREFOX",
    ".local/share/fish/fish_history": "- cmd: export TOKEN=SECRET-FISH",
    ".zhistory": "export TOKEN=SECRET-ZHIST",
}
STARTUP = {".bashrc": "# user bashrc\n"}


Box = SandboxBox


def make_box(tmp_path: Path, vsh_home: Path, *, workspace: Path | None = None,
             config: str = "", home: Path | None = None) -> Box:
    if home is None:
        home = tmp_path / "home"
        for rel, text in {**SECRETS, **STARTUP}.items():
            p = home / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text)
    ws = workspace or tmp_path / "ws"
    ws.mkdir(parents=True, exist_ok=True)
    vsh_home.mkdir(mode=0o700, parents=True, exist_ok=True)
    (vsh_home / "config.toml").write_text('[approval]\nauto_approve_up_to = "high"\n' + config)
    environ = vsh_env(vsh_home, HOME=str(home))
    b = Box(home, ws, vsh_home, environ)
    _MADE.append(b)
    return b


_MADE: list[Box] = []


def _stop(boxes: list[Box]) -> None:
    if importlib.util.find_spec("vshell.proxy.client") is None:
        return
    from vshell.proxy import client

    from vshell.environment import Environment

    for b in boxes:
        client.stop(Environment(environ=b.environ))
        stop_warm(b.vsh_home)


@pytest.fixture(autouse=True)
def _stop_proxies() -> Iterator[None]:
    """Runs start the egress proxy daemon of their $VSH_HOME: stop it when the test ends (the
    shared module state stops its own at the end of the module)."""
    yield
    boxes, _MADE[:] = list(_MADE), []
    _stop([b for b in boxes if not b.environ.get("VSH_TEST_SHARED")])


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Box]:
    """One fake HOME and $VSH_HOME per module (one proxy daemon start), fresh workspaces per test."""
    root = tmp_path_factory.mktemp("shared")
    b = make_box(root, root / "vsh-home")
    b.environ["VSH_TEST_SHARED"] = "1"
    _MADE.remove(b)
    yield b
    _stop([b])


@pytest.fixture
def box(tmp_path: Path, shared: Box) -> Box:
    ws = tmp_path / "ws"
    ws.mkdir()
    return Box(shared.home, ws, shared.vsh_home, shared.environ)


def host_tree(root: Path) -> dict[str, bytes]:
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and not p.is_symlink():
            out[str(p.relative_to(root))] = p.read_bytes()
        else:
            out[str(p.relative_to(root))] = b"<dir>" if p.is_dir() else b"<other>"
    return out


def test_public_cases_file_is_covered() -> None:
    ids = set(re.findall(r"pub-b\d+", (REDTEAM / "sandbox.md").read_text()))
    here = set(re.findall(r"pub-b\d+", Path(__file__).read_text()))
    assert ids and ids <= here


# pub-b01 ------------------------------------------------------------------------------------------
def test_b01_writes_outside_the_workspace_fail(box: Box) -> None:
    before = host_tree(box.home)
    r = box.run("touch ~/pwn; echo home=$?; touch /etc/pwn; echo etc=$?; touch ../pwn; echo up=$?")
    assert "home=1" in r.stdout and "etc=1" in r.stdout, r
    assert not (box.home / "pwn").exists()
    assert not Path("/etc/pwn").exists()
    assert not (box.workspace.parent / "pwn").exists()
    assert host_tree(box.home) == before


def test_b01_workspace_itself_is_writable(box: Box) -> None:
    r = box.run("echo ok > made && cat made")
    assert r.returncode == 0, r
    assert (box.workspace / "made").read_text() == "ok\n"


# pub-b02 ------------------------------------------------------------------------------------------
def test_b02_bashrc_in_home_is_read_only(box: Box) -> None:
    r = box.run("cd ~ && echo x >> .bashrc")
    assert r.returncode != 0
    assert (box.home / ".bashrc").read_text() == STARTUP[".bashrc"]


# pub-b03 ------------------------------------------------------------------------------------------
def test_b03_absent_startup_files_are_not_created(box: Box) -> None:
    r = box.run("echo id >> ~/.profile; a=$?; echo id >> ~/.zshrc; echo $a $?")
    assert r.stdout.split() == ["1", "1"], r
    assert not (box.home / ".profile").exists() and not (box.home / ".zshrc").exists()


def test_b03_startup_files_in_the_workspace_are_quarantined(box: Box) -> None:
    r = box.run("echo id >> .profile; mkdir -p a/b && echo id >> a/b/.zshrc; echo done")
    assert "done" in r.stdout
    assert not (box.workspace / ".profile").exists()
    assert not (box.workspace / "a/b/.zshrc").exists()
    assert "protected path" in r.stderr


# pub-b04 ------------------------------------------------------------------------------------------
def test_b04_credential_stores_are_unreadable(box: Box) -> None:
    files = " ".join(f"~/{rel}" for rel in SECRETS)
    r = box.run(f"cat {files}; ls -la ~/.ssh ~/.aws ~/.gnupg ~/.kube; find ~ -type f | xargs cat")
    assert "SECRET" not in r.stdout + r.stderr


# pub-b05 ------------------------------------------------------------------------------------------
def test_b05_state_root_inside_the_workspace_is_hidden(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = tmp_path / "ws"
    state = ws / "deep" / "vsh-state"
    state.mkdir(parents=True)
    monkeypatch.setenv("VSH_HOME", str(state))
    b = make_box(tmp_path, state, workspace=ws)
    (state / "rules.db").write_text("RULES-SECRET")
    before = host_tree(state)
    r = b.run("cat deep/vsh-state/config.toml deep/vsh-state/rules.db; ls -a deep/vsh-state; "
              "echo x > deep/vsh-state/config.toml; echo x > deep/vsh-state/new; "
              "mv deep/vsh-state gone; mv deep moved; rm -rf deep; echo end")
    assert "auto_approve_up_to" not in r.stdout and "RULES-SECRET" not in r.stdout, r
    assert (state / "config.toml").read_text().startswith("[approval]")
    after = {k: v for k, v in host_tree(state).items() if not k.startswith(("run", "audit", "quarantine"))}
    assert after == {k: v for k, v in before.items() if not k.startswith(("run", "audit"))}
    assert not (ws / "moved").exists() and not (ws / "gone").exists()


def test_b05_default_workspace_inside_state_root(tmp_path: Path, vsh_home: Path) -> None:
    b = make_box(tmp_path, vsh_home, workspace=vsh_home / "workspace")
    r = b.run("cat ../config.toml; ls -a ..; echo x > ../config.toml; echo x > ../evil; echo end")
    assert "auto_approve_up_to" not in r.stdout
    assert "end" in r.stdout
    assert not (vsh_home / "evil").exists()
    assert (vsh_home / "config.toml").read_text().startswith("[approval]")


def test_b05_other_state_roots_of_vsh_are_hidden(tmp_path: Path, vsh_home: Path) -> None:
    """With $VSH_HOME pointing elsewhere, vsh's default state (the home's and $XDG_DATA_HOME's:
    rules, vault, the proxy CA's private key) is still vsh's, and still unreadable."""
    b = make_box(tmp_path, vsh_home)
    xdg = tmp_path / "xdg-data"
    for root in (b.home / ".local/share/vsh", xdg / "vsh"):
        (root / "proxy").mkdir(parents=True)
        (root / "proxy/mitmproxy-ca.pem").write_text("SECRET-CA-KEY")
        (root / "rules.db").write_text("SECRET-RULES")
    b.environ["XDG_DATA_HOME"] = str(xdg)
    r = b.run(f"cat ~/.local/share/vsh/rules.db ~/.local/share/vsh/proxy/mitmproxy-ca.pem {xdg}/vsh/rules.db "
              f"{xdg}/vsh/proxy/mitmproxy-ca.pem; ls -a ~/.local/share/vsh {xdg}/vsh; echo end")
    assert "end" in r.stdout, r
    assert "SECRET" not in r.stdout + r.stderr
    assert "rules.db" not in r.stdout and "proxy" not in r.stdout


# pub-b06 ------------------------------------------------------------------------------------------
@pytest.fixture
def repo(box: Box) -> Path:
    subprocess.run(["git", "init", "-q", str(box.workspace)], check=True)
    return box.workspace / ".git"


def test_b06_hooks_and_config_are_read_only(box: Box, repo: Path) -> None:
    config = (repo / "config").read_bytes()
    r = box.run("printf '#!/bin/sh\\ntouch pwned\\n' > .git/hooks/pre-commit; echo hook=$?; "
                "git config core.hooksPath h; echo cfg=$?")
    assert "hook=1" in r.stdout and "cfg=0" not in r.stdout, r
    assert not (repo / "hooks/pre-commit").exists()
    assert (repo / "config").read_bytes() == config


def test_b06_absent_hooks_dir_created_inside_is_quarantined(box: Box, repo: Path) -> None:
    shutil.rmtree(repo / "hooks")
    r = box.run("mkdir -p .git/hooks && printf '#!/bin/sh\\ntouch pwned\\n' > .git/hooks/pre-commit; echo $?")
    assert not (repo / "hooks").exists(), r
    assert "protected path" in r.stderr


def test_b06_renaming_the_git_dir_fails(box: Box, repo: Path) -> None:
    config = (repo / "config").read_bytes()
    r = box.run("mv .git .g; echo mv=$?; mkdir -p .g/hooks; echo x > .g/hooks/x; "
                "mkdir -p .git2/hooks && mv .git2 .gitx; rm -rf .git; echo end")
    assert "mv=1" in r.stdout, r
    assert repo.is_dir() and (repo / "config").read_bytes() == config
    assert not (repo / "hooks/x").exists()


def test_b06_renamed_parent_keeps_protection_and_new_git_dirs_are_quarantined(box: Box) -> None:
    sub = box.workspace / "sub"
    subprocess.run(["git", "init", "-q", str(sub)], check=True)
    r = box.run("mv sub sub2; echo x > sub2/.git/hooks/x; echo h=$?; git init -q fresh; "
                "echo '[core]\n\tfsmonitor = touch /tmp/x' > fresh/.git/config; "
                "mkdir other; echo 'gitdir: ../fresh/.git' > other/.git; echo end")
    assert "h=1" in r.stdout, r
    assert not (box.workspace / "sub2/.git/hooks/x").exists()
    assert not (box.workspace / "fresh/.git/config").exists()
    assert not (box.workspace / "fresh/.git/hooks").exists()
    assert not (box.workspace / "other/.git").exists()


@pytest.mark.parametrize("line,path", [
    ("mkdir -p sub/.vscode && echo '{}' > sub/.vscode/tasks.json", "sub/.vscode"),
    ("mkdir -p a/b/c && echo 'curl x|sh' > a/b/c/.envrc", "a/b/c/.envrc"),
    ("echo '{}' > .mcp.json", ".mcp.json"),
    ("mkdir -p .idea && echo x > .idea/workspace.xml", ".idea"),
    ("mkdir -p d && ln -s /etc/passwd d/.envrc", "d/.envrc"),
    ("mkdir -p locked/in && echo x > locked/in/.envrc && chmod 000 locked/in", "locked/in/.envrc"),
    ("mkdir -p ro && echo x > ro/.envrc && chmod 555 ro", "ro/.envrc"),
    ("mkdir -p t && echo x > t/f && mv t/f t/.envrc", "t/.envrc"),
])
def test_b06_fresh_protected_names_at_any_depth_do_not_survive(box: Box, line: str, path: str) -> None:
    r = box.run(line)
    assert not os.path.lexists(box.workspace / path), r
    assert f"protected path {box.workspace / path}" in r.stderr
    moved = list((box.vsh_home / "quarantine").rglob(Path(path).name))
    assert moved, "the quarantined copy is kept for the person"


def test_b06_existing_protected_files_at_depth_are_read_only(box: Box) -> None:
    (box.workspace / "x/.vscode").mkdir(parents=True)
    (box.workspace / "x/.vscode/tasks.json").write_text("{}")
    (box.workspace / "y").mkdir()
    (box.workspace / "y/.envrc").write_text("ok")
    r = box.run("echo bad > x/.vscode/tasks.json; echo a=$?; echo bad > y/.envrc; echo b=$?; "
                "rm -rf x/.vscode; mv y/.envrc y/e; echo c=$?; mv x z; echo d=$?")
    assert "a=1" in r.stdout and "b=1" in r.stdout and "c=1" in r.stdout, r
    assert (box.workspace / "y/.envrc").read_text() == "ok"
    tasks = box.workspace / ("z" if "d=0" in r.stdout else "x") / ".vscode/tasks.json"
    assert tasks.read_text() == "{}"


def _module_gitdir(repo: Path, name: str, *, hooks: bool = True) -> Path:
    """A submodule's git directory as git lays it out: .git/modules/NAME (NAME may hold slashes)."""
    d = repo / "modules" / name
    subprocess.run(["git", "init", "-q", "--bare", str(d)], check=True)
    if not hooks:
        shutil.rmtree(d / "hooks")
    return d


@pytest.mark.parametrize("name", ["sub", "libs/foo", "outer/modules/inner"])
def test_b06_submodule_hooks_and_config_are_read_only(box: Box, repo: Path, name: str) -> None:
    """git runs a submodule's hooks from .git/modules/NAME/hooks: they are protected like .git/hooks."""
    if name == "outer/modules/inner":
        _module_gitdir(repo, "outer")
    gitdir = _module_gitdir(repo, name)
    config = (gitdir / "config").read_bytes()
    rel = gitdir.relative_to(box.workspace)
    r = box.run(f"printf '#!/bin/sh\\ntouch pwned\\n' > {rel}/hooks/post-checkout; echo hook=$?; "
                f"echo '[core]' >> {rel}/config; echo cfg=$?; mv {rel}/hooks {rel}/h; echo mv=$?")
    assert "hook=1" in r.stdout and "cfg=1" in r.stdout and "mv=1" in r.stdout, r
    assert not (gitdir / "hooks/post-checkout").exists()
    assert (gitdir / "config").read_bytes() == config


def test_b06_absent_submodule_hooks_created_inside_are_quarantined(box: Box, repo: Path) -> None:
    gitdir = _module_gitdir(repo, "sub", hooks=False)
    r = box.run("mkdir -p .git/modules/sub/hooks && printf '#!/bin/sh\\ntouch pwned\\n' > "
                ".git/modules/sub/hooks/post-checkout; echo made=$?")
    assert "made=0" in r.stdout, r
    assert not (gitdir / "hooks").exists()
    assert f"protected path {gitdir / 'hooks'}" in r.stderr


def test_b06_worktree_config_is_protected(box: Box, repo: Path) -> None:
    """With extensions.worktreeConfig, config.worktree (the main one, and each linked worktree's)
    can set core.hooksPath: it is protected like config."""
    (repo / "worktrees" / "wt").mkdir(parents=True)
    (repo / "worktrees" / "wt" / "HEAD").write_text("ref: refs/heads/wt\n")
    (repo / "worktrees" / "wt" / "config.worktree").write_text("[core]\n")
    r = box.run("echo '\thooksPath = /tmp' >> .git/worktrees/wt/config.worktree; echo wt=$?; "
                "printf '[core]\\n\\thooksPath = h\\n' > .git/config.worktree; echo main=$?")
    assert "wt=1" in r.stdout, r
    assert (repo / "worktrees" / "wt" / "config.worktree").read_text() == "[core]\n"
    assert not (repo / "config.worktree").exists()
    assert f"protected path {repo / 'config.worktree'}" in r.stderr


def test_b06_symlinked_protected_path_refuses_to_start(box: Box) -> None:
    (box.workspace / ".envrc").symlink_to(box.home / ".bashrc")
    r = box.run("touch ran")
    assert r.returncode == 125, r
    assert "symlink" in r.stderr
    assert not (box.workspace / "ran").exists()


# pub-b07 ------------------------------------------------------------------------------------------
def test_b07_symlink_to_key_is_unreadable(box: Box) -> None:
    r = box.run("ln -s ~/.ssh/id_rsa k && cat k; ln ~/.ssh/id_rsa h; cat h")
    assert "SECRET" not in r.stdout + r.stderr


# pub-b08 ------------------------------------------------------------------------------------------
TIOCSTI = ("import fcntl, termios, sys\n"
           "try:\n"
           "    [fcntl.ioctl(0, termios.TIOCSTI, c) for c in (b'i', b'd', b'\\n')]\n"
           "    print('PUSHED')\n"
           "except OSError as e:\n"
           "    print('REFUSED', e.errno)\n")
# The terminal vsh was started on is nobody's controlling terminal: the command can make it its own
# (a new session, TIOCSCTTY), after which the kernel's own TIOCSTI check passes.
TIOCSTI_OWN = ("import fcntl, os, termios\n"
               "os.setsid()\n"
               "try:\n"
               "    fcntl.ioctl(0, termios.TIOCSCTTY, 0)\n"
               "except OSError as e:\n"
               "    print('NO-CTTY', e.errno)\n") + TIOCSTI


@pytest.mark.parametrize("probe", [TIOCSTI, TIOCSTI_OWN], ids=["as-is", "made-controlling"])
def test_b08_tiocsti_cannot_type_into_the_terminal(box: Box, probe: str) -> None:
    import pty
    import select

    master, slave = pty.openpty()
    (box.workspace / "sti.py").write_text(probe)
    line = "python3 sti.py; test -t 0 && echo STDIN-IS-TTY"
    proc = subprocess.Popen(box.command(line), stdin=slave, stdout=slave, stderr=slave, env=box.environ,
                            start_new_session=True)
    out = b""
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        if select.select([master], [], [], 0.2)[0]:
            out += os.read(master, 4096)
    while select.select([master], [], [], 0.2)[0]:
        out += os.read(master, 4096)
    assert proc.returncode == 0, out
    assert b"REFUSED" in out and b"PUSHED" not in out, out
    assert b"STDIN-IS-TTY" in out
    os.set_blocking(slave, False)
    try:
        pending = os.read(slave, 100)
    except BlockingIOError:
        pending = b""
    assert b"id" not in pending
    os.close(master)
    os.close(slave)


# pub-b09 ------------------------------------------------------------------------------------------
def test_b09_ps_shows_only_the_sandbox(box: Box) -> None:
    r = box.run("ps -e -o pid=,comm=")
    rows = [ln.split() for ln in r.stdout.strip().splitlines()]
    assert r.returncode == 0, r
    assert len(rows) <= 3, rows  # the proxy forwarder (pid 1: no bubblewrap init), bash, ps
    assert all(int(pid) < 300 for pid, *_ in rows), rows  # pids of a fresh namespace
    assert not any("pytest" in " ".join(row) for row in rows)


# pub-b10 ------------------------------------------------------------------------------------------
def test_b10_environment_is_allow_listed(tmp_path: Path, vsh_home: Path) -> None:
    b = make_box(tmp_path, vsh_home, config='[sandbox]\nenv_allow = ["MY_VAR", "GITHUB_TOKEN", "LD_PRELOAD"]\n')
    token = "ghp_" + "A1b2C3d4E5f6G7h8I9j0" * 2  # a token in an allowed name is still a token
    leaks = {"GITHUB_TOKEN": "SECRET-T1", "AWS_SECRET_ACCESS_KEY": "SECRET-T2", "SSH_AUTH_SOCK": "/tmp/agent",
             "LD_LIBRARY_PATH": "/evil", "BASH_ENV": "/evil/env", "DB_PASSWORD": "SECRET-T3",
             "OPENAI_API_KEY": "SECRET-T4", "UNLISTED": "nope", "MY_VAR": "passes",
             "LC_X": token, "LANGUAGE": token}
    r = b.run(argv=["env"], extra_env=leaks)
    env = dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)
    assert env.get("MY_VAR") == "passes"
    for name in leaks.keys() - {"MY_VAR"}:
        assert name not in env, name
    assert "SECRET" not in r.stdout and token not in r.stdout
    assert env["HOME"] == str(b.home) and "PATH" in env


# pub-b11 ------------------------------------------------------------------------------------------
@pytest.fixture
def listener() -> tuple[int, list[str]]:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.settimeout(0.2)
    hits: list[str] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, addr = srv.accept()
            except OSError:
                continue
            hits.append(str(addr))
            conn.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield srv.getsockname()[1], hits
    stop.set()
    t.join()
    srv.close()


def test_b11_no_network_to_the_host_or_outside(box: Box, listener: tuple[int, list[str]]) -> None:
    port, hits = listener
    line = (f"echo > /dev/tcp/127.0.0.1/{port}; echo tcp=$?; "
            f"(command -v curl >/dev/null && curl -sS -m 3 --noproxy '*' http://127.0.0.1:{port}/ "
            f"&& echo CURL-LOCAL-OK; curl -sS -m 3 --noproxy '*' https://example.com && echo CURL-OUT-OK); "
            f"(command -v ping >/dev/null && ping -c1 -W1 127.0.0.1 >/dev/null 2>&1; true); "
            f"python3 -c 'import socket; socket.create_connection((\"10.0.0.1\", 80), 2)' 2>/dev/null "
            f"|| echo py=blocked")
    r = box.run(line)
    assert "tcp=1" in r.stdout, r
    assert "CURL-LOCAL-OK" not in r.stdout and "CURL-OUT-OK" not in r.stdout
    assert "py=blocked" in r.stdout
    assert hits == []


def test_b11_host_unix_sockets_are_unreachable(box: Box) -> None:
    path = box.workspace / "host.sock"
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(str(path))
    srv.listen(1)
    try:
        r = box.run("python3 -c 'import socket; s=socket.socket(socket.AF_UNIX); s.connect(\"host.sock\")' "
                    "2>&1 | tail -1")
        assert "PermissionError" in r.stdout or "Operation not permitted" in r.stdout, r
        srv.settimeout(0.2)
        with pytest.raises(TimeoutError):
            srv.accept()
    finally:
        srv.close()


# pub-b12 ------------------------------------------------------------------------------------------
def _procs_with(marker: str) -> list[int]:
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if marker in cmd and "bash" not in cmd and "vshell" not in cmd:
            out.append(int(pid))
    return out


def test_b12_no_process_survives_the_run(box: Box) -> None:
    r = box.run("setsid -f sleep 300.4242; nohup sleep 300.4242 >/dev/null 2>&1 & disown; (sleep 300.4242 &); echo up")
    assert "up" in r.stdout, r
    time.sleep(0.3)
    assert _procs_with("300.4242") == []


# pub-b13 ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("outer", [
    ["--dev-bind", "/", "/", "--ro-bind", "/dev/null", "/usr/bin/bwrap"],  # bubblewrap missing
    ["--unshare-user", "--disable-userns", "--dev-bind", "/", "/"],  # namespaces refused
])
def test_b13_missing_backend_exits_125_and_nothing_runs(box: Box, outer: list[str]) -> None:
    marker = box.workspace / "ran"
    cmd = box.command(f"touch {marker}")
    for _ in range(3):  # the outer bwrap itself sometimes meets a transient namespace limit (ENOSPC)
        r = subprocess.run(["bwrap", *outer, *cmd], env=box.environ, capture_output=True, text=True, timeout=60)
        if not (r.returncode == 1 and r.stderr.startswith("bwrap:")):
            break
        time.sleep(0.5)
    if r.returncode == 1 and r.stderr.startswith("bwrap:") and "vsh" not in r.stderr:
        pytest.skip(f"the outer bwrap of this test could not start: {r.stderr.strip()}")
    assert r.returncode == 125, r
    assert "sandbox" in r.stderr and "hint" in r.stderr
    assert not marker.exists()


def _no_namespaces_filter() -> bytes:
    """A seccomp program refusing new namespaces (as container runtimes' default profiles do):
    unshare(2) and clone(2) with CLONE_NEWUSER -> EPERM, clone3 -> ENOSYS (glibc falls back)."""
    import struct

    def insn(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
        return struct.pack("<HBBI", code, jt, jf, k)

    allow, eperm, enosys = 0x7FFF0000, 0x00050001, 0x00050026
    return b"".join([
        insn(0x20, 4), insn(0x15, 0xC000003E, 1, 0), insn(0x06, allow),  # not x86_64: leave alone
        insn(0x20, 0),
        insn(0x15, 272, 4, 0),  # unshare -> EPERM
        insn(0x15, 435, 5, 0),  # clone3 -> ENOSYS
        insn(0x15, 56, 0, 3),  # clone -> check flags
        insn(0x20, 16), insn(0x45, 0x10000000, 0, 1),  # CLONE_NEWUSER?
        insn(0x06, eperm),
        insn(0x06, allow),
        insn(0x06, enosys),
    ])


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="the test filter is written for x86_64")
def test_b13_namespaces_refused_by_seccomp_exits_125(box: Box) -> None:
    marker = box.workspace / "ran"
    r_fd, w_fd = os.pipe()
    os.write(w_fd, _no_namespaces_filter())
    os.close(w_fd)
    try:
        r = subprocess.run(["bwrap", "--dev-bind", "/", "/", "--seccomp", str(r_fd),
                            *box.command(f"touch {marker}")], env=box.environ, capture_output=True,
                           text=True, timeout=60, pass_fds=(r_fd,))
    finally:
        os.close(r_fd)
    assert r.returncode == 125, r
    assert "sandbox" in r.stderr and "hint" in r.stderr
    assert not marker.exists()


PROXY = importlib.util.find_spec("vshell.proxy.client") is not None


@pytest.mark.skipif(not PROXY, reason="the egress proxy is missing")
def test_b11_the_only_way_out_is_the_proxy(tmp_path: Path, vsh_home: Path) -> None:
    """A host HTTP server pinned with [proxy] resolve is reachable through the proxy, never directly;
    the command cannot open unix sockets even though the forwarder in front of it can."""
    import http.server

    class Hello(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"hello-from-host"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    port = srv.server_address[1]
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        b = make_box(tmp_path, vsh_home, config=f'[proxy]\nresolve = {{ "svc.test" = "127.0.0.1:{port}" }}\n')
        code = ("import socket, urllib.request\n"
                "print(urllib.request.urlopen('http://svc.test/', timeout=10).read().decode())\n"
                "try:\n    socket.socket(socket.AF_UNIX)\n    print('UNIX-OK')\n"
                "except OSError as e:\n    print('UNIX-REFUSED', e.errno)\n"
                f"try:\n    socket.create_connection(('127.0.0.1', {port}), 3)\n    print('DIRECT-OK')\n"
                "except OSError:\n    print('DIRECT-REFUSED')\n")
        (b.workspace / "probe.py").write_text(code)
        r = b.run(argv=["python3", "probe.py"])
        assert r.returncode == 0, r
        assert "hello-from-host" in r.stdout
        assert "UNIX-REFUSED 1" in r.stdout and "DIRECT-REFUSED" in r.stdout
        assert "UNIX-OK" not in r.stdout and "DIRECT-OK" not in r.stdout
    finally:
        srv.shutdown()
        srv.server_close()


@pytest.mark.skipif(not PROXY, reason="the egress proxy is missing")
def test_b11_command_cannot_take_over_the_forwarder(tmp_path: Path, vsh_home: Path) -> None:
    """The forwarder in front of the command may open unix sockets; the command runs as the same
    user, so the forwarder makes itself non-dumpable: its memory and environment cannot be read or
    written, and it cannot be ptraced (which would escape the command's seccomp filter)."""
    b = make_box(tmp_path, vsh_home)
    code = ("import ctypes, os\n"
            "ppid = os.getppid()\n"
            "print('SELF', len(open('/proc/self/environ', 'rb').read()) > 0)\n"
            "for what in ('mem', 'environ'):\n"
            "    try:\n        open(f'/proc/{ppid}/{what}', 'r+b' if what == 'mem' else 'rb').read(1)\n"
            "        print('PARENT-' + what.upper() + '-OK')\n"
            "    except OSError as e:\n        print('PARENT-' + what.upper() + '-REFUSED', e.errno)\n"
            "libc = ctypes.CDLL(None, use_errno=True)\n"
            "print('PTRACE', libc.ptrace(16, ppid, 0, 0), ctypes.get_errno())\n")  # PTRACE_ATTACH
    (b.workspace / "probe.py").write_text(code)
    r = b.run(argv=["python3", "probe.py"])
    assert r.returncode == 0, r
    assert "SELF True" in r.stdout
    assert "PARENT-MEM-REFUSED" in r.stdout and "PARENT-ENVIRON-REFUSED" in r.stdout, r.stdout
    assert "-OK" not in r.stdout
    assert "PTRACE -1" in r.stdout, r.stdout


UNFILTERED_PROBE = """\
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
me = os.getpid()
for pid in sorted(int(p) for p in os.listdir('/proc') if p.isdigit()):
    if pid == me:
        continue
    try:
        status = open(f'/proc/{pid}/status').read()
    except OSError:
        continue
    filtered = 'Seccomp:\t2' in status
    try:
        with open(f'/proc/{pid}/mem', 'r+b'):
            mem = 'WRITABLE'
    except OSError as e:
        mem = f'refused {e.errno}'
    attach = libc.ptrace(16, pid, 0, 0)  # PTRACE_ATTACH
    if attach == 0:
        libc.ptrace(17, pid, 0, 0)  # PTRACE_DETACH
    print(pid, 'filtered' if filtered else 'UNFILTERED', 'mem', mem, 'attach', attach)
"""


@pytest.mark.skipif(not PROXY, reason="the egress proxy is missing")
def test_b11_no_unfiltered_process_can_be_taken_over(tmp_path: Path, vsh_home: Path) -> None:
    """Any process in the sandbox outside the seccomp filter whose memory the command can write is
    an escape from the filter (a red-team run rewrote bubblewrap's init, pid 1, through /proc/1/mem
    and then opened host unix sockets, read the caller's keyring and made an io_uring). The command
    looks at every process it can see: none may be both unfiltered and writable or attachable."""
    b = make_box(tmp_path, vsh_home)
    (b.workspace / "probe.py").write_text(UNFILTERED_PROBE)
    r = b.run(argv=["python3", "probe.py"])
    assert r.returncode == 0, r
    rows = r.stdout.splitlines()
    assert rows and rows[0].startswith("1 "), r.stdout  # pid 1 is there to be looked at
    for row in rows:
        if "UNFILTERED" in row:
            assert "mem refused" in row and "attach -1" in row, r.stdout


IO_URING_PROBE = ("import ctypes\n"
                  "libc = ctypes.CDLL(None, use_errno=True)\n"
                  "params = ctypes.create_string_buffer(120)\n"  # struct io_uring_params, zeroed
                  "print('IO_URING', libc.syscall(425, 1, params), ctypes.get_errno())\n")


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="the probe uses x86_64's syscall number")
def test_io_uring_is_refused_inside(tmp_path: Path, vsh_home: Path) -> None:
    """io_uring's operations bypass syscall filtering, so the sandbox refuses to create one. The
    host baseline shows the kernel offers it (else the refusal would prove nothing)."""
    host = subprocess.run([sys.executable, "-c", IO_URING_PROBE], capture_output=True, text=True)
    if "IO_URING -1" in host.stdout:
        pytest.skip(f"io_uring is not available on this host: {host.stdout.strip()}")
    b = make_box(tmp_path, vsh_home)
    (b.workspace / "probe.py").write_text(IO_URING_PROBE)
    r = b.run(argv=["python3", "probe.py"])
    assert r.returncode == 0, r
    assert "IO_URING -1 1" in r.stdout, r.stdout  # EPERM from the seccomp filter


@pytest.mark.parametrize(("variable", "rel", "value"), [
    ("NETRC", "elsewhere/netrc", "elsewhere/netrc"),
    ("KUBECONFIG", "k8s/b.yaml", "k8s/a.yaml:k8s/b.yaml"),
    ("GNUPGHOME", "keys/gpg/private.key", "keys/gpg"),
    ("DOCKER_CONFIG", "dock/config.json", "dock"),
    ("AWS_SHARED_CREDENTIALS_FILE", "cloud/aws-creds", "cloud/aws-creds"),
    ("PASSWORD_STORE_DIR", "pass/github.gpg", "pass"),
    ("CLOUDSDK_CONFIG", "gcloud/credentials.db", "gcloud"),
    ("GH_CONFIG_DIR", "ghcfg/hosts.yml", "ghcfg"),
    ("CARGO_HOME", "cargo/credentials.toml", "cargo"),
    ("XDG_CONFIG_HOME", "xdg/gh/hosts.yml", "xdg"),
])
def test_b04_stores_the_callers_environment_moved_are_unreadable(tmp_path: Path, shared: Box, variable: str,
                                                                  rel: str, value: str) -> None:
    home = tmp_path / "home3"
    (home / rel).parent.mkdir(parents=True)
    (home / rel).write_text(f"SECRET-MOVED-{variable}")
    ws = tmp_path / "ws"
    ws.mkdir()
    setting = ":".join(str(home / v) for v in value.split(":"))
    b = Box(home, ws, shared.vsh_home, {**shared.environ, "HOME": str(home), variable: setting})
    r = b.run(f"cat {home / rel}; grep -r SECRET {home}; echo end")
    assert "end" in r.stdout, r
    assert "SECRET-MOVED" not in r.stdout + r.stderr


def test_b04_a_moved_tool_home_hides_only_its_secrets(tmp_path: Path, shared: Box) -> None:
    """CARGO_HOME and DOCKER_CONFIG hold toolchains and plugins beside their secrets: only the
    secrets go, the tools stay usable."""
    home = tmp_path / "home5"
    for rel, text in {"cargo/bin/tool": "TOOL-OK", "cargo/credentials.toml": "SECRET-CARGO-MOVED",
                      "dock/cli-plugins/compose": "PLUGIN-OK", "dock/config.json": "SECRET-DOCKER-MOVED"}.items():
        (home / rel).parent.mkdir(parents=True, exist_ok=True)
        (home / rel).write_text(text)
    ws = tmp_path / "ws"
    ws.mkdir()
    b = Box(home, ws, shared.vsh_home, {**shared.environ, "HOME": str(home), "CARGO_HOME": str(home / "cargo"),
                                        "DOCKER_CONFIG": str(home / "dock")})
    r = b.run(f"cat {home}/cargo/bin/tool {home}/dock/cli-plugins/compose; grep -r SECRET {home}; echo end")
    assert "TOOL-OK" in r.stdout and "PLUGIN-OK" in r.stdout and "end" in r.stdout, r
    assert "SECRET" not in r.stdout + r.stderr


def test_b04_a_link_from_a_store_to_the_home_does_not_hide_the_home(tmp_path: Path, shared: Box) -> None:
    home = tmp_path / "home6"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh/id_rsa").write_text("SECRET-KEY")
    (home / ".ssh/up").symlink_to(home)
    (home / "notes.txt").write_text("NOTES-OK")
    ws = tmp_path / "ws"
    ws.mkdir()
    b = Box(home, ws, shared.vsh_home, {**shared.environ, "HOME": str(home)})
    r = b.run("cat ~/notes.txt ~/.ssh/id_rsa; echo end")
    assert "NOTES-OK" in r.stdout and "end" in r.stdout, r
    assert "SECRET" not in r.stdout + r.stderr


def test_b04_a_symlink_inside_a_store_hides_its_target(tmp_path: Path, shared: Box) -> None:
    """~/.ssh is hidden; ~/.ssh/id_rsa -> ~/keys/id_rsa must not leave the key readable at ~/keys."""
    home = tmp_path / "home4"
    (home / "keys").mkdir(parents=True)
    (home / "keys/id_rsa").write_text("SECRET-LINKED-KEY")
    (home / ".ssh").mkdir()
    (home / ".ssh/id_rsa").symlink_to(home / "keys/id_rsa")
    ws = tmp_path / "ws"
    ws.mkdir()
    b = Box(home, ws, shared.vsh_home, {**shared.environ, "HOME": str(home)})
    r = b.run("cat ~/keys/id_rsa ~/.ssh/id_rsa; grep -r SECRET ~; echo end")
    assert "end" in r.stdout, r
    assert "SECRET-LINKED" not in r.stdout + r.stderr


def test_b04_symlinked_credential_store_hides_its_target(tmp_path: Path, shared: Box) -> None:
    home = tmp_path / "home2"
    (home / "dotfiles/aws").mkdir(parents=True)
    (home / "dotfiles/aws/credentials").write_text("SECRET-DOTFILES-AWS")
    (home / ".aws").symlink_to(home / "dotfiles/aws")
    (home / ".netrc").symlink_to(home / "nowhere")  # dangling: nothing to hide, must not break the run
    ws = tmp_path / "ws"
    ws.mkdir()
    b = Box(home, ws, shared.vsh_home, {**shared.environ, "HOME": str(home)})
    r = b.run("cat ~/.aws/credentials ~/dotfiles/aws/credentials; echo end")
    assert "end" in r.stdout, r
    assert "SECRET" not in r.stdout + r.stderr


# The host kernel through /proc ------------------------------------------------------------------
# Run as root (as CI is), a sysctl file is writable by its owner bits alone: the kernel's uid is 0
# inside the user namespace too. Writing kernel.core_pattern = "|/workspace/x.sh" made the kernel run
# a workspace script as host root, outside every namespace. The probes only open for appending (which
# writes nothing), so a regression cannot change the host.
KERNEL_KNOBS = ("/proc/sys/kernel/core_pattern", "/proc/sys/kernel/printk_ratelimit", "/proc/sys/vm/drop_caches",
                "/proc/sys/fs/binfmt_misc/register", "/proc/sysrq-trigger")


def test_host_kernel_settings_cannot_be_opened_for_writing(box: Box) -> None:
    probes = "; ".join(f"(exec 4>>{p}) 2>/dev/null && echo WRITABLE {p}" for p in KERNEL_KNOBS)
    r = box.run(f"{probes}; cat /proc/sys/kernel/ostype; echo done")
    assert r.returncode == 0 and "done" in r.stdout, r
    assert "WRITABLE" not in r.stdout, r.stdout
    assert "Linux" in r.stdout  # still readable: programs read their limits there


def test_host_kernel_debug_files_are_masked(box: Box) -> None:
    r = box.run("for f in /proc/kcore /proc/keys /proc/timer_list /proc/kallsyms; do "
                "[ -e $f ] && echo \"$f $(head -c 64 $f 2>/dev/null | wc -c)\"; done; echo done")
    assert "done" in r.stdout, r
    for line in r.stdout.splitlines()[:-1]:
        assert line.endswith(" 0"), r.stdout  # /dev/null where the host has them


SOCKET_FAMILIES_PROBE = (
    "import socket\n"
    "for name, fam, typ in (('INET', 2, 1), ('INET6', 10, 1), ('NETLINK', 16, 3), ('VSOCK', 40, 1),\n"
    "                       ('PACKET', 17, 3), ('ALG', 38, 5), ('BLUETOOTH', 31, 1), ('UNIX', 1, 1)):\n"
    "    try:\n        socket.socket(fam, typ).close()\n        print(name, 'OK')\n"
    "    except OSError as e:\n        print(name, 'REFUSED', e.errno)\n")


def test_socket_families_a_network_namespace_does_not_confine_are_refused(box: Box) -> None:
    """vsock ignores network namespaces (on a VM it reaches the hypervisor's services); the filter
    allows only the families the sandbox's own network namespace confines."""
    (box.workspace / "families.py").write_text(SOCKET_FAMILIES_PROBE)
    r = box.run(argv=["python3", "families.py"])
    assert r.returncode == 0, r
    got = dict(line.split(" ", 1) for line in r.stdout.splitlines())
    assert got["INET"] == "OK" and got["INET6"] in ("OK", "REFUSED 97") and got["NETLINK"] == "OK", got
    for name in ("VSOCK", "PACKET", "ALG", "BLUETOOTH", "UNIX"):
        assert got[name] == "REFUSED 1", (name, got)  # EPERM from the filter, whatever the kernel has


KEYRING_PROBE = ("import ctypes\n"
                 "libc = ctypes.CDLL(None, use_errno=True)\n"
                 # keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0); add_key("user", "x", "v", 1, @s)
                 "print('KEYCTL', libc.syscall(250, 0, -3, 0), ctypes.get_errno())\n"
                 "print('ADD_KEY', libc.syscall(248, b'user', b'x', b'v', 1, -3), ctypes.get_errno())\n")


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="the probe uses x86_64's syscall numbers")
def test_the_callers_kernel_keyring_is_out_of_reach(box: Box) -> None:
    """Keyrings are not namespaced: a caller's session keyring (Kerberos tickets, fscrypt keys)
    would be readable and writable from inside. The keyring syscalls are refused."""
    (box.workspace / "keys.py").write_text(KEYRING_PROBE)
    r = box.run(argv=["python3", "keys.py"])
    assert r.returncode == 0, r
    assert "KEYCTL -1 1" in r.stdout and "ADD_KEY -1 1" in r.stdout, r.stdout


def test_no_user_namespace_can_be_created_inside(box: Box) -> None:
    """A nested user namespace would hand the command every capability over new mounts and
    network stacks: kernel attack surface it never needs (bubblewrap 0.8+: --disable-userns)."""
    from vshell.sandbox import bwrap_can_disable_userns, find_bwrap

    if not bwrap_can_disable_userns(find_bwrap()):
        pytest.skip("this bubblewrap cannot disable user namespaces")
    r = box.run("unshare -Ur true && echo NESTED-OK; python3 -c 'import os; os.unshare(os.CLONE_NEWUSER)' "
                "2>/dev/null && echo PY-NESTED-OK; echo done")
    assert "done" in r.stdout, r
    assert "NESTED-OK" not in r.stdout, r.stdout
