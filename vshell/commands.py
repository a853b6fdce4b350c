"""The bodies of the hot commands (`vsh run`, `vsh check`, `vsh classify`), without click: the
click commands call them with what click parsed, and vshell.cli calls them directly with what
vshell.options parsed when the command line is a plain one (click costs 25 ms to import).
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import IO, Any

from vshell.environment import Environment
from vshell.errors import UsageError


def run_command(env: Environment, *, debug: bool, **values: Any) -> int:
    """`vsh run`: decide, then run in the sandbox; the command's exit status."""
    from vshell.runner import execute, request_from_args

    env.debug = env.debug or debug
    return execute(env, request_from_args(values))


# ---------------------------------------------------------------------------------------------------
# vsh check


def _line_from(words: tuple[str, ...]) -> str:
    if not words:
        raise UsageError("give the line to judge after --, e.g. vsh check -- 'git status'")
    return words[0] if len(words) == 1 else shlex.join(words)


def _echo_json(env: Environment, value: Any) -> None:
    from vshell.utf8 import dumps

    print(dumps(value, indent=2), file=env.stdout)


def check_command(env: Environment, *, as_json: bool, context: str | None, host: bool, cwd: Path | str | None,
                  line: tuple[str, ...], session_id: str | None = None) -> None:
    """Decide a line (allow/ask/deny) without running it, and say why. `session_id`: the terminal
    session whose grants apply (default: this process's; the warm server passes the client's)."""
    text = _line_from(line)
    directory = (Path(cwd).expanduser() if cwd else Path.cwd()).absolute()
    if not directory.is_dir():
        raise UsageError(f"--cwd {directory}: not a directory")

    from vshell import audit
    from vshell.approval import default_context, evaluate

    config = env.config()
    tool = "host_bash" if host else "bash"
    ctx_name = context or default_context(env)
    from vshell.sandbox import resolve_workspace

    workspace = resolve_workspace(env, config, None)  # as `vsh run` judges it, refusals included
    d = evaluate(env, text, tool=tool, context=ctx_name, cwd=directory, workspace=workspace, config=config,
                 session_id=session_id)
    for t in d.trace:
        env.trace(t)
    audit.append(env.paths, "decision", {
        "source": "check", "line": text, "decision": d.decision, "risk": d.risk.label, "context": ctx_name,
        "tool": tool, "by": d.by, "rule": d.rule.id if d.rule else None, "cwd": str(directory),
    })
    if as_json:
        _echo_json(env, d.to_json())
        return
    from vshell.decide import show

    out = env.stdout
    print(f"{d.decision}  (risk {d.risk.label}, context {ctx_name}, {'host' if host else 'sandbox'})", file=out)
    print(f"  line: {show(text)}", file=out)
    for t in d.trace[1:]:
        print(f"  {show(t)}", file=out)
    if d.suggested_rule and d.decision != "allow":
        print(f"to allow it: {show(d.suggested_rule)}", file=out)


# ---------------------------------------------------------------------------------------------------
# vsh classify


def _read_stdin_line(env: Environment) -> str:
    stream: IO[bytes] | None = getattr(env.stdin, "buffer", None)
    try:
        text = stream.read().decode("utf-8", "surrogateescape") if stream is not None else env.stdin.read()
    except OSError as e:
        raise UsageError(f"cannot read the line from standard input: {e.strerror or e}") from None
    return text[:-1] if text.endswith("\n") else text


def classify_command(env: Environment, *, as_json: bool, jsonl: bool, line: tuple[str, ...]) -> int:
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
