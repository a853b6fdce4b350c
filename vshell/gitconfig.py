"""What a git config names in the workspace: hook directories, included files and programs.

Host git runs hooks from `core.hooksPath`, reads more config from `include.path` and
`includeIf.<cond>.path`, and runs programs named by keys such as `core.fsmonitor`, a diff
driver's `textconv` or a `!` alias. Where such a path lies in the workspace, a sandboxed run could
rewrite what the host runs next; vshell.protected protects those paths like `.git/hooks`.

The reader follows git's own (config.c): bytes, lines split at LF only, a UTF-8 byte-order mark
skipped, sections `[s]`, `[s "sub"]` (with `\\"` and `\\\\`) and `[s.sub]`, a key on the header's
line, values with quotes, `\\n \\t \\b \\" \\\\` escapes, backslash-newline continuations and
comments. What git would refuse raises GitConfigError: vsh cannot protect what it cannot read.
"""

from __future__ import annotations

BOM = b"\xef\xbb\xbf"


class GitConfigError(ValueError):
    """A config git itself would not read."""


# (section, key) whose value is a path: hooks directory, or more config.
HOOKS_KEYS = frozenset({("core", "hookspath")})
WORKTREE_KEYS = frozenset({("core", "worktree")})  # a submodule's worktree, relative to its git directory
INCLUDE_KEYS = frozenset({("include", "path"), ("includeif", "path")})
# (section, key) whose value is a command line git runs (the section's subsection, e.g. the
# driver's name in diff.<driver>.textconv, does not matter).
PROGRAM_KEYS = frozenset({
    ("core", "fsmonitor"), ("core", "sshcommand"), ("core", "editor"), ("core", "pager"),
    ("core", "askpass"), ("sequence", "editor"), ("diff", "external"), ("diff", "textconv"),
    ("diff", "command"), ("filter", "clean"), ("filter", "smudge"), ("filter", "process"),
    ("merge", "driver"), ("gpg", "program"), ("credential", "helper"), ("interactive", "difffilter"),
    ("mergetool", "cmd"), ("difftool", "cmd"), ("mergetool", "path"), ("difftool", "path"),
    ("web", "browser"), ("browser", "cmd"), ("browser", "path"), ("sendemail", "smtpserver"),
    ("pager", ""), ("alias", ""),  # any key: pager.<cmd>, alias.<name> (a `!` alias runs a shell)
})


def entries(data: bytes) -> list[tuple[str, str, str]]:
    """(section, key, value) for every entry, section and key lower-cased as git compares them
    (the subsection is left out). Raises GitConfigError where git would."""
    p = _Reader(data[len(BOM):] if data.startswith(BOM) else data)
    out: list[tuple[str, str, str]] = []
    section = ""
    while (c := p.next()) is not None:
        if c in " \t\r\n":
            continue
        if c in "#;":
            p.skip_line()
        elif c == "[":
            section = p.header()
        elif c.isalpha():
            key = c + p.take_while(lambda ch: ch.isalnum() or ch == "-")
            if not section:
                raise GitConfigError(f"key {key!r} outside any section")
            out.append((section, key.lower(), p.value()))
        else:
            raise GitConfigError(f"unexpected {c!r} at byte {p.pos}")
    return out


def named(data: bytes) -> list[tuple[str, str]]:
    """("hooks" | "include" | "program" | "worktree", value) for each entry that names a path or a
    program."""
    out: list[tuple[str, str]] = []
    for section, key, value in entries(data):
        if (section, key) in HOOKS_KEYS:
            out.append(("hooks", value))
        elif (section, key) in WORKTREE_KEYS:
            out.append(("worktree", value))
        elif (section, key) in INCLUDE_KEYS:
            out.append(("include", value))
        elif (section, key) in PROGRAM_KEYS or (section, "") in PROGRAM_KEYS:
            out.append(("program", value))
    return out


def program_paths(command: str) -> list[str]:
    """The words of a command line git runs that name a file by path (containing `/`): the program
    itself or a script handed to an interpreter. A bare name is looked up on PATH, not in the
    workspace. Quotes are dropped; words are split at whitespace and shell operators."""
    text = command[1:] if command.startswith("!") else command
    for op in ";|&()<>`":
        text = text.replace(op, " ")
    words = (w.strip("'\"") for w in text.split())
    return [w for w in words if "/" in w and not w.startswith("-") and "$" not in w]


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.text = data.decode("utf-8", "surrogateescape")
        self.pos = 0

    def next(self) -> str | None:
        if self.pos >= len(self.text):
            return None
        c = self.text[self.pos]
        self.pos += 1
        return c

    def peek(self) -> str | None:
        return self.text[self.pos] if self.pos < len(self.text) else None

    def skip_line(self) -> None:
        end = self.text.find("\n", self.pos)
        self.pos = len(self.text) if end < 0 else end + 1

    def take_while(self, ok: object) -> str:
        start = self.pos
        while self.pos < len(self.text) and ok(self.text[self.pos]):  # type: ignore[operator]
            self.pos += 1
        return self.text[start:self.pos]

    def header(self) -> str:
        """After `[`: the section's name (lower-cased); the subsection is read and dropped."""
        name = self.take_while(lambda ch: ch.isalnum() or ch in "-.")
        if not name:
            raise GitConfigError(f"empty section name at byte {self.pos}")
        section = name.split(".", 1)[0].lower()
        c = self.next()
        if c == "]":
            return section
        if c not in (" ", "\t") or "." in name:
            raise GitConfigError(f"bad section header at byte {self.pos}")
        self.take_while(lambda ch: ch in " \t")
        if self.next() != '"':
            raise GitConfigError(f"bad subsection at byte {self.pos}")
        while (c := self.next()) != '"':
            if c is None or c == "\n":
                raise GitConfigError("unterminated subsection")
            if c == "\\" and self.next() is None:
                raise GitConfigError("unterminated subsection")
        if self.next() != "]":
            raise GitConfigError(f"bad section header at byte {self.pos}")
        return section

    def value(self) -> str:
        """After a key: `= value` (or nothing: a boolean), up to the end of its (continued) line."""
        self.take_while(lambda ch: ch in " \t")
        c = self.peek()
        if c is None or c in "\r\n#;":
            return ""
        if c != "=":
            raise GitConfigError(f"bad key at byte {self.pos}")
        self.pos += 1
        out: list[str] = []
        space = 0  # whitespace held back: kept only if more of the value follows
        quoted = False
        started = False
        while (c := self.next()) is not None:
            if c == "\n":
                if quoted:
                    raise GitConfigError("newline inside quotes")
                break
            if not quoted and c in " \t\r":
                space += 1
                continue
            if not quoted and c in "#;":
                self.skip_line()
                break
            if started and space:
                out.append(" " * space)
            space = 0
            started = True
            if c == "\\":
                e = self.next()
                if e == "\n":
                    continue  # a continuation
                if e is None or e not in 'ntb"\\':
                    raise GitConfigError(f"bad escape at byte {self.pos}")
                out.append({"n": "\n", "t": "\t", "b": "\b"}.get(e, e))
            elif c == '"':
                quoted = not quoted
            else:
                out.append(c)
        if quoted:
            raise GitConfigError("unterminated quote")
        return "".join(out)
