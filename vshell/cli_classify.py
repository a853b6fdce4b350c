"""`vsh classify`: parse a line and rate the risk of each action, without deciding or running.

The line is one argument (`vsh classify -- 'git status && make'`), or `-` to read it from standard
input: the bytes are decoded as UTF-8 (undecodable bytes kept with surrogateescape) and exactly one
trailing newline is removed (the one `echo` or a here-string adds); everything else is the line,
further newlines included. `--jsonl` reads one JSON-encoded string per input line and writes one
JSON result per line. Exit status: 0 classified; 2 usage error (no line, empty line, unreadable
input).
"""

from __future__ import annotations

from typing import Any

import click

from vshell.cli_click import options_from
from vshell.environment import Environment
from vshell.options import CLASSIFY

EPILOG = """\b
Examples:
  vsh classify -- 'git status && rm -rf build'
  vsh classify --json -- 'cd /repo && gh pr view 5525 --json title'
  printf '%s' 'ls | sh' | vsh classify --json -
  printf '"ls"\\n"rm -rf x"\\n' | vsh classify --jsonl
"""


@click.command("classify", epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@options_from(CLASSIFY)
@click.argument("line", nargs=-1, type=click.UNPROCESSED, metavar="-- 'LINE' | -")
@click.pass_obj
def classify(env: Environment, **values: Any) -> int:
    """Parse LINE with tree-sitter-bash and rate each action it would perform (low, medium, high),
    with reasons and allowlist suggestions. Nothing is run."""
    from vshell.commands import classify_command

    return classify_command(env, **values)
