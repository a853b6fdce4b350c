r"""Trust-rule patterns: globs over one action's normalised words, or one exact line.

Two kinds of pattern, told apart by one test — does the text contain an unescaped `*` or `?`:

* **Word pattern** (it does): matched against `Action.words`, one action at a time, so a wildcard can
  never reach into a second action of the line. The pattern is split into words like a shell would
  (whitespace separates; single/double quotes and backslash keep characters literal):
  - a word that is exactly `*` matches any run of whole words, zero included (`git status *`
    matches `git status` and `git status -s`);
  - a word that is exactly `?` matches exactly one word;
  - a word with `*`/`?` among other characters matches one word, `*` standing for any characters
    inside that word and `?` for one character (`pytest tests/*` matches `pytest tests/a.py`);
  - any other word must equal the action's word exactly. `[` and `]` have no special meaning.
  Unquoted shell operators (`;`, `&`, `|`, `<`, `>`, `(`, `)`, `` ` ``, `$`) are refused in a word
  pattern: a rule describes one command, and the line's structure is the command model's job.
* **Exact-line pattern** (it does not): what `vshell.suggest` produces, the line with `*?[]\`
  backslash-escaped. After removing those escapes it matches only a line whose text is identical.
  When it is also made of plain words only (`git status`, `make test`), it additionally matches an
  action whose words are exactly those words.

Specificity (used to break ties between rules of equal priority and decision): an exact line beats
any word pattern; then more literal words, then more in-word globs, then more `?`, then fewer `*`.

Everything here is pure; compiled patterns are cached by text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from functools import cache, lru_cache

from vshell.model import Classification

# Characters vshell.suggest escapes in an exact-line pattern.
_EXACT_ESCAPES = frozenset("*?[]\\")
_OPERATORS = frozenset(";&|<>()`$\n")
_PLAIN_WORDS = re.compile(r"[A-Za-z0-9_@%+=:,./-]+(?: [A-Za-z0-9_@%+=:,./-]+)*")

ANY_FIRST_WORD = "*"  # index key for word patterns whose first word is not a literal


class Kind(Enum):
    LITERAL = "literal"
    STAR = "star"  # any run of whole words
    ONE = "one"  # exactly one word
    GLOB = "glob"  # one word matched by an in-word glob


@dataclass(frozen=True)
class Token:
    kind: Kind
    text: str  # the literal word (LITERAL), the source glob (GLOB); "*" / "?" otherwise
    regex: re.Pattern[str] | None = None


@dataclass(frozen=True)
class Pattern:
    """A compiled pattern. `line` is the exact line text (exact-line patterns only); `words` holds the
    tokens (word patterns, and exact-line patterns made of plain words); `tokens` is empty for an
    exact-line pattern that is not plain words."""

    source: str
    exact: bool
    line: str | None
    tokens: tuple[Token, ...]
    literals: frozenset[str] = frozenset()  # words a matching action must contain (a cheap pre-check)

    @property
    def first_word(self) -> str:
        """The literal first word; ANY_FIRST_WORD when it is a wildcard or absent."""
        if self.tokens and self.tokens[0].kind is Kind.LITERAL:
            return self.tokens[0].text
        return ANY_FIRST_WORD

    @property
    def literal_prefix(self) -> tuple[str, ...]:
        """The literal words before the first wildcard (`git push *` -> ("git", "push"))."""
        out: list[str] = []
        for t in self.tokens:
            if t.kind is not Kind.LITERAL:
                break
            out.append(t.text)
        return tuple(out)

    @property
    def index_word(self) -> str:
        """A word every action this pattern matches must contain (its first literal word), for
        indexing; ANY_FIRST_WORD when it has none (`*`, `? *`, `g* *`); "" for an exact line that is
        not plain words (it is found by its line text instead)."""
        if not self.tokens:
            return ""
        return next((t.text for t in self.tokens if t.kind is Kind.LITERAL), ANY_FIRST_WORD)

    def specificity(self, *, by_line: bool) -> tuple[int, int, int, int, int]:
        """Higher is more specific. `by_line`: the pattern matched the whole line text."""
        counts = dict.fromkeys(Kind, 0)
        for t in self.tokens:
            counts[t.kind] += 1
        return (
            1 if by_line else 0,
            counts[Kind.LITERAL],
            counts[Kind.GLOB],
            counts[Kind.ONE],
            -counts[Kind.STAR],
        )

    def matches_line(self, line: str) -> bool:
        return self.exact and self.line == line

    def matches_words(self, words: tuple[str, ...], present: frozenset[str] | set[str] | None = None) -> bool:
        """`present`: the set of `words`, when the caller already has it (saves rebuilding it)."""
        if not self.tokens:
            return False
        if self.literals and not self.literals <= (present if present is not None else set(words)):
            return False
        return _match_tokens(self.tokens, words)


def matches_classification(p: Pattern, c: Classification) -> bool:
    """The pattern matches the line: its exact text, or the words of at least one of its actions.
    (Used for a rule's `match` / `not_match` examples.)"""
    return p.matches_line(c.command) or any(p.matches_words(a.words) for a in c.actions)


def has_wildcard(text: str) -> bool:
    """True when `text` has a `*` or `?` not escaped by a backslash (so it is a word pattern)."""
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch in "*?":
            return True
        i += 1
    return False


def unescape_exact(text: str) -> str:
    """Undo vshell.suggest's escaping: `\\X` -> `X` for X in `*?[]\\`; other backslashes stay."""
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text) and text[i + 1] in _EXACT_ESCAPES:
            out.append(text[i + 1])
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def escape_exact(line: str) -> str:
    """The exact-line pattern for `line` (same escaping as vshell.suggest)."""
    return "".join("\\" + ch if ch in _EXACT_ESCAPES else ch for ch in line)


