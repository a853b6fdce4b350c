"""The interactive `vsh` session, driven for real through a pseudo-terminal (pexpect), plus table
tests of its pure parts: the line wrapper and its report, export filtering, session commands."""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import needs_bwrap, vsh_env
from vshell.session import (
    STATE_MAGIC,
    Report,
    ShellState,
    apply_report,
    exit_request,
    export_refusal,
    parse_report,
    parse_session_command,
    prompt_text,
    read_report,
    wrap,
)


def _has(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


HAS_RUNNER = _has("vshell.runner") and _has("vshell.sandbox") and _has("vshell.classify")
HAS_PROMPT = _has("vshell.prompt") and _has("vshell.approval")
needs_runner = pytest.mark.skipif(not HAS_RUNNER, reason="vshell.runner / sandbox / classify not in this build")

# ---------------------------------------------------------------------------------------------------
# Pure parts.


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (":help", ("help", "")),
        ("  :explain rm -rf /  ", ("explain", "rm -rf /")),
        (":rules", ("rules", "")),
        (":EXIT 3", ("exit", "3")),
        (": > file", None),  # the shell's no-op builtin, with a space: shell syntax
        (":", None),
        ("echo :help", None),
        ("::help", None),
        (":1abc", None),
    ],
)
def test_session_commands_are_separate_from_shell(line: str, expected: tuple[str, str] | None) -> None:
    got = parse_session_command(line)
    assert (None if got is None else (got.name, got.arg)) == expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [("exit", -1), ("  exit 3 ", 3), ("logout", -1), ("exit 300", 300 & 0xFF),
     ("exit; rm x", None), ("exit $X", None), ("echo exit", None), ("exit 1 2", None)],
)
def test_bare_exit_ends_the_session(line: str, expected: int | None) -> None:
    assert exit_request(line) == expected


@pytest.mark.parametrize(
    ("name", "allowed"),
    [
        ("FOO", True), ("NODE_ENV", True), ("PYTHONUNBUFFERED", True), ("GIT_COMMITTER_NAME", True),
        ("GIT_AUTHOR_NAME", False),  # "AUTH": the sandbox's secret-looking rule, which always applies
        ("EDITOR", False), ("PAGER", False), ("PYTHONPATH", False), ("NODE_OPTIONS", False),
        ("GIT_SSH_COMMAND", False), ("GIT_CONFIG_GLOBAL", False), ("npm_config_script_shell", False),
        ("GCONV_PATH", False), ("XDG_CONFIG_HOME", False),
        ("LD_PRELOAD", False), ("LD_LIBRARY_PATH", False), ("DYLD_INSERT_LIBRARIES", False),
        ("BASH_ENV", False), ("ENV", False), ("SHELLOPTS", False), ("PROMPT_COMMAND", False),
        ("BASH_FUNC_ls%%", False), ("SSH_AUTH_SOCK", False), ("GITHUB_TOKEN", False),
        ("AWS_SECRET_ACCESS_KEY", False), ("DB_PASSWORD", False), ("OPENAI_API_KEY", False),
        ("https_proxy", False), ("HTTPS_PROXY", False), ("SSL_CERT_FILE", False),
        ("VSH_HOME", False), ("HOME", False), ("1BAD", False), ("A-B", False), ("", False),
    ],
)
def test_export_filter(name: str, allowed: bool) -> None:
    assert (export_refusal(name, "v") is None) is allowed


@pytest.mark.parametrize(
    ("value", "allowed"),
    [("/usr/bin:/bin", True), ("/usr/bin:/opt/go/bin", True), ("/ws/bin:/usr/bin", False),
     ("/usr/bin:/ws", False), ("/usr/bin::/bin", False), ("bin:/usr/bin", False), (".:/usr/bin", False),
     ("/usr/bin:/ws/../ws/x", False)],
)
def test_path_may_not_reach_into_the_workspace(value: str, allowed: bool) -> None:
    assert (export_refusal("PATH", value, Path("/ws")) is None) is allowed


def test_export_filter_caps_value_size() -> None:
    assert export_refusal("BIG", "x" * (64 * 1024 + 1)) is not None


def _report(*fields: str) -> bytes:
    return "".join(f + "\0" for f in fields).encode()


