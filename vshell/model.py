"""The command model: what a shell line really does, as frozen values.

`vshell.classify.classify(line)` builds a `Classification`; everything downstream (trust rules,
decisions, the sandbox runner, traces, JSON output) reads these values and never re-parses text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum


class Risk(IntEnum):
    """Ordered so that `max()` gives the strictest."""

    LOW = 0
    MEDIUM = 1
    HIGH = 2

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Risk:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown risk {text!r} (expected low, medium or high)") from None


@dataclass(frozen=True)
class Reason:
    """Why an action (or line) got its risk or its restrictions.

    `code` is a stable machine token (e.g. "table", "flag", "redirect-write", "parse-error",
    "non-literal-program", "env-prefix", "substitution"); `text` is for people; `risk` is the
    floor this reason imposes (None when it only explains).
    """

    code: str
    text: str
    risk: Risk | None = None

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"code": self.code, "text": self.text}
        if self.risk is not None:
            out["risk"] = self.risk.label
        return out


@dataclass(frozen=True)
class Redirect:
    """A redirection attached to an action. `target` is None when it is not a literal word."""

    op: str  # ">", ">>", ">|", "&>", "&>>", "<", "<<", "<<<", "<&", ">&", "<>"
    fd: int | None
    target: str | None
    writes: bool  # opens a file for writing (not /dev/null, not an fd duplication)


@dataclass(frozen=True)
class Action:
    """One program the line would execute.

    argv: the words bash would pass, after quote removal and escape decoding. A word that is not
      literal (expansion, substitution, glob) is kept as its source text and `literal` is False.
    program: argv[0] normalised (basename of a path-qualified program, escapes removed) — but a
      program given as a relative path such as `./cat` keeps the path, as it is not the trusted `cat`.
    key: the action key, e.g. "git push": program plus the identity words of the arity table, with
      global options that do not change meaning removed (`git -C dir -c k=v push` -> "git push").
    words: the normalised words that rule patterns match against: key words followed by the remaining
      arguments (global options removed as for the key).
    origin: where the action came from: "top" (a direct member of the line), "substitution"
      (command/process substitution), "wrapper" (run by env/xargs/sudo/...), "nested" (a literal
      `bash -c`/`eval` string), "function" (a function body), "find-exec".
    env: names of variables assigned in the command's prefix (`FOO=1 cmd`).
    rule_eligible: False when trust rules must not auto-allow this action (env prefix, non-literal
      word, substitution inside, from a substitution/function, after a shell state change, ...);
      `ineligible_reasons` says why.
    cwd: a literal directory the line `cd`'d into before this action, relative to the starting
      directory ("" when no cd preceded it; None when a preceding cd was not literal).
    """

    argv: tuple[str, ...]
    program: str
    key: str
    words: tuple[str, ...]
    risk: Risk
    reasons: tuple[Reason, ...]
    literal: bool = True
    origin: str = "top"
    env: tuple[str, ...] = ()
    redirects: tuple[Redirect, ...] = ()
    rule_eligible: bool = True
    ineligible_reasons: tuple[str, ...] = ()
    cwd: str | None = ""
    span: tuple[int, int] = (0, 0)  # byte offsets of the action's node in the line

    def to_json(self) -> dict[str, object]:
        return {
            "argv": list(self.argv),
            "action_key": self.key,
            "risk": self.risk.label,
            "reasons": [r.text for r in self.reasons],
            "reason_codes": [r.code for r in self.reasons],
            "origin": self.origin,
            "literal": self.literal,
            "env": list(self.env),
            "rule_eligible": self.rule_eligible,
            "ineligible_reasons": list(self.ineligible_reasons),
        }


@dataclass(frozen=True)
class Classification:
    """The whole line: its actions, its risk (the highest of them, or HIGH when it did not parse),
    line-level reasons (parse errors, shell state changes) and allowlist suggestions (most specific
    first; the first is always the exact line, escaped for glob matching)."""

    command: str
    parse_ok: bool
    risk: Risk
    actions: tuple[Action, ...]
    suggestions: tuple[str, ...]
    reasons: tuple[Reason, ...] = ()
    mutates_shell_state: bool = False  # defines functions/aliases, traps, exports behaviour-changing vars
    tree: str = field(default="", compare=False)  # an indented rendering of the parse tree, for explain

    def to_json(self) -> dict[str, object]:
        return {
            "command": self.command,
            "parse_ok": self.parse_ok,
            "risk": self.risk.label,
            "actions": [a.to_json() for a in self.actions],
            "suggestions": list(self.suggestions),
            "reasons": [r.to_json() for r in self.reasons],
            "mutates_shell_state": self.mutates_shell_state,
        }
