"""`vsh check`, `vsh rules ...` and `vsh log`: the trust-rule side of the command line."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import click

from vshell.cli_click import options_from
from vshell.environment import Environment
from vshell.errors import UsageError
from vshell.options import CHECK
from vshell.state import atomic_write
from vshell.utf8 import dumps

CHECK_EPILOG = """\b
Examples:
  vsh check -- 'git push origin main'
  vsh check --json --context headless -- 'rm -rf build'
  vsh check --host --cwd ~/src/app -- 'make install'
\b
The decision is what `vsh run` would do with this line right now, without running it and without
prompting: "allow", "ask" (a person would be asked) or "deny". In the headless and background
contexts nobody can be asked, so what needs approval is "deny". The exit status is 0 whatever the
decision (it is a question, not a refusal); it is 2 for a usage mistake and 125 when vsh cannot
decide (config or rules database unreadable). With --json:
  {"decision", "risk", "rule", "trace", "actions", "suggested_rule", ...}
"""

RULES_EPILOG = """\b
Examples:
  vsh rules add --tool bash --pattern 'git push *' --decision allow --scope ~/src/app
  vsh rules add --pattern 'rm -rf *' --decision deny --priority 10 --note 'never'
  vsh rules add --pattern 'npm test' --decision allow --expires 2h --match 'npm test'
  vsh rules list --json
  vsh rules export rules.json && $EDITOR rules.json && vsh rules import --replace rules.json
