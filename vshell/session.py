"""The interactive `vsh` session: a shell prompt whose every line is decided and run in the sandbox.

Each line the person types is handled in this order:
1. Session commands. A line whose first word is `:` followed by a name (`:help`, `:explain LINE`,
   `:rules`, `:env`, `:exit [N]`) belongs to vsh and never reaches a shell. The shell's own `:`
   builtin is untouched: `:` alone or `: > file` (colon, then a space) is shell syntax as usual.
   A line that is exactly `exit [N]` or `logout` ends the session, as in any shell.
2. Everything else is shell: decided by `vshell.approval` and run by `vshell.runner.execute` in a
   fresh sandboxed `bash -c`, in the session's current directory with its exported variables.

What persists between lines is the working directory and exported variables, nothing else (shell
options, functions, plain variables and aliases die with each line's bash, as with `bash -c`). They
are reported from inside the sandbox by an EXIT trap installed before the line runs: the line itself
is passed unchanged — `RunRequest.line` is exactly what the person typed, and it is what gets
classified — and runs as the last thing in the script, so no text of vsh's follows it that a quote
or heredoc could swallow. The report is a file with a fresh random name in the workspace root; the
sandboxed line can read that name and forge the file, so the report is read defensively (no
symlinks, regular file, size cap, strict format) and only ever used to choose a directory inside the
workspace and variables that pass the same deny list as the sandbox environment — nothing the line
could not have done by typing `cd` or `export` itself.

Exports that would change which code a later line runs are not carried over either (EDITOR, PAGER,
PYTHONPATH, NODE_OPTIONS, GIT_*, a PATH with a directory in the workspace, ...): each line is
judged by its text, and `ls` must still mean the system's `ls`. Such a variable can still be set on
the line that needs it (`PAGER=cat git log`), where the decision sees it.

Grants "for this session" are stored under a random session id made here, so they end with the
session: nothing can name them afterwards.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import stat
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vshell.errors import ExitCode, PolicyRefused, SandboxUnavailable, VshError

if TYPE_CHECKING:
    from vshell.config import Config
    from vshell.environment import Environment

HISTORY_LINES = 2000  # lines kept in $VSH_HOME/history
STATE_MAX_BYTES = 1 << 20  # a report larger than this is ignored
EXPORT_MAX_VALUE = 64 * 1024
EXPORT_MAX_COUNT = 256
STATE_MAGIC = "vsh-state-1"
STATE_PREFIX = ".vsh-state-"

# ---------------------------------------------------------------------------------------------------
# Which exported variables may persist between lines: first the sandbox environment's own deny rules
# (vshell.sandbox.env_refusal: LD_*, BASH_ENV, secrets-looking names, ...), then the session's.

_CODE = "changes which code programs run; put it on the line itself (`VAR=... cmd`) so the line is judged with it"

# exact name -> why it is not kept (on top of vshell.sandbox.env_refusal, which always applies)
DENIED_NAMES: dict[str, str] = {
    "HOME": "set by the sandbox",
    "USER": "set by the sandbox",
    "LOGNAME": "set by the sandbox",
    "TMPDIR": "set by the sandbox",
    # A later line is judged by its text: a variable carried over that makes `ls` or `git status`
    # run other code would make that judgement wrong.
    **dict.fromkeys((
        "EDITOR", "VISUAL", "PAGER", "MANPAGER", "BROWSER", "SSH_ASKPASS", "SUDO_ASKPASS", "LESSOPEN",
        "LESSCLOSE", "LESSKEY", "GCONV_PATH", "GLIBC_TUNABLES", "HOSTALIASES", "LOCPATH", "NLSPATH",
        "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_DATA_DIRS", "XDG_CONFIG_DIRS", "ZDOTDIR", "INPUTRC",
        "NODE_OPTIONS", "NODE_PATH", "CLASSPATH", "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS",
        "JDK_JAVA_OPTIONS", "PERL5LIB", "PERL5OPT", "PERLLIB", "RUBYOPT", "RUBYLIB", "RUSTC_WRAPPER",
        "RUSTC", "RUSTFLAGS", "GOFLAGS", "CC", "CXX", "MAKEFLAGS", "CDPATH", "TERMINFO", "PROMPT",
    ), _CODE),
}

# Maintained by bash itself: never carried over, and not worth a note.
SHELL_MANAGED = frozenset({"PWD", "OLDPWD", "SHLVL", "_"})

# name prefix -> why
DENIED_PREFIXES: dict[str, str] = {
    "GIT_": _CODE,
    "PYTHON": _CODE,
    "npm_config_": _CODE,
    "NPM_CONFIG_": _CODE,
    "MALLOC_": _CODE,
}

# Harmless names under a denied prefix.
ALLOWED_NAMES = frozenset({
    "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE", "PYTHONIOENCODING", "PYTHONHASHSEED", "PYTHONUTF8",
    "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL",
})

# Set per run by the egress proxy: a stale copy from an earlier line would break the next one.
PROXY_NAMES = frozenset(
    n for base in ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "ftp_proxy")
    for n in (base, base.upper())
) | frozenset({
    "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS",
    "GIT_SSL_CAINFO", "PIP_CERT", "AWS_CA_BUNDLE", "DENO_CERT", "CARGO_HTTP_CAINFO",
})

def export_refusal(name: str, value: str, workspace: Path | None = None) -> str | None:
    """Why the exported variable `name` may not persist into the next line; None when it may.

    PATH is kept only when no directory in it is relative, empty or inside `workspace` (the only tree
    a sandboxed line can write that survives it): it may add system directories, not plant programs
    that shadow the ones later lines are judged by. With workspace None, PATH is checked for relative
    and empty directories only."""
    from vshell.sandbox import env_refusal

    why = env_refusal(name)
    if why is not None:
        return why
    if name in PROXY_NAMES:
        return "set by vsh's egress proxy for each run"
    if name in DENIED_NAMES:
        return DENIED_NAMES[name]
    if len(value) > EXPORT_MAX_VALUE:
        return f"value longer than {EXPORT_MAX_VALUE} bytes"
    if name in ALLOWED_NAMES:
        return None
    for prefix, reason in DENIED_PREFIXES.items():
        if name.startswith(prefix):
            return reason
    if name == "PATH":
        return _path_refusal(value, workspace)
    if _looks_secret(value):
        return "its value looks like a secret; secrets never enter the sandbox (use `vsh cred`)"
    return None


def _path_refusal(value: str, workspace: Path | None) -> str | None:
    for entry in value.split(":"):
        if not entry.startswith("/"):
            return f"the directory {entry!r} is relative: programs would depend on the current directory"
        if workspace is not None and within(Path(os.path.realpath(entry)), workspace):
            return f"{entry} is inside the workspace: a program there could pass for another one"
    return None


# ---------------------------------------------------------------------------------------------------
# The wrapper around each line and the report it leaves behind.

# Runs before the line: remembers the exported variables the line starts with and installs the trap.
# `builtin` everywhere and `set +eu` because the line may redefine functions, IFS and options first.
_PROLOGUE = (
    "__vsh_save() { builtin local IFS=$'\\n' __vsh_n; builtin local -A __vsh_now; "
    "builtin set +eu; builtin cd -P . 2>/dev/null || builtin return 0; "
    "{ builtin printf '%s\\0cwd\\0%s\\0' " + STATE_MAGIC + " \"$PWD\"; "
    "for __vsh_n in $(builtin compgen -e); do __vsh_now[$__vsh_n]=1; "
    "if [[ ! -v \"__vsh_env0[$__vsh_n]\" || \"${__vsh_env0[$__vsh_n]}\" != \"${!__vsh_n}\" ]]; "
    "then builtin printf 'set\\0%s\\0%s\\0' \"$__vsh_n\" \"${!__vsh_n}\"; fi; done; "
    "for __vsh_n in \"${!__vsh_env0[@]}\"; do [[ -v \"__vsh_now[$__vsh_n]\" ]] || "
    "builtin printf 'unset\\0%s\\0' \"$__vsh_n\"; done; "
    "builtin printf 'end\\0'; } > {STATE} 2>/dev/null; builtin return 0; }; "
    "builtin declare -A __vsh_env0; "
    "for __vsh_n in $(builtin compgen -e); do __vsh_env0[$__vsh_n]=${!__vsh_n}; done; "
    "builtin unset __vsh_n; builtin trap __vsh_save EXIT\n"
)


def wrap(line: str, state_file: Path) -> str:
    """The script bash runs for `line`: the prologue on its own first line, then `line` unchanged."""
    quoted = "'" + str(state_file).replace("'", "'\\''") + "'"
    return _PROLOGUE.replace("{STATE}", quoted) + line


@dataclass(frozen=True)
class Report:
    """What the line's EXIT trap reported. Untrusted: written by the sandboxed line's shell.

    cwd: the physical working directory at exit (None: not reported).
    exported: variables exported at exit that are new or changed since the line started.
    unexported: variables exported when the line started that are no longer exported.
    """

    cwd: str | None = None
    exported: tuple[tuple[str, str], ...] = ()
    unexported: tuple[str, ...] = ()


def parse_report(data: bytes) -> Report | None:
    """Parse a state report strictly; None for anything malformed (the previous state is kept)."""
    if len(data) > STATE_MAX_BYTES or not data.endswith(b"\0"):
        return None
    try:
        fields = data[:-1].decode("utf-8").split("\0")
    except UnicodeDecodeError:
        return None
    if len(fields) < 3 or fields[0] != STATE_MAGIC or fields[1] != "cwd" or fields[-1] != "end":
        return None
    cwd = fields[2]
    exported: list[tuple[str, str]] = []
    unexported: list[str] = []
    rest = iter(fields[3:-1])
    for kind in rest:
        try:
            if kind == "set":
                exported.append((next(rest), next(rest)))
            elif kind == "unset":
                unexported.append(next(rest))
            else:
                return None
        except StopIteration:
            return None
    if len(exported) + len(unexported) > 4 * EXPORT_MAX_COUNT:
        return None
    return Report(cwd or None, tuple(exported), tuple(unexported))


def read_report(workspace: Path, name: str) -> Report | None:
    """Read and delete the report `name` in the workspace root, refusing anything but a plain file.

    The sandboxed line knows the name and may have put a symlink, FIFO, directory or hard link
    there instead: we never follow a link and never block. None when absent or unusable."""
    try:
        dir_fd = os.open(workspace, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
        except OSError:
            fd = -1
        data = b""
        if fd >= 0:
            try:
                st = os.fstat(fd)
                if stat.S_ISREG(st.st_mode) and st.st_nlink == 1 and st.st_size <= STATE_MAX_BYTES:
                    data = os.read(fd, STATE_MAX_BYTES + 1)
            finally:
                os.close(fd)
        _remove_entry(dir_fd, name)
    finally:
        os.close(dir_fd)
    return parse_report(data) if data else None


def _remove_entry(dir_fd: int, name: str) -> None:
    try:
        os.unlink(name, dir_fd=dir_fd)
    except IsADirectoryError:
        try:
            os.rmdir(name, dir_fd=dir_fd)
        except OSError:
            pass  # a non-empty directory the line made under our name: its own business, left alone
    except FileNotFoundError:
        pass
    except PermissionError:
        pass  # e.g. a read-only workspace: nothing was written there either


# ---------------------------------------------------------------------------------------------------
# Session state: pure transitions.


@dataclass(frozen=True)
class ShellState:
    """What persists between lines. cwd is a resolved directory inside the workspace."""

    cwd: Path
    exports: tuple[tuple[str, str], ...] = ()

    @property
    def env(self) -> dict[str, str]:
        return dict(self.exports)


def within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def apply_report(state: ShellState, report: Report, workspace: Path) -> tuple[ShellState, tuple[str, ...]]:
    """The state after a line, and notes for the person about what was not kept.

    workspace must be resolved. The reported cwd is resolved on the host and accepted only when it is
    an existing directory inside the workspace; exports pass `export_refusal`."""
    notes: list[str] = []
    cwd = state.cwd
    if report.cwd is not None:
        target = Path(os.path.realpath(report.cwd)) if report.cwd.startswith("/") else None
        if target is not None and within(target, workspace):
            if target.is_dir():  # else it was removed: Session falls back to an existing parent
                cwd = target
        else:
            notes.append(f"the working directory stays {_show(str(state.cwd))}: "
                         f"{_show(report.cwd)} is outside the workspace")
    exports = dict(state.exports)
    for name in report.unexported:
        exports.pop(name, None)
    refused: list[str] = []
    for name, value in report.exported:
        if name in SHELL_MANAGED:
            continue
        why = export_refusal(name, value, workspace)
        if why is None:
            exports[name] = value
        else:
            exports.pop(name, None)
            refused.append(f"{_show(name)} ({why})")
    if len(exports) > EXPORT_MAX_COUNT:
        refused.append(f"variables beyond {EXPORT_MAX_COUNT}")
        exports = dict(list(exports.items())[:EXPORT_MAX_COUNT])
    if refused:
        notes.append("not kept for the next line: " + ", ".join(refused))
    return ShellState(cwd, tuple(sorted(exports.items()))), tuple(notes)


def _show(text: str) -> str:
    """Text with control characters made visible (vshell.display when present)."""
    try:
        from vshell.display import visible
    except ImportError:
        return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)
    return visible(text)


def prompt_text(workspace: Path, cwd: Path, status: int, home: Path | None = None) -> str:
    """`vsh NAME/REL [STATUS]$ `: the workspace's last component (home shortened to ~), the directory
    inside it, and the last exit status."""
    name = "~" if home is not None and workspace == home else workspace.name or str(workspace)
    rel = cwd.relative_to(workspace).as_posix() if within(cwd, workspace) else str(cwd)
    where = name if rel == "." else f"{name}/{rel}"
    if len(where) > 48:
        where = "…" + where[-47:]
    return f"vsh {_show(where)} [{status}]$ "


# ---------------------------------------------------------------------------------------------------
# Session commands.


@dataclass(frozen=True)
class SessionCommand:
    name: str
    arg: str


SESSION_RE = re.compile(r"\s*:([A-Za-z][\w-]*)(?:\s+(.*))?\s*", re.DOTALL)
EXIT_RE = re.compile(r"\s*(?:exit(?:\s+(\d{1,3}))?|logout)\s*")


def parse_session_command(line: str) -> SessionCommand | None:
    """A `:name [ARG]` session command, or None when the line is shell syntax."""
    m = SESSION_RE.fullmatch(line)
    if m is None:
        return None
    return SessionCommand(m.group(1).lower(), (m.group(2) or "").strip())


def exit_request(line: str) -> int | None:
    """The status a bare `exit [N]` / `logout` line asks for (-1: the last status); None otherwise."""
    m = EXIT_RE.fullmatch(line)
    if m is None:
        return None
    return int(m.group(1)) & 0xFF if m.group(1) else -1


HELP = """\
vsh session: every line is decided by your trust rules and risk tolerance, then run in the sandbox.
`cd` and exported variables carry over to the next line; other shell state (functions, options,
plain variables) does not, nor do variables that change which code runs (PATH into the workspace,
EDITOR, PYTHONPATH, LD_*, ...) or that look like secrets: set those on the line that needs them.
Ctrl-C stops the running command; Ctrl-D or `exit` leaves the session.