@pytest.mark.parametrize(
    ("data", "ok"),
    [
        (_report(STATE_MAGIC, "cwd", "/w", "set", "A", "1", "unset", "B", "end"), True),
        (_report(STATE_MAGIC, "cwd", "/w", "end"), True),
        (_report(STATE_MAGIC, "cwd", "/w", "set", "A", "end"), False),  # truncated pair
        (_report(STATE_MAGIC, "cwd", "/w", "set", "A", "1"), False),  # no end marker
        (_report("other", "cwd", "/w", "end"), False),
        (_report(STATE_MAGIC, "cwd", "/w", "run", "x", "end"), False),
        (b"\xff\xfe\0", False),
        (b"", False),
    ],
)
def test_parse_report_is_strict(data: bytes, ok: bool) -> None:
    assert (parse_report(data) is not None) is ok


def test_apply_report_accepts_only_workspace_dirs_and_allowed_exports(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    (ws / "sub").mkdir(parents=True)
    (ws / "out").symlink_to(tmp_path)
    ws = ws.resolve()
    st = ShellState(ws, (("KEEP", "1"), ("GONE", "x")))
    new, notes = apply_report(st, Report(str(ws / "sub"), (("FOO", "bar"), ("LD_PRELOAD", "x"), ("PWD", "/")),
                                         ("GONE",)), ws)
    assert new.cwd == ws / "sub"
    assert new.env == {"KEEP": "1", "FOO": "bar"}
    assert any("LD_PRELOAD" in n for n in notes)
    assert not any("PWD" in n for n in notes)
    for outside in ("/", str(tmp_path), str(ws / "out"), "relative/dir", str(ws) + "2", str(ws / "sub/../..")):
        moved, notes = apply_report(new, Report(outside), ws)
        assert moved.cwd == ws / "sub", outside
        assert notes
    moved, _ = apply_report(new, Report(str(ws / "missing")), ws)
    assert moved.cwd == ws / "sub"


def _run_wrapped(line: str, ws: Path, name: str = ".vsh-state-t") -> tuple[int, Report | None]:
    env = {"PATH": os.environ["PATH"], "HOME": str(ws), "KEEP": "1"}
    proc = subprocess.run(["bash", "-c", wrap(line, ws / name)], cwd=ws, env=env, capture_output=True)
    return proc.returncode, read_report(ws, name)


@pytest.mark.parametrize(
    ("line", "status", "cwd", "exported", "unexported"),
    [
        ("export FOO=bar; cd sub", 0, "sub", {"FOO": "bar"}, ()),
        ("cd sub; exit 3", 3, "sub", {}, ()),
        ("unset KEEP", 0, ".", {}, ("KEEP",)),
        ("IFS=:; set -eu; cd sub; false", 1, "sub", {}, ()),
        ("export X='a\nb'", 0, ".", {"X": "a\nb"}, ()),
        ("echo 'unterminated", 2, ".", {}, ()),
        ("cat <<EOF\nx", 0, ".", {}, ()),  # a heredoc at the end swallows no vsh code: none follows the line
        ("cd sub; kill -INT $$", -signal.SIGINT, "sub", {}, ()),
    ],
)
def test_wrapper_reports_state_and_keeps_status(tmp_path: Path, line: str, status: int, cwd: str,
                                               exported: dict[str, str], unexported: tuple[str, ...]) -> None:
    (tmp_path / "sub").mkdir()
    rc, rep = _run_wrapped(line, tmp_path)
    assert rc == status
    assert rep is not None
    assert rep.cwd == str((tmp_path / cwd).resolve())
    got = {k: v for k, v in rep.exported if k not in ("PWD", "OLDPWD")}
    assert got == exported
    assert rep.unexported == unexported
    assert sorted(os.listdir(tmp_path)) == ["sub"]  # the report is gone


@pytest.mark.parametrize("line", ["trap - EXIT; cd sub", "exec true", "builtin() { :; }; cd sub"])
def test_wrapper_without_report_keeps_previous_state(tmp_path: Path, line: str) -> None:
    (tmp_path / "sub").mkdir()
    _, rep = _run_wrapped(line, tmp_path)
    assert rep is None


def test_wrapper_passes_line_verbatim() -> None:
    line = "echo \"$0\" 'a b' $((1+2)) # comment"
    script = wrap(line, Path("/w/.vsh-state-x"))
    assert script.endswith("\n" + line)
    assert script.count("\n") == 1


@pytest.mark.parametrize("kind", ["symlink", "fifo", "dir", "hardlink", "huge"])
def test_read_report_refuses_forged_files(tmp_path: Path, kind: str) -> None:
    secret = tmp_path / "secret"
    secret.write_bytes(_report(STATE_MAGIC, "cwd", "/", "set", "A", "1", "end"))
    ws = tmp_path / "ws"
    ws.mkdir()
    target = ws / ".vsh-state-x"
    if kind == "symlink":
        target.symlink_to(secret)
    elif kind == "fifo":
        os.mkfifo(target)
    elif kind == "dir":
        target.mkdir()
    elif kind == "hardlink":
        os.link(secret, target)
    else:
        target.write_bytes(b"x" * (2 << 20))
    started = time.monotonic()
    assert read_report(ws, ".vsh-state-x") is None
    assert time.monotonic() - started < 2
    assert not os.path.lexists(target)  # removed (the symlink itself, never its target)
    assert secret.exists()


def test_prompt_shows_workspace_directory_and_status(tmp_path: Path) -> None:
    ws = tmp_path / "proj"
    assert prompt_text(ws, ws, 0) == "vsh proj [0]$ "
    assert prompt_text(ws, ws / "a" / "b", 130) == "vsh proj/a/b [130]$ "
    assert "\x1b" not in prompt_text(tmp_path / "x\x1b[31m", tmp_path / "x\x1b[31m", 1)


# ---------------------------------------------------------------------------------------------------
# The real session through a pseudo-terminal.

PROMPT = re.compile(r"vsh (\S+) \[(\d+)\]\$ ")


class Shell:
    def __init__(self, child: object) -> None:
        import pexpect

        self.child: pexpect.spawn = child  # type: ignore[assignment]

    def wait_prompt(self, timeout: float = 30) -> tuple[str, int, str]:
        self.child.expect(PROMPT, timeout=timeout)
        m = self.child.match
        return m.group(1), int(m.group(2)), self.child.before

    def line(self, text: str, timeout: float = 30, answer: str | None = None) -> tuple[str, int, str]:
        """Send a line and wait for the next prompt. `answer`: the key to press if vsh asks for
        approval (None: it must not ask)."""
        self.child.sendline(text)
        if answer is not None:
            self.child.expect("Choose 1-6", timeout=timeout)
            self.child.send(answer)
        return self.wait_prompt(timeout)


@pytest.fixture
def stop_proxy(vsh_home: Path) -> Iterator[None]:
    """Runs start the egress proxy daemon on demand: stop this test's one afterwards."""
    yield
    if _has("vshell.proxy.client"):
        from vshell.proxy import client

        from vshell.environment import Environment

        client.stop(Environment(environ=vsh_env(vsh_home)))


def spawn_shell(tmp_path: Path, vsh_home: Path, tolerance: str = "low") -> Shell:
    pexpect = pytest.importorskip("pexpect")
    ws = tmp_path / "ws"
    (ws / "sub").mkdir(parents=True, exist_ok=True)
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    (vsh_home / "config.toml").write_text(
        f'[approval]\nauto_approve_up_to = "{tolerance}"\n[sandbox]\nworkspace = "{ws}"\n')
    env = vsh_env(vsh_home, HOME=str(home), TERM="dumb", PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    child = pexpect.spawn(sys.executable, ["-m", "vshell"], env=env, cwd=str(tmp_path),
                          encoding="utf-8", timeout=30, dimensions=(40, 200))
    sh = Shell(child)
    sh.wait_prompt()
    return sh


@pytest.fixture
def shell(tmp_path: Path, vsh_home: Path, stop_proxy: None) -> Iterator[Shell]:
    sh = spawn_shell(tmp_path, vsh_home)
    try:
        yield sh
    finally:
        if sh.child.isalive():
            sh.child.terminate(force=True)


@needs_bwrap
@needs_runner
def test_session_runs_lines_and_keeps_cd_and_exports(shell: Shell, vsh_home: Path) -> None:
    where, status, out = shell.line("echo hi")
    assert "hi" in out and status == 0 and where == "ws"

    where, status, _ = shell.line("cd sub")
    assert where == "ws/sub" and status == 0
    _, _, out = shell.line("pwd")
    assert out.strip().splitlines()[-1].endswith("/ws/sub")

    shell.line("export FOO=bar")
    _, _, out = shell.line("echo \"[$FOO]\"")
    assert "[bar]" in out

    _, status, out = shell.line("export LD_PRELOAD=x", answer="1")  # medium risk: allowed once
    assert status == 0
    assert "not kept" in out and "LD_PRELOAD" in out
    _, _, out = shell.line("echo \"[${LD_PRELOAD-unset}]\"")
    assert "[unset]" in out

    where, _, out = shell.line("cd /")
    assert where == "ws/sub" and "outside the workspace" in out
    _, _, out = shell.line("pwd")
    assert out.strip().splitlines()[-1].endswith("/ws/sub")

    where, status, _ = shell.line("false")
    assert status == 1

    shell.child.sendeof()
    shell.child.expect(pexpect_eof(), timeout=15)
    shell.child.close()
    assert shell.child.exitstatus == 1  # Ctrl-D exits with the last status

    hist = vsh_home / "history"
    assert stat.S_IMODE(hist.stat().st_mode) == 0o600
    assert "cd sub" in hist.read_text().splitlines()


def pexpect_eof() -> object:
    import pexpect

    return pexpect.EOF


@needs_bwrap
@needs_runner
def test_ctrl_c_stops_the_command_not_the_session(shell: Shell) -> None:
    shell.line("true")  # the egress proxy is started on demand by the first run: not timed here
    shell.child.sendline("echo $((6*7))x; sleep 30")
    shell.child.expect("42x")  # the command is running (the typed line itself does not contain 42x)
    time.sleep(0.3)
    started = time.monotonic()
    shell.child.sendintr()
    _, status, _ = shell.wait_prompt(timeout=10)
    assert time.monotonic() - started < 5
    assert status == 130
    _, status, out = shell.line("echo alive")
    assert "alive" in out and status == 0
    # Ctrl-C at the prompt clears the line and keeps the session
    shell.child.send("echo never")
    time.sleep(0.3)
    shell.child.sendintr()
    shell.wait_prompt()
    _, _, out = shell.line("echo still")
    assert "still" in out and "never" not in out.replace("echo never", "")
    # Ctrl-C hard on the heels of typing (GNU readline could lose it and block until the next key)
    for _ in range(12):
        shell.child.send("echo gone")
        shell.child.sendintr()
        shell.wait_prompt(timeout=5)
    _, status, out = shell.line("echo last")
    assert "last" in out and status == 0


@needs_runner
def test_explain_env_and_history(shell: Shell, tmp_path: Path, vsh_home: Path) -> None:
    import pexpect

    _, status, out = shell.line(":explain rm -rf build && git push")
    assert status == 0
    assert "git push" in out and "decision here: ask" in out
    assert not (tmp_path / "ws" / "build").exists()
    _, _, out = shell.line(":env")
    assert "directory: " in out and str(tmp_path / "ws") in out
    # a line that looks like it holds a secret is not written to the history, nor carried over
    _, _, out = shell.line("export GH=ghp_1234567890abcdefghijklmnopqrstuvwxyzAB")
    assert "not kept" in out or "refused" in out  # vsh may refuse a line with a literal secret outright
    _, _, out = shell.line('echo "[${GH-unset}]"')
    assert "[unset]" in out
    shell.line("echo from-history")
    shell.child.sendeof()
    shell.child.expect(pexpect.EOF)
    hist = (vsh_home / "history").read_text().splitlines()
    assert hist[-1] == "echo from-history" and ":env" in hist
    assert not any("ghp_" in h for h in hist)
    again = spawn_shell(tmp_path, vsh_home)
    try:
        again.child.send("\x1b[A\r")  # Up, Enter: the last line of the previous session
        _, status, out = again.wait_prompt()
        assert status == 0 and "from-history" in out
    finally:
        again.child.terminate(force=True)


def test_help_and_exit_without_sandbox(shell: Shell) -> None:
    _, status, out = shell.line(":help")
    assert ":explain" in out and status == 0
    _, status, out = shell.line(":nope")
    assert "unknown session command" in out and status == 2
    shell.child.sendline(":exit 7")
    shell.child.expect(pexpect_eof(), timeout=15)
    shell.child.close()
    assert shell.child.exitstatus == 7


@needs_bwrap
@needs_runner
@pytest.mark.skipif(not HAS_PROMPT, reason="the approval prompt (vshell.prompt) is not in this build")
def test_refused_line_prints_refusal_and_session_continues(shell: Shell, tmp_path: Path) -> None:
    (tmp_path / "ws" / "x").mkdir()
    shell.child.sendline("rm -rf x")
    shell.child.expect("Choose 1-6", timeout=30)
    shell.child.send("5")  # Don't allow
    _, status, out = shell.wait_prompt()
    assert status == 126
    assert "refused" in out
    assert (tmp_path / "ws" / "x").is_dir()
    _, status, out = shell.line("echo after")
    assert "after" in out and status == 0


@needs_bwrap
@needs_runner
@pytest.mark.skipif(not HAS_PROMPT, reason="the approval prompt (vshell.prompt) is not in this build")
def test_session_grant_lives_exactly_as_long_as_the_session(tmp_path: Path, vsh_home: Path,
                                                            stop_proxy: None) -> None:
    import pexpect

    sh = spawn_shell(tmp_path, vsh_home, tolerance="none")  # every line asks
    try:
        sh.child.sendline("echo one")
        sh.child.expect("Choose 1-6")
        sh.child.send("3")  # Allow for this session
        _, status, out = sh.wait_prompt()
        assert status == 0 and "one" in out
        _, status, out = sh.line("echo two")  # granted for this session: no prompt
        assert status == 0 and "two" in out and "Choose" not in out
        sh.child.sendeof()
        sh.child.expect(pexpect.EOF)
    finally:
        sh.child.terminate(force=True)
    sh = spawn_shell(tmp_path, vsh_home, tolerance="none")  # a new session asks again
    try:
        sh.child.sendline("echo three")
        sh.child.expect("Choose 1-6")
        sh.child.send("5")
        _, status, _ = sh.wait_prompt()
        assert status == 126
    finally:
        sh.child.terminate(force=True)


@needs_runner
def test_broken_sandbox_is_reported_once_and_nothing_runs(tmp_path: Path, vsh_home: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """In process, lines from a pipe (no terminal: headless), with bubblewrap missing."""
    import io

    from vshell.bwrap import build

    from vshell.environment import Environment
    from vshell.session import interactive

    monkeypatch.setattr(build, "BWRAP_CANDIDATES", (str(tmp_path / "no-such-bwrap"),))
    ws = tmp_path / "ws"
    ws.mkdir()
    (vsh_home / "config.toml").write_text(f'[sandbox]\nworkspace = "{ws}"\n')
    out, err = io.StringIO(), io.StringIO()
    env = Environment(stdin=io.StringIO("echo a\nls\n:help\necho c\n"), stdout=out, stderr=err,
                      environ=vsh_env(vsh_home, HOME=str(tmp_path)))
    status = interactive(env)
    assert status == 125
    text = err.getvalue()
    assert text.count("bubblewrap is not installed") == 1
    assert text.count("no line runs until the sandbox works") == 1
    assert text.count("the sandbox is unavailable (see above)") == 2
    assert ":explain" in out.getvalue()  # session commands still work
    assert list(ws.iterdir()) == []  # nothing ran, not even unsandboxed


def test_wrapper_quotes_a_hostile_workspace_path(tmp_path: Path) -> None:
    ws = tmp_path / "it's a \"ws\" $(touch pwned) `id`"
    (ws / "sub").mkdir(parents=True)
    rc, rep = _run_wrapped("cd sub", ws)
    assert rc == 0 and rep is not None and rep.cwd == str((ws / "sub").resolve())
    assert not (tmp_path / "pwned").exists() and not (ws / "pwned").exists()
