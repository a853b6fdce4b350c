"""Authorization of one line: rules and grants from the database, the pure decision, a prompt when a
person can answer, rate limits, refusal counting and the audit entry. Side effects live here so that
vshell.decide stays pure.

Fail closed: an unreadable rules database, a config that does not validate or an unopenable terminal
all end in no run. Only `authorize` returning means "go".
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from vshell import audit
from vshell.config import CONTEXTS, Config
from vshell.decide import ActionDecision, Decision, decide, show
from vshell.environment import Environment
from vshell.errors import PolicyRefused, StateError, UsageError
from vshell.grants import SESSION_MAX, TEN_MINUTES, GrantStore, default_session_id
from vshell.model import Classification, Risk
from vshell.rules import RuleStore, TrustRule
from vshell.utf8 import encodable

REFUSALS_BEFORE_GIVING_UP = 3
_SHOWN = 120


class PromptNeeded(Exception):
    """The decision needs a person and env.defer_prompts is set: nothing was recorded yet; the
    caller decides again where the prompt can be shown."""


def default_context(env: Environment) -> str:
    """"conversation" when stdin is a terminal and /dev/tty opens; "headless" otherwise."""
    try:
        interactive = env.stdin.isatty()
    except (AttributeError, ValueError):
        interactive = False
    if not interactive:
        return "headless"
    return "conversation" if _can_ask(env) else "headless"


def _can_ask(env: Environment) -> bool:
    from vshell.runfast import tty_opens

    return tty_opens() if env.tty is None else env.tty


def _short(line: str) -> str:
    text = show(line)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


def _pending_reason(d: Decision) -> tuple[ActionDecision | None, str]:
    pending = d.pending
    first = next((a for a in pending if a.decision == "deny"), pending[0] if pending else None)
    return first, (first.reason if first else "not allowed")


def refusal_key(d: Decision) -> str:
    first, _ = _pending_reason(d)
    if first is not None and first.action.key:
        return first.action.key
    return d.classification.command


def offer_for(d: Decision, *, rules: Sequence[TrustRule], config: Config, cwd: Path, workspace: Path,
              now: float) -> Any:
    """What the prompt may offer for this decision (vshell.prompt.Offer)."""
    from vshell.prompt import Offer, project_root

    c = d.classification
    pending = d.pending
    grants_ok = c.parse_ok and all(a.action.risk < Risk.HIGH for a in pending)
    suggestions = list(dict.fromkeys(c.suggestions)) or []
    allow: list[str] = []
    if c.parse_ok:
        for pattern in suggestions:
            trial = TrustRule(id=0, tool=d.tool, pattern=pattern, scope=None, decision="allow",
                              priority=_priority_to_win(d), created=now)
            try:
                again = decide(c, rules=[*rules, trial], tool=d.tool, context=d.context,
                               tolerance=config.tolerance, mode=config.mode, cwd=cwd, workspace=workspace,
                               now=now, suggest=False)
            except ValueError:
                continue
            if again.decision == "allow":
                allow.append(pattern)
    deny = suggestions if c.parse_ok else suggestions[:1]
    directory = Path(os.path.realpath(cwd))
    return Offer(grants=grants_ok, allow_patterns=tuple(allow), deny_patterns=tuple(deny),
                 directory=directory, project_root=project_root(directory))


def _priority_to_win(d: Decision) -> int:
    top = max((v.rule.priority for a in d.actions for v in a.consulted
               if v.applies and v.rule.decision != "allow"), default=None)
    return 0 if top is None or top < 0 else top + 1


def evaluate(
    env: Environment,
    line: str,
    *,
    tool: str = "bash",
    context: str,
    cwd: Path,
    workspace: Path,
    session_id: str | None = None,
    config: Config | None = None,
) -> Decision:
    """The decision `vsh run` would make right now, without prompting and without side effects other
    than reading state (for `vsh check` and `vsh explain`). Raises StateError when the rules database
    is unusable: no decision is made without it."""
    from vshell.classify import classify

    if context not in CONTEXTS:
        raise UsageError(f"unknown context {context!r} (expected {', '.join(CONTEXTS)})")
    config = config or env.config()
    now = time.time()
    with RuleStore(env.paths) as store:
        store.conn()  # an unusable rules database fails before anything else
        c = classify(line)
        rules = store.candidates(c)
        grants = GrantStore(store).active(session_id or default_session_id(), now)
    return decide(c, rules=rules, grants=grants, tool=tool, context=context, tolerance=config.tolerance,
                  mode=config.mode, cwd=cwd, workspace=workspace, now=now)


def authorize(
    env: Environment,
    line: str,
    *,
    tool: str = "bash",
    context: str | None = None,
    cwd: Path,
    workspace: Path,
    session_id: str | None = None,
) -> Decision:
    """Decide `line`; prompt when a person can answer; record the audit entry. Returns the final
    Decision only when allowed, else raises PolicyRefused (exit 126) naming the action, with the
    `vsh rules add ...` command that would allow it as the hint."""
    from vshell.classify import classify

    ctx = context or default_context(env)
    if ctx not in CONTEXTS:
        raise UsageError(f"unknown context {ctx!r} (expected {', '.join(CONTEXTS)})")
    session = session_id or default_session_id()
    now = time.time()
    c = classify(line)
    config = env.config()
    store = RuleStore(env.paths)
    base: dict[str, Any] = {"line": line, "context": ctx, "tool": tool, "session": session, "cwd": str(cwd),
                            "workspace": str(workspace), "risk": c.risk.label, "source": "authorize"}
    try:
        try:
            rules = store.candidates(c)
            grant_store = GrantStore(store)
            grants = grant_store.active(session, now)
        except StateError as e:
            _audit(env, {**base, "decision": "deny", "by": "state-error", "error": e.message})
            raise
        d = decide(c, rules=rules, grants=grants, tool=tool, context=ctx, tolerance=config.tolerance,
                   mode=config.mode, cwd=cwd, workspace=workspace, now=now)
        for t in d.trace:
            env.trace(t)

        answer = None
        if d.decision == "ask":
            key = refusal_key(d)
            if grant_store.refusals(session, tool, key) >= REFUSALS_BEFORE_GIVING_UP:
                d = _final(d, "deny", "refusal-limit", "refused earlier in this session: not asking again")
                _audit(env, {**base, **_summary(d)})
                raise _giving_up(d, key)
            if not _can_ask(env):
                d = _final(d, "deny", "no-terminal", "needs approval and no terminal is available to ask on")
            elif env.defer_prompts:
                raise PromptNeeded
            else:
                from vshell.prompt import ask

                offer = offer_for(d, rules=rules, config=config, cwd=cwd, workspace=workspace, now=now)
                try:
                    answer = ask(d, offer)
                except PolicyRefused:
                    d = _final(d, "deny", "no-terminal", "needs approval and the terminal could not be opened")
                else:
                    d = _apply_answer(env, store, grant_store, d, answer, session, now)

        if d.decision == "allow":
            limit = config.rate_limit.get(ctx)
            recent = grant_store.count_run(ctx, limit, now)
            if recent is not None:
                d = _final(d, "deny", "rate-limit", f"rate limit: {recent} runs in the last minute")
                _audit(env, {**base, **_summary(d)})
                raise PolicyRefused(
                    f"refused `{_short(line)}`: rate limit of {limit} runs per minute in the {ctx} context "
                    "reached",
                    hint="wait a minute, or raise [approval] rate_limit in config.toml",
                )
        record = {**base, **_summary(d)}
        if answer is not None:
            record["answer"] = answer.choice
        _audit(env, record)
        if d.decision == "allow":
            return d
        count = grant_store.record_refusal(session, tool, refusal_key(d), now)
        raise _refusal(d, count)
    finally:
        store.close()


def _audit(env: Environment, record: dict[str, Any]) -> None:
    audit.append(env.paths, "decision", record)


def _summary(d: Decision) -> dict[str, Any]:
    return {
        "decision": d.decision,
        "by": d.by,
        "rule": d.rule.id if d.rule else None,
        "actions": [{"key": a.action.key, "risk": a.action.risk.label, "decision": a.decision, "by": a.by}
                    for a in d.actions],
        "trace": list(d.trace),
    }


def _final(d: Decision, decision: str, by: str, why: str) -> Decision:
    return replace(d, decision=decision, by=by, trace=(*d.trace, f"{why}: {decision}"))


def _apply_answer(env: Environment, store: RuleStore, grants: GrantStore, d: Decision, answer: Any,
                  session: str, now: float) -> Decision:
    c: Classification = d.classification
    choice = answer.choice
    if choice == "once":
        return _final(d, "allow", "prompt", "the person allowed it once")
    if not _storable(d, answer, choice):
        env.warn("this line holds bytes that are not UTF-8, which vsh cannot store: the answer holds "
                 "for this run only")
        decision = "deny" if choice not in ("10m", "session", "always") else "allow"
        return _final(d, decision, "prompt", "the person answered for this run only")
    if choice in ("10m", "session"):
        ttl = TEN_MINUTES if choice == "10m" else SESSION_MAX
        for kind, value in _grant_targets(d):
            grants.add(session=session, tool=d.tool, kind=kind, value=value, ttl=ttl, now=now)
        span = "10 minutes" if choice == "10m" else "this session"
        return _final(d, "allow", "prompt", f"the person allowed it for {span}")
    if choice in ("always", "never"):
        decision = "allow" if choice == "always" else "deny"
        rule = store.add(tool=d.tool, pattern=answer.pattern, decision=decision, scope=answer.scope,
                         priority=_priority_to_win(d) if decision == "allow" else 0,
                         note=audit.redact(f"added at the prompt for {c.command[:200]!r}"))
        env.warn(show(f"stored {rule.describe()}"))
        return replace(_final(d, decision, "prompt", f"the person stored {rule.describe()}"), rule=rule)
    return _final(d, "deny", "prompt", "the person did not allow it")


def _storable(d: Decision, answer: Any, choice: str) -> bool:
    if choice in ("10m", "session"):
        return all(encodable(value) for _, value in _grant_targets(d))
    if choice in ("always", "never"):
        return encodable(answer.pattern) and encodable(str(answer.scope or ""))
    return True


def _grant_targets(d: Decision) -> list[tuple[str, str]]:
    """Key grants for actions a key can stand for; the exact line for the others."""
    targets: list[tuple[str, str]] = []
    for a in d.pending:
        writes = any(r.writes for r in a.action.redirects)
        if a.action.key and not a.barred and not writes:
            targets.append(("key", a.action.key))
        else:
            targets.append(("line", d.classification.command))
    return list(dict.fromkeys(targets))


def _refusal(d: Decision, count: int) -> PolicyRefused:
    first, reason = _pending_reason(d)
    what = f"`{_short(d.classification.command)}`"
    if first is not None and len(d.actions) > 1 and first.action.words:
        what += f" (action {first.index} `{_short(' '.join(first.action.words))}`)"
    if d.by == "prompt":
        why = "not allowed by the person"
    elif d.by in ("no-terminal", "refusal-limit", "rate-limit"):
        why = d.trace[-1].rsplit(":", 1)[0]
    elif d.needed_approval:
        why = f"{reason}; nobody can be asked in the {d.context} context"
    else:
        why = reason
    message = f"refused {what}: {why}"
    if count >= REFUSALS_BEFORE_GIVING_UP:
        message += f" (refused {count} times in this session)"
    hint = f"to allow it: {d.suggested_rule}" if d.suggested_rule else None
    if count >= REFUSALS_BEFORE_GIVING_UP:
        hint = ("stop retrying this command: use a lower-risk alternative, or ask the person to run: "
                + (d.suggested_rule or "vsh rules add ..."))
    return PolicyRefused(show(message), hint=show(hint) if hint else None, detail="\n".join(d.trace))


def _giving_up(d: Decision, key: str) -> PolicyRefused:
    return PolicyRefused(
        f"refused `{_short(d.classification.command)}`: `{_short(key)}` was refused "
        f"{REFUSALS_BEFORE_GIVING_UP} times in this session, so vsh does not ask again",
        hint=show("use a lower-risk alternative, or ask the person to run: "
                  + (d.suggested_rule or "vsh rules add ...")),
        detail="\n".join(d.trace),
    )
