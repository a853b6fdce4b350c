"""Pattern matching over an action's words, exact lines, specificity and coverage (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vshell.patterns import Kind, compile_pattern, covers, escape_exact, has_wildcard, unescape_exact

W = tuple


@pytest.mark.parametrize(
    ("pattern", "words", "expected"),
    [
        ("git status *", ("git", "status"), True),  # `*` at the end may match zero words
        ("git status *", ("git", "status", "-s"), True),
        ("git status *", ("git", "statusx"), False),
        ("git status *", ("git",), False),
        ("git *", ("git", "push", "--force"), True),
        ("git * main", ("git", "push", "origin", "main"), True),
        ("git * main", ("git", "push", "origin", "mainx"), False),
        ("git ? main", ("git", "push", "main"), True),
        ("git ? main", ("git", "main"), False),  # `?` is exactly one word
        ("git ? main", ("git", "push", "origin", "main"), False),
        ("pytest tests/*", ("pytest", "tests/a.py"), True),  # in-word glob: one word
        ("pytest tests/*", ("pytest", "tests/a.py", "b"), False),
        ("pytest test?.py", ("pytest", "test1.py"), True),
        ("echo 'a b' *", ("echo", "a b", "c"), True),  # quotes keep a word together
        ("echo 'a b' *", ("echo", "a", "b"), False),
        ("echo '*'", ("echo", "*"), True),  # a quoted star is literal
        ("echo '*'", ("echo", "x"), False),
        ("echo \\* *", ("echo", "*"), True),
        ("echo \\* *", ("echo", "y"), False),
        ("* --version", ("python3", "--version"), True),
        ("*", (), True),
        ("ls *", ("ls", "-la", "/"), True),
        ("ls [ab] *", ("ls", "[ab]"), True),  # brackets are literal
        ("ls [ab] *", ("ls", "a"), False),
    ],
)
def test_word_patterns(pattern: str, words: tuple[str, ...], expected: bool) -> None:
    p = compile_pattern(pattern)
    assert not p.exact
    assert p.matches_words(words) is expected


@pytest.mark.parametrize(
    ("pattern", "line", "expected"),
    [
        ("git status && rm -rf x", "git status && rm -rf x", True),
        ("git status && rm -rf x", "git status && rm -rf y", False),
        ("git status && rm -rf x", "git status && rm -rf x ", False),
        ("echo \\*", "echo *", True),
        ("echo \\*", "echo x", False),
        ("ls \\[a\\]", "ls [a]", True),
        ('echo "\\\\"; touch pwn', 'echo "\\"; touch pwn', True),
        ("git status", "git status", True),
    ],
)
def test_exact_line_patterns(pattern: str, line: str, expected: bool) -> None:
    p = compile_pattern(pattern)
    assert p.exact
    assert p.matches_line(line) is expected


def test_exact_plain_words_also_match_the_same_words_only() -> None:
    p = compile_pattern("git status")
    assert p.matches_words(("git", "status"))
    assert not p.matches_words(("git", "status", "-s"))
    q = compile_pattern("git status; rm x")
    assert q.exact and not q.tokens
    assert not q.matches_words(("git", "status;"))


@pytest.mark.parametrize("line", ["a*b?c[d]\\e", "echo \"\\\"; x\"", "plain", "tab\there", "x\\"])
def test_escape_round_trip(line: str) -> None:
    pattern = escape_exact(line)
    assert not has_wildcard(pattern)
    assert unescape_exact(pattern) == line
    assert compile_pattern(pattern).matches_line(line)


@pytest.mark.parametrize("bad", ["", "  ", "git status && *", "ls * ; rm *", "echo $(x) *", "ls | *",
                                 "echo 'open *", "a\x00 *", "x `y` *", 'x "$HOME" *'])
def test_invalid_patterns(bad: str) -> None:
    with pytest.raises(ValueError):
        compile_pattern(bad)


def test_specificity_orders_exact_then_literals_then_fewer_stars() -> None:
    order = [
        compile_pattern("git push origin main").specificity(by_line=True),
        compile_pattern("git push origin *").specificity(by_line=False),
        compile_pattern("git push ori* *").specificity(by_line=False),
        compile_pattern("git push ? *").specificity(by_line=False),
        compile_pattern("git push *").specificity(by_line=False),
        compile_pattern("git * *").specificity(by_line=False),
        compile_pattern("*").specificity(by_line=False),
    ]
    assert order == sorted(order, reverse=True)
    assert len(set(order)) == len(order)


def test_first_word_index_key() -> None:
    assert compile_pattern("git push *").first_word == "git"
    assert compile_pattern("* --help").first_word == "*"
    assert compile_pattern("g* push").first_word == "*"
    assert compile_pattern("git status").first_word == "git"
    assert compile_pattern("git").tokens[0].kind is Kind.LITERAL
    assert compile_pattern("* --help").index_word == "--help"
    assert compile_pattern("g* push *").index_word == "push"
    assert compile_pattern("? *").index_word == "*"
    assert compile_pattern("git status && ls").index_word == ""
    assert compile_pattern("make test").index_word == "make"


@pytest.mark.parametrize(
    ("general", "specific", "expected"),
    [
        ("git *", "git push *", True),
        ("git push *", "git *", False),
        ("*", "rm -rf *", True),
        ("git push *", "git push origin main", True),
        ("git ? *", "git push *", True),
        ("git push *", "git status *", False),
        ("git status", "git status", True),
        ("git *", "git status && ls", False),
    ],
)
def test_covers(general: str, specific: str, expected: bool) -> None:
    assert covers(compile_pattern(general), compile_pattern(specific)) is expected


def _reference(tokens: list[str], words: list[str]) -> bool:
    if not tokens:
        return not words
    head, rest = tokens[0], tokens[1:]
    if head == "*":
        return any(_reference(rest, words[i:]) for i in range(len(words) + 1))
    if not words:
        return False
    ok = head == "?" or head == words[0]
    return ok and _reference(rest, words[1:])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "*", "?"]), min_size=1, max_size=6),
       st.lists(st.sampled_from(["a", "b", "c"]), max_size=7))
def test_matching_agrees_with_a_reference(tokens: list[str], words: list[str]) -> None:
    p = compile_pattern(" ".join(tokens))
    assert p.matches_words(tuple(words)) is _reference(tokens, words)
