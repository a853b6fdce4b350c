"""Allowlist suggestions for a classified line, most specific first.

The first suggestion is always the exact line, with `*`, `?`, `[`, `]` and `\\` backslash-escaped
so that, as a pattern, it matches only itself. Then, when the line is one plain action, a ladder of
word patterns by arity, at most three deep: `gh pr view *`, `gh pr *`, `gh *`. Setup actions such
as `cd` are not counted. No ladder (the exact line only) when the line did not parse, has more than
one real action, a word that is not literal, an action from a substitution or wrapper, an action
that rules may not match, a line-level risk, or a program that must never get a wildcard
(wrappers, shells, interpreters, privilege tools).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from vshell import tables
from vshell.model import Action, Reason

_ESCAPE = str.maketrans({ch: "\\" + ch for ch in "*?[]\\"})
_PLAIN_WORD = re.compile(r"[A-Za-z0-9_@%+=:,./-]+")
MAX_DEPTH = 3


def escape_exact(line: str) -> str:
    # translate() looks up every character; most lines hold none of the five, and `in` is a fast scan.
    if "*" in line or "?" in line or "[" in line or "]" in line or "\\" in line:
        return line.translate(_ESCAPE)
    return line


def suggestions(line: str, actions: Sequence[Action], parse_ok: bool,
                line_reasons: Sequence[Reason] = (), *, simple: bool = True) -> tuple[str, ...]:
    """`simple`: the line is plain commands joined by `&&`/`;`/`|` at top level (no subshell, group,
    loop or conditional around them)."""
    exact = escape_exact(line)
    if not parse_ok or not simple or (line_reasons and any(r.risk is not None for r in line_reasons)):
        return (exact,)
    real: Action | None = None
    for a in actions:
        if a.origin == "top" and a.program in tables.SETUP_KEYS:
            if not a.literal:
                return (exact,)
            continue
        if real is not None:
            return (exact,)  # more than one real action
        real = a
    if real is None or real.origin != "top" or not real.rule_eligible or not real.literal:
        return (exact,)
    ladder = _ladder(real.key, real.program)
    return (exact, *ladder) if ladder else (exact,)


@lru_cache(maxsize=4096)
def _ladder(key: str, program: str) -> tuple[str, ...]:
    """`gh pr view` -> (`gh pr view *`, `gh pr *`, `gh *`); () when no wildcard may be offered."""
    if tables.no_wildcard(program):
        return ()
    words = key.split(" ")
    if not all(_PLAIN_WORD.fullmatch(w) for w in words):
        return ()
    return tuple(" ".join(words[:k]) + " *" for k in range(min(len(words), MAX_DEPTH), 0, -1))