\b
Patterns match one command at a time, on its normalised words (`/usr/bin/git -C x push` is
`git push`): `*` is any run of words (zero included), `?` exactly one word, `*`/`?` inside a word
glob within that word; quotes and backslashes make characters literal. A pattern without an
unescaped `*` or `?` is an exact line (escape `*?[]\\` with a backslash) and matches only that line.
A wildcard allows only what the pattern's literal words imply: `git log *` allows `git log -p` but
not `git log --output=f` (that flag raises the risk), `git *` does not allow `git push`, and no
wildcard allows a high-risk action (write the exact command: `rm -rf build`).
Resolution: higher priority, then deny > ask > allow, then the more specific pattern.
"""


def _env(ctx: click.Context) -> Environment:
    return ctx.ensure_object(Environment)


def _echo_json(env: Environment, value: Any) -> None:
    print(dumps(value, indent=2), file=env.stdout)


@click.command(epilog=CHECK_EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@options_from(CHECK)
@click.argument("line", nargs=-1)
@click.pass_context
def check(ctx: click.Context, **values: Any) -> None:
    """Decide a line (allow/ask/deny) without running it, and say why."""
    from vshell.commands import check_command

    check_command(_env(ctx), **values)


@click.group(epilog=RULES_EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
def rules() -> None:
    """List, add, remove, import, export and lint trust rules."""


def _when(ts: float | None) -> str:
    return "-" if ts is None else time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


@rules.command("list", epilog="\b\nExample:\n  vsh rules list --json | jq '.[] | select(.decision==\"deny\")'")
@click.option("--json", "as_json", is_flag=True, help="Print the rules as a JSON array.")
@click.pass_context
def list_rules(ctx: click.Context, as_json: bool) -> None:
    """Show every rule (expired ones are marked)."""
    from vshell.decide import show
    from vshell.rules import RuleStore

    env = _env(ctx)
    with RuleStore(env.paths) as store:
        items = store.list()
    if as_json:
        _echo_json(env, [r.to_json() for r in items])
        return
    if not items:
        print("no rules (add one: vsh rules add --pattern 'git status *' --decision allow)", file=env.stdout)
        return
    now = time.time()
    print(f"{'ID':>5}  {'DECISION':8}  {'TOOL':9}  {'PRIO':>4}  {'EXPIRES':16}  SCOPE / PATTERN", file=env.stdout)
    for r in items:
        exp = ("expired " if r.expired(now) else "") + (_when(r.expires) if r.expires else "never")
        print(f"{r.id:>5}  {r.decision:8}  {r.tool:9}  {r.priority:>4}  {exp:16}  "
              f"{r.scope or 'everywhere'}", file=env.stdout)
        print(f"{'':>5}  pattern: {show(r.pattern)}" + (f"   # {show(r.note)}" if r.note else ""), file=env.stdout)


@rules.command("add", epilog=RULES_EPILOG)
@click.option("--tool", type=click.Choice(["bash", "host_bash"]), default="bash", show_default=True,
              help="bash: sandboxed runs; host_bash: --host runs.")
@click.option("--pattern", required=True, help="Glob over one command's words, or an exact line.")
@click.option("--decision", type=click.Choice(["allow", "ask", "deny"]), required=True)
@click.option("--scope", type=click.Path(path_type=Path),
              help="Directory the rule applies in and below (default: everywhere).")
@click.option("--priority", type=int, default=0, show_default=True, help="Higher wins.")
@click.option("--expires", "expires_in", metavar="DURATION", help="Expire after 10m, 2h, 1d, 1w...")
@click.option("--note", help="Why this rule exists.")
@click.option("--match", "match", multiple=True, metavar="LINE", help="An example line the pattern must match.")
@click.option("--not-match", "not_match", multiple=True, metavar="LINE",
              help="An example line the pattern must not match.")
@click.option("--json", "as_json", is_flag=True, help="Print the stored rule as JSON.")
@click.pass_context
def add(ctx: click.Context, tool: str, pattern: str, decision: str, scope: Path | None, priority: int,
        expires_in: str | None, note: str | None, match: tuple[str, ...], not_match: tuple[str, ...],
        as_json: bool) -> None:
    """Add one trust rule (examples are checked before it is stored)."""
    from vshell.rules import RuleStore, parse_duration

    env = _env(ctx)
    expires = None
    if expires_in is not None:
        try:
            expires = time.time() + parse_duration(expires_in)
        except ValueError as e:
            raise UsageError(f"--expires: {e}") from None
    if scope is not None:
        scope = scope.expanduser().absolute()
        if not scope.is_dir():
            raise UsageError(f"--scope {scope}: not an existing directory")
    with RuleStore(env.paths) as store:
        rule = store.add(tool=tool, pattern=pattern, decision=decision, scope=scope, priority=priority,
                         expires=expires, note=note, match=match, not_match=not_match)
    from vshell.decide import show

    for problem in allow_rule_problems(rule):
        env.warn(show(f"warning: rule #{rule.id} will never allow anything: {problem}"))
    if as_json:
        _echo_json(env, rule.to_json())
    else:
        print(show(f"added {rule.describe()}"), file=env.stdout)


@rules.command("rm")
@click.argument("rule_id", metavar="ID", type=int)
@click.pass_context
def rm(ctx: click.Context, rule_id: int) -> None:
    """Remove the rule with this ID (see `vsh rules list`)."""
    from vshell.rules import RuleStore

    env = _env(ctx)
    with RuleStore(env.paths) as store:
        rule = store.remove(rule_id)
    from vshell.decide import show

    print(show(f"removed {rule.describe()}"), file=env.stdout)


@rules.command("export", epilog="\b\nExamples:\n  vsh rules export > rules.json\n  vsh rules export rules.json")
@click.argument("file", required=False, type=click.Path(path_type=Path))
@click.pass_context
def export(ctx: click.Context, file: Path | None) -> None:
    """Write every rule as JSON to FILE (atomically) or to stdout."""
    from vshell.rules import RuleStore

    env = _env(ctx)
    with RuleStore(env.paths) as store:
        doc = store.export()
    text = dumps(doc, indent=2) + "\n"
    if file is None or str(file) == "-":
        env.stdout.write(text)
        return
    try:
        atomic_write(file, text.encode("utf-8"), mode=0o600)
    except OSError as e:
        raise UsageError(f"{file}: cannot write: {e.strerror}") from None
    print(f"exported {len(doc['rules'])} rule(s) to {file}", file=env.stderr)


@rules.command("import", epilog="\b\nExamples:\n  vsh rules import rules.json\n"
               "  vsh rules import --replace rules.json   # the file becomes the whole rule set")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--replace", is_flag=True, help="Remove every existing rule first (in the same transaction).")
@click.pass_context
def import_rules(ctx: click.Context, file: Path, replace: bool) -> None:
    """Add the rules of a JSON file made by `vsh rules export`: all of them, or none when any is invalid."""
    from vshell.rules import RuleStore

    env = _env(ctx)
    try:
        raw = env.stdin.read() if str(file) == "-" else file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"{file}: cannot read: {getattr(e, 'strerror', None) or e}") from None
    try:
        doc = json.loads(raw)
    except json.JSONDecodeError as e:
        raise UsageError(f"{file}:{e.lineno}:{e.colno}: not valid JSON: {e.msg}") from None
    try:
        with RuleStore(env.paths) as store:
            added = store.import_(doc, replace=replace)
    except UsageError as e:
        raise UsageError(f"{file}: {e.message}; nothing was imported") from None
    print(f"imported {len(added)} rule(s) from {file}" + (" (replacing all rules)" if replace else ""),
          file=env.stdout)


@rules.command("lint", epilog="\b\nExit status: 0 when nothing was found, 1 when a problem was reported.")
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@click.pass_context
def lint(ctx: click.Context, as_json: bool) -> None:
    """Report rules that can never fire, allow rules that override a broader deny, and examples that
    no longer hold."""
    from vshell.decide import show
    from vshell.rules import RuleStore

    env = _env(ctx)
    with RuleStore(env.paths) as store:
        items = store.list()
    findings = lint_rules(items, now=time.time())
    if as_json:
        _echo_json(env, [{"rule": rid, "kind": kind, "message": msg} for rid, kind, msg in findings])
    else:
        for rid, kind, msg in findings:
            print(show(f"rule #{rid}: {kind}: {msg}"), file=env.stdout)
        if not findings:
            print(f"{len(items)} rule(s), no problems found", file=env.stdout)
    ctx.exit(1 if findings else 0)


def allow_rule_problems(r: Any) -> list[str]:
    """Why an allow rule can never allow anything ([] when it can). Checked on add and by lint."""
    if r.decision != "allow":
        return []
    from vshell.classify import classify
    from vshell.decide import prefix_risk, show
    from vshell.model import Risk

    p = r.compiled
    if p.exact and not p.tokens:
        if not classify(p.line or "").parse_ok:
            return ["the line does not parse, and no rule allows such a line"]
        return []
    if not p.exact and prefix_risk(p.literal_prefix) >= Risk.HIGH:
        return [f"`{show(' '.join(p.literal_prefix))}` is high risk and a wildcard never allows a high-risk "
                "action: add the exact command instead"]
    return []


def lint_rules(items: list[Any], *, now: float) -> list[tuple[int, str, str]]:
    """(rule id, kind, message) for each problem. Kinds: "expired", "never-fires", "overrides-deny",
    "example"."""
    from vshell.decide import STRICTNESS, show
    from vshell.patterns import covers
    from vshell.rules import example_problems

    findings: list[tuple[int, str, str]] = []
    live = [r for r in items if not r.expired(now)]

    def scope_contains(outer: Path | None, inner: Path | None) -> bool:
        return outer is None or (inner is not None and (inner == outer or outer in inner.parents))

    def binds(s: Any, r: Any) -> bool:
        return s.tool == r.tool or (s.tool == "bash" and r.tool == "host_bash" and s.decision != "allow")

    for r in items:
        if r.expired(now):
            findings.append((r.id, "expired", f"`{show(r.pattern)}` expired at {_when(r.expires)}"))
            continue
        p = r.compiled
        first = p.tokens[0].text if p.tokens else None
        if first and first.startswith("/") and p.first_word != "*":
            findings.append((r.id, "never-fires", f"`{show(r.pattern)}`: commands are matched by program name "
                             f"(`{os.path.basename(first)}`), never by its path"))
        findings.extend((r.id, "never-fires", msg) for msg in allow_rule_problems(r))
        for s in live:
            if s.id == r.id or not binds(s, r) or not scope_contains(s.scope, r.scope):
                continue
            if not covers(s.compiled, p):
                continue
            if (s.priority, STRICTNESS[s.decision]) > (r.priority, STRICTNESS[r.decision]) and s.decision != r.decision:
                findings.append((r.id, "never-fires", f"{s.describe()} covers it and always wins"))
                break
        if r.decision == "allow":
            for s in live:
                if s.decision == "deny" and s.id != r.id and binds(s, r) and r.priority > s.priority \
                        and covers(s.compiled, p) and (scope_contains(s.scope, r.scope) or scope_contains(r.scope, s.scope)):
                    findings.append((r.id, "overrides-deny",
                                     f"allows `{show(r.pattern)}` although {s.describe()} denies the broader pattern"))
        if r.match or r.not_match:
            try:
                problems = example_problems(r.pattern, r.match, r.not_match)
            except ImportError:
                problems = []
            findings.extend((r.id, "example", msg) for msg in problems)
    return findings


@click.command(epilog="\b\nExamples:\n  vsh log\n  vsh log -n 100 --json | jq '.[] | select(.decision==\"deny\")'",
               context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--json", "as_json", is_flag=True, help="Print the entries as a JSON array.")
@click.option("-n", "count", type=click.IntRange(min=1), default=20, show_default=True,
              help="How many of the latest entries to show.")
@click.pass_context
def log(ctx: click.Context, as_json: bool, count: int) -> None:
    """Show the audit log (decisions, runs, proxy requests), oldest first. Secrets are redacted."""
    from vshell import audit
    from vshell.decide import show

    env = _env(ctx)
    entries = audit.read(env.paths, count)
    if as_json:
        _echo_json(env, entries)
        return
    if not entries:
        print(f"the audit log is empty ({env.paths.audit_log})", file=env.stdout)
    for e in entries:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e.get("ts", 0)))
        kind = e.get("kind", "?")
        if kind == "decision":
            rule = f" rule #{e['rule']}" if e.get("rule") else ""
            src = " (check)" if e.get("source") == "check" else ""
            print(f"{when}  {e.get('decision', '?'):5}  {e.get('context', '?'):12} {e.get('risk', '?'):6}"
                  f" by {e.get('by', '?')}{rule}{src}  {show(str(e.get('line', '')))}", file=env.stdout)
        else:
            detail = {k: v for k, v in e.items() if k not in ("ts", "kind")}
            print(f"{when}  {kind:5}  {show(json.dumps(detail, ensure_ascii=False))}", file=env.stdout)


__all__ = ["check", "log", "rules"]
