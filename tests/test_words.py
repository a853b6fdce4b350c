"""Bash word normalisation (pure functions of vshell.words)."""

from __future__ import annotations

import pytest

from vshell import words


@pytest.mark.parametrize(("text", "value"), [
    ("rm", "rm"),
    ("\\rm", "rm"),
    ("a\\ b", "a b"),
    ("-la\\;", "-la;"),
    ("r\\\nm", "rm"),
])
def test_unquoted_piece_removes_backslashes(text: str, value: str) -> None:
    assert words.unquoted_piece(text).value == value


def test_escaped_glob_is_literal() -> None:
    piece = words.unquoted_piece("\\*.txt")
    assert piece.value == "*.txt"
    assert words.join([piece])[1] is True
    assert words.join([words.unquoted_piece("*.txt")])[1] is False


@pytest.mark.parametrize(("text", "value"), [
    ('a\\"b', 'a"b'),
    ("a\\$b", "a$b"),
    ("a\\nb", "a\\nb"),  # only $ ` " \ and newline are escapable in double quotes
    ("a\\\nb", "ab"),
    ("a\\\\b", "a\\b"),
])
def test_dquoted_piece(text: str, value: str) -> None:
    assert words.dquoted_piece(text).value == value


@pytest.mark.parametrize(("body", "value"), [
    ("rm", "rm"),
    ("\\x72m", "rm"),
    ("\\162m", "rm"),
    ("\\u0072m", "rm"),
    ("a\\nb", "a\nb"),
    ("\\e[31m", "\x1b[31m"),
    ("\\cA", "\x01"),
    ("a\\'b", "a'b"),
    ("ab\\x00cd", "ab"),  # NUL ends the string, as in bash
    ("\\q", "\\q"),
])
def test_ansi_c_decode(body: str, value: str) -> None:
    assert words.ansi_c_decode(body) == value


def test_ansi_c_piece_strips_quotes() -> None:
    assert words.ansi_c_piece("$'r\\x6d'").value == "rm"


@pytest.mark.parametrize(("shadow", "expands"), [
    ("{a,b}", True),
    ("{1..3}", True),
    ("{a}", False),
    ("a*", True),
    ("a?", True),
    ("[ab]", True),
    ("[", False),
    ("@(a|b)", True),
    ("plain", False),
    ("\x00\x00", False),  # quoted characters are shadowed
])
def test_glob_or_brace(shadow: str, expands: bool) -> None:
    assert bool(words.glob_or_brace(shadow)) is expands


@pytest.mark.parametrize(("line", "joined"), [
    ("r\\\nm -rf x", "rm -rf x"),
    ('echo "$\\\n(id)"', 'echo "$(id)"'),
    ("echo 'a\\\nb'", "echo 'a\\\nb'"),  # single quotes keep it
    ("echo $'a\\\nb'", "echo $'a\\\nb'"),  # so does $'...'
    ("echo a # b \\\necho c", "echo a # b \\\necho c"),  # a comment ends at the newline
    ("echo a\\\\\nb", "echo a\\\\\nb"),  # an escaped backslash before the newline
    ("ls", "ls"),
])
def test_join_continuations_follows_bash(line: str, joined: str) -> None:
    assert words.join_continuations(line) == joined


@pytest.mark.parametrize("ch", ["\r", "\x1b", "\x00", "\u00a0", "\u200b", "\u202e", "\ufeff", "\u2028", "\x85"])
def test_suspicious_characters(ch: str) -> None:
    assert words.suspicious_char(ch)


@pytest.mark.parametrize("ch", ["a", " ", "\t", "\n", "é", "ｒ"])
def test_ordinary_characters(ch: str) -> None:
    assert not words.suspicious_char(ch)


def test_plain_name() -> None:
    assert words.plain_name("git")
    assert not words.plain_name("ｒｍ")
    assert not words.plain_name("r\u200bm")