def _split_words(text: str) -> list[list[tuple[str, bool]]]:
    """Shell-like word splitting. Each word is a list of (character, is_wildcard) pairs.
    Raises ValueError on an unquoted operator or an unterminated quote."""
    words: list[list[tuple[str, bool]]] = []
    cur: list[tuple[str, bool]] | None = None
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch in " \t":
            if cur is not None:
                words.append(cur)
                cur = None
            i += 1
            continue
        if cur is None:
            cur = []
        if ch == "\\":
            if i + 1 >= n:
                raise ValueError("a pattern cannot end with a lone backslash")
            cur.append((text[i + 1], False))
            i += 2
        elif ch == "'":
            end = text.find("'", i + 1)
            if end < 0:
                raise ValueError("unterminated single quote in pattern")
            cur.extend((c, False) for c in text[i + 1 : end])
            i = end + 1
        elif ch == '"':
            i += 1
            while True:
                if i >= n:
                    raise ValueError("unterminated double quote in pattern")
                c = text[i]
                if c == '"':
                    i += 1
                    break
                if c == "\\" and i + 1 < n and text[i + 1] in '"\\$`*?[]':
                    cur.append((text[i + 1], False))
                    i += 2
                    continue
                if c in "$`":
                    raise ValueError(f"{c!r} inside a pattern: patterns match literal words only")
                cur.append((c, False))
                i += 1
        elif ch in _OPERATORS:
            raise ValueError(
                f"unquoted {ch!r} in a wildcard pattern: a rule matches one command; add one rule per "
                "command, or use the exact line (with * and ? escaped) as the pattern"
            )
        else:
            cur.append((ch, ch in "*?"))
            i += 1
    if cur is not None:
        words.append(cur)
    return words


