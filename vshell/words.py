"""Bash word normalisation: what a word becomes after quote removal, and whether it is literal.

These are pure string functions; `vshell.shellparse` feeds them the pieces of a tree-sitter word.
A word is *literal* when bash would pass exactly one argument whose text we know: no expansion,
no substitution, no unquoted glob character, no brace expansion. Each piece of a word is turned
into a `Piece`: its value after quote removal and a *shadow* of the same length in which quoted or
escaped characters are replaced by `QUOTED`, so glob and brace detection only sees what bash sees
unquoted.
"""

from __future__ import annotations

import re
import unicodedata
from typing import NamedTuple

QUOTED = "\x00"  # shadow placeholder for a character that is quoted or escaped

# Brace expansion needs an unquoted `{`, an unquoted `,` or `..`, and an unquoted `}`.
_BRACE = re.compile(r"\{[^{}]*(?:,|\.\.)[^{}]*\}")
_GLOB_BRACKET = re.compile(r"\[[^\]]*\]")
_EXTGLOB = re.compile(r"[?*+@!]\(")

# ANSI-C escapes of $'...'
_SIMPLE_ESCAPES = {
    "a": "\a", "b": "\b", "e": "\x1b", "E": "\x1b", "f": "\f", "n": "\n", "r": "\r",
    "t": "\t", "v": "\v", "\\": "\\", "'": "'", '"': '"', "?": "?",
}


class Piece(NamedTuple):
    """One part of a word: `value` after quote removal; `shadow` as described in the module doc;
    `literal` False when the piece is an expansion or substitution whose value is unknown."""

    value: str
    shadow: str
    literal: bool = True


def unquoted_piece(text: str) -> Piece:
    """An unquoted word fragment: `\\x` is `x` (escaped, so shadowed); other characters stay."""
    if "\\" not in text:
        return Piece(text, text)
    value: list[str] = []
    shadow: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "\\" and i + 1 < n:
            nxt = text[i + 1]
            if nxt != "\n":  # an escaped newline is a line continuation: removed entirely
                value.append(nxt)
                shadow.append(QUOTED)
            i += 2
            continue
        value.append(ch)
        shadow.append(ch)
        i += 1
    return Piece("".join(value), "".join(shadow))


def dquoted_piece(text: str) -> Piece:
    """Literal content of a double-quoted string: backslash escapes only `$`, backtick, `"`, `\\`
    and newline (which it removes)."""
    if "\\" in text:
        out: list[str] = []
        i = 0
        n = len(text)
        while i < n:
            ch = text[i]
            if ch == "\\" and i + 1 < n and text[i + 1] in '$`"\\\n':
                if text[i + 1] != "\n":
                    out.append(text[i + 1])
                i += 2
                continue
            out.append(ch)
            i += 1
        text = "".join(out)
    return Piece(text, QUOTED * len(text))


def squoted_piece(source: str) -> Piece:
    """A raw string `'...'` (source text with its quotes)."""
    body = source[1:-1] if len(source) >= 2 and source[0] == "'" and source[-1] == "'" else source
    return Piece(body, QUOTED * len(body))


def ansi_c_piece(source: str) -> Piece:
    """A `$'...'` string (source text with `$'` and `'`), decoded as bash does."""
    body = source[2:-1] if source.startswith("$'") and source.endswith("'") else source
    value = ansi_c_decode(body)
    return Piece(value, QUOTED * len(value))


def ansi_c_decode(body: str) -> str:
    """Decode the body of `$'...'`. `\\cX` control characters, octal, hex and unicode escapes.
    A NUL ends the string, as in bash."""
    out: list[str] = []
    i = 0
    n = len(body)
    while i < n:
        ch = body[i]
        if ch != "\\" or i + 1 >= n:
            out.append(ch)
            i += 1
            continue
        e = body[i + 1]
        i += 2
        if e in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[e])
        elif e in "01234567":
            j = i - 1
            k = j
            while k < n and k < j + 3 and body[k] in "01234567":
                k += 1
            out.append(chr(int(body[j:k], 8) & 0xFF))
            i = k
        elif e in "xuU":
            limit = {"x": 2, "u": 4, "U": 8}[e]
            k = i
            while k < n and k < i + limit and body[k] in "0123456789abcdefABCDEF":
                k += 1
            if k == i:
                out.append("\\" + e)
            else:
                code = int(body[i:k], 16)
                out.append(chr(code) if code <= 0x10FFFF else "\ufffd")
                i = k
        elif e == "c" and i < n:
            out.append(chr(ord(body[i].upper()) ^ 0x40) if body[i] != "?" else "\x7f")
            i += 1
        else:
            out.append("\\" + e)
    text = "".join(out)
    nul = text.find("\x00")
    return text if nul < 0 else text[:nul]