Session commands (a colon and a name; `: ...` with a space stays the shell's no-op builtin):
  :help            this text
  :explain LINE    how LINE would be classified and decided, without running it
  :rules           the trust rules in force
  :env             the exported variables carried between lines, and the working directory
  :exit [N]        leave the session (status N, default the last status)
"""


# ---------------------------------------------------------------------------------------------------
# History.


@dataclass
class History:
    """The session's line history in $VSH_HOME/history (0600, at most HISTORY_LINES lines).

    readline (when importable) provides editing and recall; without it lines are still recorded.
    Lines starting with a space and lines that look like they hold a secret are not recorded."""

    path: Path
    readline: Any = None
    limit: int = HISTORY_LINES

    def load(self) -> None:
        lines = self._read()
        if len(lines) > self.limit:
            lines = lines[-self.limit:]
            self._rewrite(lines)
        if self.readline is not None:
            self.readline.clear_history()
            for entry in lines:
                self.readline.add_history(entry)

    def _read(self) -> list[str]:
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:  # absent, or a symlink planted in its place: start with no history
            return []
        with os.fdopen(fd, "rb") as f:
            raw = f.read(8 << 20)
        return [x for x in raw.decode("utf-8", "replace").split("\n") if x]

    def _rewrite(self, lines: Sequence[str]) -> None:
        from vshell.state import atomic_write

        atomic_write(self.path, "".join(f"{x}\n" for x in lines).encode(), mode=0o600)

    def add(self, line: str) -> None:
        if not line.strip() or line.startswith(" ") or "\n" in line or _looks_secret(line):
            return
        if self.readline is not None:
            self.readline.add_history(line)
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, f"{line}\n".encode())
        finally:
            os.close(fd)


def _looks_secret(line: str) -> bool:
    try:
        from vshell.secretscan import find_secrets
    except ImportError:
        return False
    return bool(find_secrets(line))


def _import_readline() -> Any:
    try:
        import readline
    except ImportError:
        return None
    readline.set_auto_history(False)
    return readline


# ---------------------------------------------------------------------------------------------------
# The session loop.


@dataclass
class Session:
    env: Environment
    workspace: Path
    state: ShellState
    context: str
    session_id: str = field(default_factory=lambda: "vsh-session:" + secrets.token_hex(16))
    status: int = 0
    sandbox_reported: bool = False
    tty: bool = False  # stdin is a terminal: prompts are shown and the context is "conversation"
    signals: Mapping[int, Any] = field(default_factory=lambda: _saved_signals())
    termios_state: list[Any] | None = None  # the terminal's settings at the start, restored after runs
    history: History | None = None
    ask: Callable[[str], str] = input

    def out(self, text: str) -> None:
        print(text, file=self.env.stdout, flush=True)

    def lines(self, prompt: Callable[[], str]) -> Iterator[str | None]:
        """Lines from the person; None for a Ctrl-C at the prompt. Ends at Ctrl-D."""
        while True:
            try:
                with _ticking(self.tty, self.env.stdin):
                    line = self.ask(prompt())
                yield line
            except KeyboardInterrupt:
                print(file=self.env.stdout, flush=True)
                yield None
            except EOFError:
                if self.tty:
                    print(file=self.env.stdout, flush=True)
                return

    def handle(self, line: str) -> int | None:
        """Handle one line; returns an exit status when the session should end."""
        if not line.strip():
            return None
        if self.history is not None:
            try:
                self.history.add(line)
            except OSError as e:
                self.env.warn(f"history not saved ({e.strerror}); the session goes on without it")
                self.history = None
        wanted = exit_request(line)
        if wanted is not None:
            return self.status if wanted < 0 else wanted
        command = parse_session_command(line)
        if command is not None:
            return self.session_command(command)
        self.status = self.run_line(line)
        return None

    def session_command(self, cmd: SessionCommand) -> int | None:
        handler = SESSION_COMMANDS.get(cmd.name)
        if handler is None:
            self.env.warn(f"unknown session command :{_show(cmd.name)} (see :help)")
            self.status = ExitCode.USAGE
            return None
        try:
            return handler(self, cmd.arg)
        except ImportError as e:
            self.env.warn(f":{cmd.name} is unavailable in this build ({e.name} is missing)")
            self.status = ExitCode.VSH_FAILED
            return None

    def run_line(self, line: str) -> int:
        from vshell.runner import RunRequest, execute

        self._ensure_cwd()
        state_name = STATE_PREFIX + secrets.token_hex(12)
        req = RunRequest(
            line=line,
            argv=("bash", "-c", wrap(line, self.workspace / state_name)),
            workspace=self.workspace,
            cwd=self.state.cwd,
            creds=(),
            context=self.context,
            host=False,
            timeout=None,
            session_id=self.session_id,
            extra_env=self.state.env,
        )
        try:
            status = execute(self.env, req)
        except KeyboardInterrupt:
            status = 130
        except PolicyRefused as e:
            self._error(e)
            return int(e.exit_code)
        except SandboxUnavailable as e:
            if not self.sandbox_reported:
                self._error(e)
                self.env.warn("no line runs until the sandbox works (`vsh doctor` checks it)")
                self.sandbox_reported = True
            else:
                self.env.warn("the sandbox is unavailable (see above); the line did not run")
            return int(e.exit_code)
        except VshError as e:
            self._error(e)
            return int(e.exit_code)
        finally:
            # The prompt's own Ctrl-C behaviour comes back whatever happened during the run (a
            # Ctrl-C that lands while the runner swaps handlers must not leave its handler behind).
            _restore_signals(self.signals)
            _restore_terminal(self.env.stdin, self.termios_state)
            report = read_report(self.workspace, state_name)
        if status == 130 and _isatty(self.env.stdout):
            print(file=self.env.stdout, flush=True)  # as bash does: the prompt starts on a new line
        if report is not None:
            self.state, notes = apply_report(self.state, report, self.workspace)
            for note in notes:
                self.env.warn(note)
        else:
            self.env.trace("the line left no state report: directory and variables unchanged")
        return status

    def _ensure_cwd(self) -> None:
        """A directory removed since (e.g. `rmdir` of the current one) falls back to its nearest
        existing parent inside the workspace, as the person would otherwise be stuck."""
        cwd = self.state.cwd
        while cwd != self.workspace and not cwd.is_dir():
            cwd = cwd.parent
        if cwd != self.state.cwd:
            self.env.warn(f"{_show(str(self.state.cwd))} no longer exists; now in {_show(str(cwd))}")
            self.state = ShellState(cwd, self.state.exports)

    def _error(self, e: VshError) -> None:
        self.env.warn(e.message)
        if e.hint:
            print(f"  hint: {e.hint}", file=self.env.stderr, flush=True)
        if self.env.debug and e.detail:
            print(e.detail, file=self.env.stderr, flush=True)

    def loop(self) -> int:
        home = Path(self.env.environ.get("HOME", "/nonexistent"))
        for line in self.lines(lambda: prompt_text(self.workspace, self.state.cwd, self.status, home)
                               if self.tty else ""):
            if line is None:
                continue
            try:
                done = self.handle(line)
            except KeyboardInterrupt:
                print(file=self.env.stdout, flush=True)
                self.status = 130
                continue
            except VshError as e:
                self._error(e)
                self.status = int(e.exit_code)
                continue
            if done is not None:
                return done
        return self.status


SESSION_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
PROMPT_TICK = 0.2  # seconds


@contextlib.contextmanager
def _ticking(enabled: bool, stdin: Any = None) -> Iterator[None]:
    """Make Ctrl-C at the prompt reliable under GNU readline.

    CPython's readline loop notices a pending signal only when its select() is interrupted, and GNU
    readline's own read retries on EINTR for signals it does not catch. A Ctrl-C that lands while
    readline is handling keys is therefore lost until the next key, and worse, the terminal's
    flush-on-interrupt empties the input that select() just promised, so readline blocks in its own
    read. Two remedies while waiting at the prompt: NOFLSH (the interrupt does not discard pending
    input, which readline then drops with the line) and a wake-up every PROMPT_TICK seconds that
    gives CPython its chance to raise KeyboardInterrupt."""
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield
        return
    import termios

    saved = _terminal_state(stdin)
    if saved is not None:
        guarded = list(saved)
        guarded[3] = saved[3] | termios.NOFLSH
        _set_terminal(stdin, guarded)
    previous = signal.signal(signal.SIGALRM, _tick)
    signal.setitimer(signal.ITIMER_REAL, PROMPT_TICK, PROMPT_TICK)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        _set_terminal(stdin, saved)


def _tick(signum: int, frame: Any) -> None:
    """Nothing to do: being called is the point (see _ticking)."""


def _saved_signals() -> dict[int, Any]:
    return {s: signal.getsignal(s) for s in SESSION_SIGNALS}


def _restore_signals(saved: Mapping[int, Any]) -> None:
    if threading.current_thread() is not threading.main_thread():
        return
    for sig, handler in saved.items():
        if handler is not None and signal.getsignal(sig) is not handler:
            signal.signal(sig, handler)


def _terminal_state(stream: Any) -> list[Any] | None:
    import termios

    try:
        return termios.tcgetattr(stream.fileno())
    except (AttributeError, ValueError, OSError, termios.error):
        return None


def _restore_terminal(stream: Any, state: list[Any] | None) -> None:
    """Put the terminal back as it was: a command may leave it raw, without echo, or without
    signals (`stty raw`, a crashed full-screen program)."""
    _set_terminal(stream, state)


def _set_terminal(stream: Any, state: list[Any] | None) -> None:
    if state is None:
        return
    import termios

    try:
        termios.tcsetattr(stream.fileno(), termios.TCSADRAIN, state)
    except (AttributeError, ValueError, OSError, termios.error) as e:
        del e  # the terminal went away: the next read ends the session


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _cmd_help(s: Session, arg: str) -> int | None:
    s.out(HELP.rstrip("\n"))
    s.status = 0
    return None


def _cmd_exit(s: Session, arg: str) -> int | None:
    if not arg:
        return s.status
    if not arg.isdigit():
        s.env.warn(":exit takes a number")
        s.status = ExitCode.USAGE
        return None
    return int(arg) & 0xFF


def _cmd_env(s: Session, arg: str) -> int | None:
    s.out(f"workspace: {_show(str(s.workspace))}")
    s.out(f"directory: {_show(str(s.state.cwd))}")
    if not s.state.exports:
        s.out("exported: (none carried between lines)")
    for name, value in s.state.exports:
        s.out(f"export {name}={_show(value)}")
    s.status = 0
    return None


def _cmd_rules(s: Session, arg: str) -> int | None:
    from vshell.rules import RuleStore

    with RuleStore(s.env.paths) as store:
        rules = store.list()
    if not rules:
        s.out("no trust rules: lines are decided by the risk tolerance and prompts")
    for rule in rules:
        s.out(_show(rule.describe()))
    s.status = 0
    return None


def _cmd_explain(s: Session, arg: str) -> int | None:
    if not arg:
        s.env.warn("usage: :explain LINE")
        s.status = ExitCode.USAGE
        return None
    from vshell.classify import classify, render_human

    c = classify(arg)
    s.out(render_human(c))
    decision = _dry_decision(s, c)
    if decision is not None:
        s.out(decision)
    s.status = 0
    return None


def _dry_decision(s: Session, c: Any) -> str | None:
    """What the rules and tolerance would decide for `c` here, without prompting or recording."""
    try:
        from vshell.decide import decide
        from vshell.grants import GrantStore
        from vshell.rules import RuleStore
    except ImportError:
        return None
    import time

    config = s.env.config()
    with RuleStore(s.env.paths) as store:
        rules = store.list(include_expired=False)
        grants = GrantStore(store).active(s.session_id, time.time())
    d = decide(c, rules=rules, grants=grants, tool="bash", context=s.context,
               tolerance=config.tolerance, mode=config.mode, cwd=s.state.cwd, workspace=s.workspace)
    lines = [f"decision here: {d.decision} (risk {d.risk.label})"]
    lines += [f"  {_show(t)}" for t in d.trace]
    if d.decision != "allow" and d.suggested_rule:
        lines.append(f"  to allow it: {_show(d.suggested_rule)}")
    return "\n".join(lines)


SESSION_COMMANDS: Mapping[str, Callable[[Session, str], int | None]] = {
    "help": _cmd_help,
    "h": _cmd_help,
    "explain": _cmd_explain,
    "rules": _cmd_rules,
    "env": _cmd_env,
    "exit": _cmd_exit,
    "quit": _cmd_exit,
    "q": _cmd_exit,
}


def session_workspace(env: Environment, config: Config) -> Path:
    """The session's workspace, resolved, chosen exactly as `vsh run` chooses it."""
    from vshell.sandbox import resolve_workspace

    return resolve_workspace(env, config, None)


def interactive(env: Environment) -> int:
    """Run a session on env's streams until Ctrl-D, `exit` or `:exit`; returns the last status."""
    config = env.config()
    workspace = session_workspace(env, config)
    tty = _isatty(env.stdin)
    readline = _import_readline() if tty else None
    env.paths.ensure()
    history = History(env.paths.history, readline)
    history.load()
    context = "conversation" if tty else "headless"
    session = Session(env, workspace, ShellState(workspace), context, history=history,
                      ask=_reader(env, tty), tty=tty, termios_state=_terminal_state(env.stdin) if tty else None)
    if tty:
        env.warn(f"session in {workspace}; :help for session commands, Ctrl-D to leave")
    return session.loop()


def _reader(env: Environment, tty: bool) -> Callable[[str], str]:
    if tty and env.stdin is sys.stdin:
        return input

    def read(prompt: str) -> str:
        if prompt:
            print(prompt, end="", file=env.stdout, flush=True)
        line = env.stdin.readline()
        if not line:
            raise EOFError
        return line.rstrip("\n")

    return read


__all__ = [
    "Report",
    "Session",
    "ShellState",
    "apply_report",
    "exit_request",
    "export_refusal",
    "interactive",
    "parse_report",
    "parse_session_command",
    "prompt_text",
    "wrap",
]
