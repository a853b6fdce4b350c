"""`vsh classify`: parse a line and rate the risk of each action, without deciding or running.

The line is one argument (`vsh classify -- 'git status && make'`), or `-` to read it from standard
input: the bytes are decoded as UTF-8 (undecodable bytes kept with surrogateescape) and exactly one
trailing newline is removed (the one `echo` or a here-string adds); everything else is the line,
further newlines included. `--jsonl` reads one JSON-encoded string per input line and writes one
JSON result per line. Exit status: 0 classified; 2 usage error (no line, empty line, unreadable
input).
"""

from __future__ import annotations

import json
from typing import IO

import click

from vshell.environment import Environment
from vshell.errors import UsageError

EPILOG = """\b
Examples:
  vsh classify -- 'git status && rm -rf build'
  vsh classify --json -- 'cd /repo && gh pr view 5525 --json title'
  printf '%s' 'ls | sh' | vsh classify --json -
  printf '"ls"\\n"rm -rf x"\\n' | vsh classify --jsonl
"""


def _read_stdin_line(env: Environment) -> str:
    stream: IO[bytes] | None = getattr(env.stdin, "buffer", None)
    try:
        text = stream.read().decode("utf-8", "surrogateescape") if stream is not None else env.stdin.read()
    except OSError as e:
        raise UsageError(f"cannot read the line from standard input: {e.strerror or e}") from None
    return text[:-1] if text.endswith("\n") else text


@click.command("classify", epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--json", "as_json", is_flag=True, help="Print the classification as JSON.")
@click.option("--jsonl", is_flag=True,
              help="Read JSON-encoded lines from standard input, write one JSON result per line.")
@click.argument("line", nargs=-1, type=click.UNPROCESSED, metavar="-- 'LINE' | -")
@click.pass_obj
def classify(env: Environment, as_json: bool, jsonl: bool, line: tuple[str, ...]) -> int:
    """Parse LINE with tree-sitter-bash and rate each action it would perform (low, medium, high),
    with reasons and allowlist suggestions. Nothing is run."""
    if jsonl:
        if line:
            raise UsageError("--jsonl reads its lines from standard input; give no LINE")
        return _jsonl(env)
    if not line:
        raise UsageError("no line to classify: give -- 'LINE' or - to read it from standard input")
    if len(line) > 1:
        raise UsageError("give the line as one argument (quote it): vsh classify -- 'LINE'")
    text = _read_stdin_line(env) if line[0] == "-" else line[0]
    if not text.strip():
        raise UsageError("the line to classify is empty")
    from vshell.classify import classify as classify_line
    from vshell.classify import render_human

    c = classify_line(text)
    if as_json:
        env.stdout.write(json.dumps(c.to_json(), ensure_ascii=True) + "\n")
    else:
        env.stdout.write(render_human(c) + "\n")
    env.stdout.flush()
    return 0


def _jsonl(env: Environment) -> int:
    from vshell.classify import classify as classify_line

    for number, raw in enumerate(env.stdin, 1):
        if not raw.strip():
            continue
        try:
            text = json.loads(raw)
        except ValueError as e:
            env.stdout.flush()
            raise UsageError(f"input line {number} is not JSON: {e}") from None
        if not isinstance(text, str):
            env.stdout.flush()
            raise UsageError(f"input line {number} is not a JSON string")
        if not text.strip():
            env.stdout.flush()
            raise UsageError(f"input line {number} is an empty command line")
        env.stdout.write(json.dumps(classify_line(text).to_json(), ensure_ascii=True) + "\n")
    env.stdout.flush()
    return 0
