"""Allowlist suggestions: the exact line first (escaped), then the arity ladder when it is safe."""

from __future__ import annotations

import pytest

from vshell.classify import classify
from vshell.suggest import escape_exact


def test_issue_example() -> None:
    assert classify("cd /repo && gh pr view 5525 --json title").suggestions == (
        "cd /repo && gh pr view 5525 --json title", "gh pr view *", "gh pr *", "gh *")


@pytest.mark.parametrize(("line", "ladder"), [
    ("git status", ["git status *", "git *"]),
    ("git -C x push origin", ["git push *", "git *"]),
    ("npm run build", ["npm run build *", "npm run *", "npm *"]),
    ("ls -la", ["ls *"]),
    ("make test", ["make *"]),
    ("docker compose up -d", ["docker compose up *", "docker compose *", "docker *"]),
])
def test_ladder(line: str, ladder: list[str]) -> None:
    c = classify(line)
    assert c.suggestions[0] == line
    assert list(c.suggestions[1:]) == ladder


@pytest.mark.parametrize("line", [
    "git status && rm -rf x",  # two real actions
    "ls \"unterminated",  # parse error
    "ls $x",  # non-literal word
    "ls $(id)",  # an action from a substitution
    "FOO=1 ls",  # environment prefix
    "bash -c 'ls'", "env ls", "sudo ls", "python3 x.py", "xargs ls", "timeout 5 ls", "sh x.sh",
    "(cd sub && ls)",
    "ls > out",
])
def test_exact_only(line: str) -> None:
    assert len(classify(line).suggestions) == 1


def test_exact_line_is_escaped_for_glob_use() -> None:
    assert escape_exact("ls *.txt [a] ? \\") == "ls \\*.txt \\[a\\] \\? \\\\"
    assert classify("ls *.txt").suggestions == ("ls \\*.txt",)


def test_ladder_depth_is_at_most_three() -> None:
    for c in (classify("gh pr view 1"), classify("npm run build -- --watch")):
        assert len(c.suggestions) <= 4
