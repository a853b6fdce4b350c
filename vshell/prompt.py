"""The approval prompt, on the controlling terminal (/dev/tty) — never the command's stdin.

What the person sees: the whole line with control characters made visible, each action with its
risk, its reasons and whether it still needs approval, and whether it would run sandboxed or on the
host. Then six choices, answered with one key:

    1 / o  Allow once               4 / a  Always allow (stores a rule)
    2 / t  Allow for 10 minutes     5 / n  Don't allow   (also Enter, Esc, q, Ctrl-C, Ctrl-D)
    3 / s  Allow for this session   6 / d  Always deny   (stores a rule)

Choices 2 and 3 are not offered when an action is high risk (temporary grants never cover those);
choice 4 is not offered when no rule could allow the line (it did not parse). "Always" then asks for
the pattern (a ladder from the exact line to broader prefixes; Enter takes the first) and the scope
(d = this directory, p = the project root (the enclosing git repository), e = everywhere; Enter = d).

The terminal is put in cbreak mode for single keys and restored afterwards, whatever happens.
"""

from __future__ import annotations

import os
import termios
import tty
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from vshell.decide import Decision, show, show_words
from vshell.errors import PolicyRefused

CHOICES: tuple[tuple[str, str, str, str], ...] = (
    ("1", "o", "once", "Allow once"),
    ("2", "t", "10m", "Allow for 10 minutes"),
    ("3", "s", "session", "Allow for this session"),
    ("4", "a", "always", "Always allow"),
    ("5", "n", "no", "Don't allow"),
    ("6", "d", "never", "Always deny"),
)
DECLINE_KEYS = {"\r", "\n", "\x1b", "q", "Q", "\x03", "\x04", ""}
SCOPES = (("d", "this directory"), ("p", "the project root"), ("e", "everywhere"))


@dataclass(frozen=True)
class Answer:
    """choice: "once", "10m", "session", "always", "no" or "never". For "always"/"never": the pattern
    chosen and the scope (None = everywhere)."""

    choice: str
    pattern: str | None = None
    scope: Path | None = None


@dataclass(frozen=True)
class Offer:
    """What the prompt may offer: grants (False when an action is high risk), the patterns that
    would allow the line (empty: "Always allow" not offered) and those that may deny it."""

    grants: bool
    allow_patterns: tuple[str, ...]
    deny_patterns: tuple[str, ...]
    directory: Path
    project_root: Path | None


def project_root(directory: Path) -> Path | None:
    """The enclosing git repository (the nearest ancestor holding `.git`), None outside one."""
    for d in (directory, *directory.parents):
        if (d / ".git").exists():
            return d
    return None


class _Tty:
    def __init__(self, path: str) -> None:
        try:
            self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        except OSError as e:
            raise PolicyRefused(f"approval needed but the terminal cannot be opened ({e.strerror})") from None
        self.out: BinaryIO = os.fdopen(os.dup(self.fd), "wb", buffering=0)
        self.saved: list[Any] | None = None

    def __enter__(self) -> _Tty:
        try:
            self.saved = termios.tcgetattr(self.fd)
            tty.setcbreak(self.fd)
            # Keys typed before the question was shown must not answer it.
            termios.tcflush(self.fd, termios.TCIFLUSH)
        except termios.error:
            self.saved = None
        return self

    def __exit__(self, *exc: object) -> None:
        if self.saved is not None:
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self.saved)
        self.out.close()
        os.close(self.fd)

    def write(self, text: str) -> None:
        self.out.write(text.replace("\n", "\r\n").encode("utf-8", "replace"))

    def key(self) -> str:
        """One key press ("" at end of input). Escape sequences (arrows) come back as Esc."""
        data = os.read(self.fd, 16)
        if not data:
            return ""
        return data.decode("utf-8", "replace")[0]


