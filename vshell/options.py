"""The options of the hot commands (`vsh run`, `vsh check`, `vsh classify`), declared once: click
builds their --help and full parsers from these tables (vshell.cli_click.options_from), and `parse`
reads the common well-formed command lines without importing click (it costs 25 ms). `parse`
answers None for anything it is not sure of (help, an unknown or malformed option, a value click
would reject, positional words before `--`): click then parses it and reports the error.
tests/test_options.py checks that both parsers agree wherever `parse` answers.

Lean on purpose: the thin client (vshell.runfast) imports it; os and math only.
"""

from __future__ import annotations

import math
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

# The contexts a line can be decided in (who can answer a prompt); vshell.config re-exports them.
CONTEXTS = ("conversation", "background", "headless")

# (flags, destination, kind, metavar, help). kind: text, multi (repeatable text), dir (a path that
# must not be a file), path (any path), flag, context (one of CONTEXTS), seconds (a number > 0).
Option = tuple[tuple[str, ...], str, str, "str | None", str]

RUN: tuple[Option, ...] = (
    (("-c",), "line", "text", "LINE", "A shell line, run as `bash -c LINE`."),
    (("--cred",), "creds", "multi", "REF",
     "A credential (service/field or UUID) the proxy may inject. Repeatable."),
    (("--workspace",), "workspace", "dir", None,
     "The writable tree (default: [sandbox] workspace, else $VSH_HOME/workspace)."),
    (("--cwd",), "cwd", "dir", None,
     "Start here; relative to the workspace, must be inside it (default: its root)."),
    (("--host",), "host", "flag", None, "Run on the host, unsandboxed, after a host_bash decision."),
    (("--context",), "context", "context", None,
     "Who can answer a prompt (default: conversation on a terminal, else headless)."),
    (("--timeout",), "timeout", "seconds", "SECONDS", "Kill the whole run after SECONDS (exit status 124)."),
    (("--debug",), "debug", "flag", None, "Show the decision trace and the sandbox."),
)
CHECK: tuple[Option, ...] = (
    (("--json",), "as_json", "flag", None, "Print the decision as JSON."),
    (("--context",), "context", "context", None,
     "Who could answer a prompt (default: conversation on a terminal, else headless)."),
    (("--host",), "host", "flag", None, "Judge the line as a --host run (tool host_bash)."),
    (("--cwd",), "cwd", "path", None, "Directory the line would start in (default: the current directory)."),
)
CLASSIFY: tuple[Option, ...] = (
    (("--json",), "as_json", "flag", None, "Print the classification as JSON."),
    (("--jsonl",), "jsonl", "flag", None,
     "Read JSON-encoded lines from standard input, write one JSON result per line."),
)
# command -> (its options, the destination of its positional words, whether a lone `-` may stand
# for them before `--`)
COMMANDS: dict[str, tuple[tuple[Option, ...], str, bool]] = {
    "run": (RUN, "argv", False),
    "check": (CHECK, "line", False),
    "classify": (CLASSIFY, "line", True),
}


def defaults(options: Sequence[Option] = RUN, rest: str = "argv") -> dict[str, object]:
    out: dict[str, object] = {}
    for _, dest, kind, _, _ in options:
        out[dest] = () if kind == "multi" else False if kind == "flag" else None
    out[rest] = ()
    return out


def _value(kind: str, raw: str) -> object:
    """The parsed value, or raise ValueError where click might judge differently."""
    if raw.startswith("-") or (not raw and kind != "text"):
        raise ValueError(raw)
    if kind == "dir":
        if os.path.isfile(raw):
            raise ValueError(raw)  # click.Path(file_okay=False) reports it
        return raw
    if kind == "context":
        if raw not in CONTEXTS:
            raise ValueError(raw)
        return raw
    if kind == "seconds":
        seconds = float(raw)
        if not math.isfinite(seconds) or seconds <= 0:
            raise ValueError(raw)
        return seconds
    return raw


def parse(args: Sequence[str], options: Sequence[Option] = RUN, rest: str = "argv",
          lone_dash: bool = False) -> dict[str, object] | None:
    """A command's arguments -> {destination: value, rest: (positional words...)}; None when click
    must decide. Paths stay strings: the caller makes them Paths."""
    by_flag = {flag: (dest, kind) for flags, dest, kind, _, _ in options for flag in flags}
    out = defaults(options, rest)
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            out[rest] = tuple(args[i + 1:])
            break
        if arg == "-" and lone_dash and i == len(args) - 1:
            out[rest] = ("-",)
            break
        name, eq, attached = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        entry = by_flag.get(name)
        if entry is None:
            return None  # help, a word without `--`, an unknown option: click's job
        dest, kind = entry
        if kind == "flag":
            if eq or out[dest]:
                return None
            out[dest] = True
            i += 1
            continue
        if eq:
            raw = attached
            i += 1
        elif i + 1 < len(args):
            raw = args[i + 1]
            i += 2
        else:
            return None
        try:
            value = _value(kind, raw)
        except ValueError:
            return None
        if kind == "multi":
            out[dest] = (*out[dest], value)  # type: ignore[misc]
        elif out[dest] is not None:
            return None  # given twice: click keeps the last one; leave that to it
        else:
            out[dest] = value
    return out


def parse_command(command: str, args: Sequence[str]) -> dict[str, object] | None:
    """parse() for one of COMMANDS; None for any other command."""
    entry = COMMANDS.get(command)
    if entry is None:
        return None
    options, rest, lone_dash = entry
    return parse(args, options, rest, lone_dash)