def _token(word: list[tuple[str, bool]]) -> Token:
    if len(word) == 1 and word[0][1]:
        return Token(Kind.STAR, "*") if word[0][0] == "*" else Token(Kind.ONE, "?")
    if not any(wild for _, wild in word):
        return Token(Kind.LITERAL, "".join(c for c, _ in word))
    parts: list[str] = []
    for c, wild in word:
        if wild:
            parts.append(".*" if c == "*" else ".")
        else:
            parts.append(re.escape(c))
    src = "".join(("*" if c == "*" else "?") if wild else c for c, wild in word)
    return Token(Kind.GLOB, src, re.compile("".join(parts), re.DOTALL))


@lru_cache(maxsize=65536)
def compile_pattern(text: str) -> Pattern:
    """Compile a rule pattern. Raises ValueError with a message for people when it is not valid."""
    if not text or not text.strip():
        raise ValueError("empty pattern")
    if "\x00" in text:
        raise ValueError("a pattern cannot contain a NUL character")
    if not has_wildcard(text):
        line = unescape_exact(text)
        tokens: tuple[Token, ...] = ()
        if _PLAIN_WORDS.fullmatch(text):
            tokens = tuple(Token(Kind.LITERAL, w) for w in text.split(" "))
        return Pattern(text, True, line, tokens, _literals(tokens))
    words = _split_words(text.strip())
    if not words:
        raise ValueError("empty pattern")
    tokens = tuple(_token(w) for w in words)
    return Pattern(text, False, None, tokens, _literals(tokens))


def _literals(tokens: tuple[Token, ...]) -> frozenset[str]:
    return frozenset(t.text for t in tokens if t.kind is Kind.LITERAL)


def _token_matches(t: Token, word: str) -> bool:
    if t.kind is Kind.LITERAL:
        return t.text == word
    if t.kind is Kind.ONE:
        return True
    assert t.regex is not None
    return t.regex.fullmatch(word) is not None


def _match_tokens(tokens: tuple[Token, ...], words: tuple[str, ...]) -> bool:
    """Glob matching over sequences: STAR absorbs any run of words (classic two-pointer backtracking,
    linear in practice)."""
    ti = wi = 0
    star_ti = -1
    star_wi = 0
    nt, nw = len(tokens), len(words)
    while wi < nw:
        if ti < nt and tokens[ti].kind is Kind.STAR:
            star_ti, star_wi = ti, wi
            ti += 1
        elif ti < nt and _token_matches(tokens[ti], words[wi]):
            ti += 1
            wi += 1
        elif star_ti >= 0:
            star_wi += 1
            wi = star_wi
            ti = star_ti + 1
        else:
            return False
    while ti < nt and tokens[ti].kind is Kind.STAR:
        ti += 1
    return ti == nt


def covers(general: Pattern, specific: Pattern) -> bool:
    """True when every action or line `specific` matches is also matched by `general` (conservative:
    False when unsure). Used by `vsh rules lint`."""
    if specific.line is not None and not specific.tokens and general.matches_line(specific.line):
        return True
    if not specific.tokens:
        return False
    if general.exact and not general.tokens:
        return False
    if general.exact and not specific.exact:
        return False
    # Treat the specific pattern's tokens as words: a literal is a word; any wildcard token in the
    # specific pattern can only be absorbed by a STAR (or the same wildcard) in the general one.
    return _covers_tokens(general.tokens, specific.tokens)


def _covers_tokens(g: tuple[Token, ...], s: tuple[Token, ...]) -> bool:
    @cache
    def go(i: int, j: int) -> bool:
        if i == len(g):
            return j == len(s)
        gt = g[i]
        if gt.kind is Kind.STAR:
            return any(go(i + 1, k) for k in range(j, len(s) + 1))
        if j == len(s):
            return False
        st = s[j]
        if st.kind is Kind.STAR:
            return False
        if st.kind is Kind.LITERAL:
            ok = _token_matches(gt, st.text)
        elif st.kind is Kind.ONE:
            ok = gt.kind is Kind.ONE
        else:
            ok = gt.kind is Kind.ONE or (gt.kind is Kind.GLOB and gt.text == st.text)
        return ok and go(i + 1, j + 1)

    return go(0, 0)
