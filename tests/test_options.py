"""The fast option parser of the hot commands (vshell.options) agrees with click wherever it answers.

click stays the reference: it builds `--help` and parses everything the fast parser leaves to it.
A disagreement would mean the fast paths (the warm server's, and the in-process one without click)
do something else than click's path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vshell import options
from vshell.cli_classify import classify
from vshell.cli_rules import check
from vshell.cli_run import run

COMMANDS = {"run": run, "check": check, "classify": classify}


def click_params(args: list[str], command: str = "run") -> dict[str, Any] | None:
    try:
        ctx = COMMANDS[command].make_context(command, list(args), obj=None)
    except (click.exceptions.UsageError, click.exceptions.Exit, click.exceptions.Abort):
        return None
    params = dict(ctx.params)
    for key, value in params.items():
        if isinstance(value, Path):
            params[key] = str(value)
        elif isinstance(value, list):
            params[key] = tuple(value)
    return params


@pytest.fixture
def a_file(tmp_path: Path) -> str:
    f = tmp_path / "file"
    f.write_text("x")
    return str(f)


CASES = [
    ["--", "true"],
    ["-c", "ls -la"],
    ["--workspace", "/tmp/ws", "--cwd", "sub", "--", "ls", "-la", "--", "x"],
    ["--cred", "a/b", "--cred", "c/d", "--context", "headless", "--timeout", "2.5", "--", "curl", "x"],
    ["--cred=a/b", "--timeout=1e1", "--context=background", "-c", "echo"],
    ["--host", "-c", "brew upgrade"],
    ["--debug", "--", "true"],
    ["--", "--help"],
    ["--", "-c", "x"],
    ["-c", ""],
    ["--"],
    [],
]

DECLINED = [
    ["--help"],
    ["-h"],
    ["true"],  # a program without `--`: click's to judge
    ["--context", "nope", "--", "true"],
    ["--timeout", "0", "--", "true"],
    ["--timeout", "-1", "--", "true"],
    ["--timeout", "nan", "--", "true"],
    ["--timeout", "inf", "--", "true"],
    ["--timeout", "soon", "--", "true"],
    ["--workspace"],
    ["--workspace", "", "--", "true"],
    ["-c", "-x"],
    ["-cLINE"],
    ["--host", "--host", "--", "true"],
    ["--host=1", "--", "true"],
    ["--cwd", "a", "--cwd", "b", "--", "true"],
    ["--unknown", "--", "true"],
]


@pytest.mark.parametrize("args", CASES, ids=lambda a: " ".join(a) or "empty")
def test_fast_parser_answers_as_click_does(args: list[str]) -> None:
    fast = options.parse(args)
    assert fast is not None
    assert fast == click_params(args)


@pytest.mark.parametrize("args", DECLINED, ids=lambda a: " ".join(a))
def test_fast_parser_leaves_doubtful_lines_to_click(args: list[str]) -> None:
    assert options.parse(args) is None


def test_a_file_as_workspace_is_left_to_click(a_file: str) -> None:
    assert options.parse(["--workspace", a_file, "--", "true"]) is None
    assert click_params(["--workspace", a_file, "--", "true"]) is None


TOKENS = st.sampled_from([
    "-c", "--cred", "--workspace", "--cwd", "--host", "--context", "--timeout", "--debug", "--",
    "x", "-x", "ls", "headless", "conversation", "bogus", "1.5", "0", "-1", "nan", "1e3",
    "--cred=a/b", "--timeout=2", "--context=headless", "--workspace=/tmp", "", "/tmp", "-h", "--help",
    "--host=", "--cwd=", "a b", "--=", "-",
])


@settings(max_examples=3000, deadline=None)
@given(st.lists(TOKENS, max_size=9))
def test_fast_parser_never_disagrees_with_click(args: list[str]) -> None:
    fast = options.parse(args)
    if fast is not None:
        assert fast == click_params(args), args


def test_click_builds_the_options_from_the_same_table() -> None:
    for name, command in COMMANDS.items():
        table, rest, _ = options.COMMANDS[name]
        assert {p.name for p in command.params} == {dest for _, dest, _, _, _ in table} | {rest}


OTHER_TOKENS = st.sampled_from([
    "--json", "--jsonl", "--context", "--host", "--cwd", "--", "-", "headless", "nope", "ls -la", "x", "",
    "--cwd=/tmp", "--context=background", "-h", "--help", "--json=1", "/tmp", "-x", "a b",
])


@settings(max_examples=3000, deadline=None)
@given(st.sampled_from(["check", "classify"]), st.lists(OTHER_TOKENS, max_size=7))
def test_check_and_classify_parsers_never_disagree_with_click(command: str, args: list[str]) -> None:
    fast = options.parse_command(command, args)
    if fast is not None:
        assert fast == click_params(args, command), args


@pytest.mark.parametrize(("command", "args"), [
    ("check", ["--", "git status"]),
    ("check", ["--json", "--context", "headless", "--cwd", "/tmp", "--", "rm", "-rf", "x"]),
    ("check", ["--host", "--", "make install"]),
    ("classify", ["--", "ls | sh"]),
    ("classify", ["--json", "-"]),
    ("classify", ["--jsonl"]),
])
def test_check_and_classify_common_lines_take_the_fast_path(command: str, args: list[str]) -> None:
    fast = options.parse_command(command, args)
    assert fast is not None and fast == click_params(args, command)
