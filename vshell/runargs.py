"""The options of `vsh run`, declared once: click builds `vsh run --help` and its full parser from
this table, and `parse` reads the common well-formed command lines without importing click (it
costs 25 ms, a quarter of a run). `parse` answers None for anything it is not sure of (help, an
unknown or malformed option, a value click would reject): click then parses it and reports the error.
tests/test_runargs.py checks that both parsers agree wherever `parse` answers.

Lean on purpose: the thin client (vshell.runfast) imports it; os and sys only.
"""

from __future__ import annotations

import math
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

# The contexts a run can be decided in (who can answer a prompt); vshell.config re-exports them.
CONTEXTS = ("conversation", "background", "headless")

# (flags, destination, kind, metavar, help). kind: text, multi (repeatable text), dir (a path that
# must not be a file), flag, context (one of CONTEXTS), seconds (a number > 0).
OPTIONS: tuple[tuple[tuple[str, ...], str, str, str | None, str], ...] = (
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
_BY_FLAG = {flag: (dest, kind) for flags, dest, kind, _, _ in OPTIONS for flag in flags}


def defaults() -> dict[str, object]:
    out: dict[str, object] = {}
    for _, dest, kind, _, _ in OPTIONS:
        out[dest] = () if kind == "multi" else False if kind == "flag" else None
    out["argv"] = ()
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


def parse(args: Sequence[str]) -> dict[str, object] | None:
    """`vsh run` arguments (after `run`) -> {destination: value, "argv": (...)}; None when click
    must decide. Paths stay strings: the caller makes them Paths."""
    out = defaults()
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            out["argv"] = tuple(args[i + 1:])
            break
        name, eq, attached = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        entry = _BY_FLAG.get(name)
        if entry is None:
            return None  # help, a program name without `--`, an unknown option: click's job
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