def render(d: Decision, offer: Offer) -> str:
    c = d.classification
    where = "on the HOST, unsandboxed" if d.tool == "host_bash" else "in the sandbox"
    lines = [
        "",
        f"vsh: approval needed to run {where} (risk {d.risk.label})",
        f"  line: {show(c.command)}",
    ]
    for a in d.actions:
        state = "needs approval" if a.decision != "allow" else f"allowed ({a.by})"
        lines.append(f"  {a.index}. {show_words(a.action.words or a.action.argv)}  "
                     f"[risk {a.action.risk.label}; {state}]")
        for r in a.action.reasons:
            lines.append(f"       - {show(r.text)}")
        if a.decision != "allow" and a.barred:
            lines.append(f"       - rules cannot allow it: {show('; '.join(a.barred))}")
    for r in c.reasons:
        lines.append(f"  ! {show(r.text)}")
    lines.append("")
    for num, letter, choice, label in CHOICES:
        unavailable = (choice in ("10m", "session") and not offer.grants) or (
            choice == "always" and not offer.allow_patterns)
        note = "  (not available: high risk)" if choice in ("10m", "session") else "  (no rule can allow this)"
        lines.append(f"  [{num}/{letter}] {label}{note if unavailable else ''}")
    lines.append("Choose 1-6 (Enter = Don't allow): ")
    return "\n".join(lines)


def _available(choice: str, offer: Offer) -> bool:
    if choice in ("10m", "session"):
        return offer.grants
    if choice == "always":
        return bool(offer.allow_patterns)
    return True


def _pick(t: _Tty, title: str, options: Sequence[tuple[str, str]]) -> str | None:
    """A single-key menu; returns the chosen option's key, the first on Enter, None on Esc/q/^C/^D."""
    t.write(f"\n{title}\n")
    for k, label in options:
        t.write(f"  [{k}] {label}\n")
    t.write(f"Choose (Enter = {options[0][0]}): ")
    while True:
        k = t.key()
        if k in ("\r", "\n"):
            t.write(options[0][0] + "\n")
            return options[0][0]
        if k in ("\x1b", "q", "\x03", "\x04", ""):
            t.write("cancelled\n")
            return None
        if any(k == o for o, _ in options):
            t.write(k + "\n")
            return k
        t.write("\a")


def ask(d: Decision, offer: Offer, *, tty_path: str = "/dev/tty") -> Answer:
    """Ask the person on the terminal. Raises PolicyRefused when there is no terminal."""
    with _Tty(tty_path) as t:
        t.write(render(d, offer))
        keys = {k: choice for num, letter, choice, _ in CHOICES for k in (num, letter, letter.upper())}
        try:
            while True:
                k = t.key()
                if k in DECLINE_KEYS:
                    t.write("Don't allow\n")
                    return Answer("no")
                choice = keys.get(k)
                if choice is None or not _available(choice, offer):
                    t.write("\a")
                    continue
                label = next(lbl for _, _, ch, lbl in CHOICES if ch == choice)
                t.write(f"{label}\n")
                if choice not in ("always", "never"):
                    return Answer(choice)
                return _rule_details(t, choice, offer)
        except KeyboardInterrupt:
            t.write("\nDon't allow\n")
            return Answer("no")


def _rule_details(t: _Tty, choice: str, offer: Offer) -> Answer:
    patterns = offer.allow_patterns if choice == "always" else offer.deny_patterns
    menu = [(str(i), show(p)) for i, p in enumerate(patterns[:9], 1)]
    verb = "allow" if choice == "always" else "deny"
    picked = _pick(t, f"Pattern of the rule to {verb} (most specific first):", menu)
    if picked is None:
        return Answer("no")
    pattern = patterns[int(picked) - 1]
    scopes: list[tuple[str, str]] = [("d", f"this directory ({show(str(offer.directory))})")]
    if offer.project_root is not None:
        scopes.append(("p", f"the project root ({show(str(offer.project_root))})"))
    scopes.append(("e", "everywhere"))
    where = _pick(t, "Where should the rule apply?", scopes)
    if where is None:
        return Answer("no")
    scope = {"d": offer.directory, "p": offer.project_root, "e": None}[where]
    return Answer(choice, pattern, scope)