def join(pieces: list[Piece]) -> tuple[str, bool, str]:
    """Join a word's pieces: (value, literal, why-not-literal)."""
    if len(pieces) == 1:
        value, shadow, literal = pieces[0]
        if not literal:
            return value, False, "expansion or substitution"
        why = glob_or_brace(shadow) if shadow else ""
        return value, not why, why
    values: list[str] = []
    shadows: list[str] = []
    literal = True
    for p in pieces:  # one plain loop: generator expressions cost more than they save on a few pieces
        values.append(p.value)
        shadows.append(p.shadow)
        if not p.literal:
            literal = False
    value = "".join(values)
    if not literal:
        return value, False, "expansion or substitution"
    why = glob_or_brace("".join(shadows))
    return value, not why, why


def glob_or_brace(shadow: str) -> str:
    """Why the unquoted characters of a word make it expand ('' when they do not)."""
    if "*" in shadow or "?" in shadow:
        return "unquoted glob character"
    if "[" in shadow and _GLOB_BRACKET.search(shadow):
        return "unquoted glob bracket"
    if "{" in shadow and _BRACE.search(shadow):
        return "brace expansion"
    if "(" in shadow and _EXTGLOB.search(shadow):
        return "extended glob"
    return ""


# -- line continuations ---------------------------------------------------------------------------


def join_continuations(text: str) -> str:
    """Remove backslash-newline pairs where bash does (everywhere except inside single quotes,
    `$'...'` strings and comments), so that `r\\<newline>m` reads as `rm`, as it does for bash.

    Here-document bodies are not tracked: callers treat a changed line containing `<<` as suspect.
    """
    if "\\\n" not in text:
        return text
    out: list[str] = []
    i = 0
    n = len(text)
    # context stack: "n" normal, "d" double quotes, "p" inside $( ) or ( ), "b" backticks
    stack: list[str] = ["n"]
    word_start = True
    while i < n:
        ch = text[i]
        ctx = stack[-1]
        if ch == "\\" and i + 1 < n:
            if text[i + 1] == "\n":
                i += 2
                continue
            out.append(text[i : i + 2])
            i += 2
            word_start = False
            continue
        if ctx in "npb":
            if ch == "'" or (ch == "$" and i + 1 < n and text[i + 1] == "'"):
                start = i + (2 if ch == "$" else 1)
                end = closing_single_quote(text, start, ansi=ch == "$")
                out.append(text[i:end])
                i = end
                word_start = False
                continue
            if ch == "#" and word_start:
                end = text.find("\n", i)
                end = n if end < 0 else end
                out.append(text[i:end])
                i = end
                continue
            if ch == '"':
                stack.append("d")
            elif ch == "`":
                if ctx == "b":
                    stack.pop()
                else:
                    stack.append("b")
            elif ch == "(":
                stack.append("p")
            elif ch == ")" and ctx == "p":
                stack.pop()
            out.append(ch)
            word_start = ch in " \t\n;&|()<>"
            i += 1
            continue
        # double quotes
        if ch == '"':
            stack.pop()
        elif ch == "$" and i + 1 < n and text[i + 1] == "(":
            stack.append("p")
            out.append("$(")
            i += 2
            word_start = True
            continue
        elif ch == "`":
            stack.append("b")
        out.append(ch)
        word_start = False
        i += 1
    return "".join(out)


def closing_single_quote(text: str, start: int, *, ansi: bool) -> int:
    """Index just past the quote closing a '...' (or $'...', where backslash escapes) string."""
    i = start
    n = len(text)
    while i < n:
        ch = text[i]
        if ansi and ch == "\\":
            i += 2
            continue
        if ch == "'":
            return i + 1
        i += 1
    return n


# -- characters that must never be trusted in a command word -------------------------------------


def suspicious_char(ch: str) -> bool:
    """Control, format (zero-width, bidi), separator (NBSP...) or private characters: they either
    look like nothing or like something else to a person, and tree-sitter may split on some of
    them (CR) where bash does not."""
    if ch in "\t\n":
        return False
    o = ord(ch)
    if o < 0x20 or o == 0x7F:
        return True
    if o < 0x80:
        return False
    cat = unicodedata.category(ch)
    return cat[0] in "CZ" or cat == "Mn"


def plain_name(text: str) -> bool:
    """A program name made of plain ASCII characters only (anything else never matches a table)."""
    return text.isascii() and text.isprintable() and " " not in text
