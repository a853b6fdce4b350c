"""The decision: allow, ask or deny one classified line, from rules, grants, tolerance and mode.

`decide()` is deterministic and has no side effects: everything it reads is passed in (the only
outside look is resolving symlinks of the working directories, which is what "the resolved
directory at evaluation time" means). vshell.approval wraps it with the database, prompt and audit.

Per action, in order:
1. `locked` mode refuses every `--host` (tool host_bash) action outright.
2. The rules that match the action (its words, or the whole line for an exact-line rule) and apply
   here are resolved: higher priority first; at equal priority deny > ask > allow; then the more
   specific pattern; then the older rule. The winner decides — except that an `ask` winner still lets
   a temporary grant through.
   A rule does not apply when it expired, when its scope does not contain the action's resolved
   directory, or when it is for another tool (`bash` deny/ask rules also bind `host_bash` actions:
   stricter never hurts; allow rules bind only their own tool).
   Allow rules (and key grants) are further barred — the action then needs the tolerance or a person
   — when the action is not rule-eligible (environment prefix, non-literal word, substitution, ...),
   when its directory is unknown (a non-literal `cd`) or a `cd` took it out of the workspace, when
   the line changes shell state first, or (for word patterns) when it writes a file through a
   redirection, which patterns do not see. A wildcard may only allow what the pattern's literal
   words imply: never a high-risk action (`find *` must not allow `find . -delete`), and never an
   action riskier than the command model rates those literal words alone (`git log *` allows
   `git log -p` but not `git log --output=f`; `git *` does not allow `git push`; a pattern that
   starts with a wildcard allows only low-risk actions). An exact pattern (`rm -rf build`) can
   allow anything it names. An exact-line allow rule is the person's approval of
   those very bytes and is not barred by these. A line that did not parse is never allowed by any
   rule; only an exact-line deny or ask rule applies to it.
3. A temporary grant (never for a high-risk action, never for a line that did not parse).
4. The tolerance: `unrestricted` mode approves everything; otherwise actions up to the context's
   `auto_approve_up_to` (capped at low in `locked` mode; `none` approves nothing). host_bash actions
   and unparsable lines are never approved by tolerance.
The line is allowed only when every action is; one deny denies it; otherwise it is "ask". In the
headless and background contexts nobody can answer, so "ask" becomes "deny".
"""

from __future__ import annotations

import os
import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from vshell.config import CONTEXTS, MODES, Tolerance
from vshell.grants import Grant
from vshell.model import Action, Classification, Risk
from vshell.patterns import ANY_FIRST_WORD, compile_pattern, escape_exact
from vshell.rules import TOOLS, TrustRule

STRICTNESS = {"allow": 0, "ask": 1, "deny": 2}
NO_PROMPT_CONTEXTS = ("headless", "background")
# Defence in depth: the command model already marks these not rule-eligible.
BARRED_ORIGINS = {
    "substitution": "it runs inside a command or process substitution",
    "function": "it runs inside a function body defined on the line",
}


def show(text: str) -> str:
    """Text with control / invisible characters made visible (vshell.display when present)."""
    try:
        from vshell.display import visible
    except ImportError:
        return "".join(
            ch if ch.isprintable() and ch not in "\u200b\u200c\u200d\u2060\ufeff" else repr(ch)[1:-1]
            for ch in text
        )
    return visible(text)


def show_words(words: Sequence[str]) -> str:
    return show(" ".join(shlex.quote(w) for w in words))


@dataclass(frozen=True)
class RuleVerdict:
    """One rule consulted for one action: does it apply, and why (for traces and `vsh explain`)."""

    rule: TrustRule
    applies: bool
    why: str
    by_line: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule.id, "pattern": self.rule.pattern, "decision": self.rule.decision,
                "applies": self.applies, "why": self.why}


@dataclass(frozen=True)
class ActionDecision:
    """The decision for one action. `by`: "rule", "grant", "tolerance", "mode" or "none"
    (nothing approved it: it needs a person). `directory`: the resolved working directory the action
    runs in (None = unknown). `barred`: why allow rules and grants could not apply."""

    index: int
    action: Action
    decision: str
    by: str
    reason: str
    rule: TrustRule | None = None
    grant: Grant | None = None
    directory: Path | None = None
    barred: tuple[str, ...] = ()
    consulted: tuple[RuleVerdict, ...] = ()

    @property
    def line(self) -> str:
        a = self.action
        return f"action {self.index} `{show_words(a.words or a.argv)}` risk {a.risk.label}: {self.reason}"

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "action_key": self.action.key,
            "words": list(self.action.words),
            "risk": self.action.risk.label,
            "decision": self.decision,
            "by": self.by,
            "reason": self.reason,
            "rule": self.rule.id if self.rule else None,
            "grant": self.grant.id if self.grant else None,
            "directory": str(self.directory) if self.directory else None,
            "barred": list(self.barred),
            "consulted": [v.to_json() for v in self.consulted],
        }


@dataclass(frozen=True)
class Decision:
    """The decision for a whole line. `needed_approval`: some action was "ask" before the context was
    taken into account (so a headless "deny" may just mean "nobody could be asked")."""

    decision: str
    risk: Risk
    rule: TrustRule | None
    trace: tuple[str, ...]
    actions: tuple[ActionDecision, ...]
    classification: Classification
    suggested_rule: str | None
    context: str = "headless"
    tool: str = "bash"
    mode: str = "sandboxed"
    needed_approval: bool = False
    by: str = "none"  # how the line was decided: "rule", "grant", "tolerance", "mode", "prompt", ...
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def allowed(self) -> bool:
        return self.decision == "allow"

    @property
    def pending(self) -> tuple[ActionDecision, ...]:
        """The actions that are not allowed (what a person would be asked about)."""
        return tuple(a for a in self.actions if a.decision != "allow")

    def to_json(self) -> dict[str, Any]:
        return {
            "decision": self.decision,
            "risk": self.risk.label,
            "rule": self.rule.to_json() if self.rule else None,
            "trace": list(self.trace),
            "command": self.classification.command,
            "parse_ok": self.classification.parse_ok,
            "context": self.context,
            "tool": self.tool,
            "mode": self.mode,
            "by": self.by,
            "needed_approval": self.needed_approval,
            "actions": [a.to_json() for a in self.actions],
            "suggested_rule": self.suggested_rule,
            **self.extra,
        }


def _within(child: Path, parent: Path) -> bool:
    return child == parent or parent in child.parents


class _Resolver:
    def __init__(self, resolve: Callable[[str], str]) -> None:
        self._resolve = resolve
        self._cache: dict[str, Path] = {}

    def __call__(self, p: Path | str) -> Path:
        key = str(p)
        got = self._cache.get(key)
        if got is None:
            got = self._cache[key] = Path(self._resolve(key))
        return got


def _writes_file(a: Action) -> bool:
    return any(r.writes for r in a.redirects)


def _index(rules: Sequence[TrustRule]) -> Callable[[Classification, Action], list[TrustRule]]:
    """Rules by their pattern's index word (a word every matching action contains) and exact lines
    by their text, so one decision over thousands of rules only looks at the few that can match."""
    by_word: dict[str, list[TrustRule]] = {}
    by_line: dict[str, list[TrustRule]] = {}
    for r in rules:
        try:
            p = r.compiled
        except ValueError:
            continue
        if p.tokens:
            by_word.setdefault(p.index_word, []).append(r)
        if p.line is not None:
            by_line.setdefault(p.line, []).append(r)

    def lookup(c: Classification, a: Action) -> list[TrustRule]:
        seen: dict[int, TrustRule] = {}
        for key in (*dict.fromkeys(a.words), ANY_FIRST_WORD):
            for r in by_word.get(key, ()):
                seen.setdefault(id(r), r)
        for r in by_line.get(c.command, ()):
            seen.setdefault(id(r), r)
        return list(seen.values())

    return lookup


def decide(
    c: Classification,
    *,
    rules: Sequence[TrustRule],
    grants: Sequence[Grant] = (),
    tool: str = "bash",
    context: str,
    tolerance: Tolerance,
    mode: str = "sandboxed",
    cwd: Path,
    workspace: Path,
    now: float | None = None,
    resolve: Callable[[str], str] = os.path.realpath,
    suggest: bool = True,
    base_risk: Callable[[tuple[str, ...]], Risk] | None = None,
) -> Decision:
    """Decide one line. Raises ValueError only for an unknown tool, context or mode.
    `base_risk`: the risk of a pattern's literal words alone (default: `prefix_risk`, the command
    model's rating); `resolve`: how directories are resolved (default: os.path.realpath)."""
    base_risk = base_risk or prefix_risk
    if tool not in TOOLS:
        raise ValueError(f"unknown tool {tool!r}")
    if context not in CONTEXTS:
        raise ValueError(f"unknown context {context!r}")
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}")
    now = time.time() if now is None else now
    res = _Resolver(resolve)
    start = res(cwd)
    ws = res(workspace)
    limit = tolerance.for_context(context)
    if mode == "locked" and limit is not None:
        limit = min(limit, Risk.LOW)
    lookup = _index(rules)

    trace: list[str] = [
        f"line risk {c.risk.label}{'' if c.parse_ok else ' (did not parse)'}; context {context}; "
        f"mode {mode}; tool {tool}; auto-approve up to {limit.label if limit is not None else 'none'}"
        + (" (everything: unrestricted)" if mode == "unrestricted" and tool == "bash" else "")
    ]
    line_barred: list[str] = []
    if not c.parse_ok:
        line_barred.append("the line did not parse")
    if c.mutates_shell_state:
        line_barred.append("the line changes shell state (function, alias, trap or behaviour-changing export)")

    actions = c.actions or (
        Action(argv=(), program="", key="", words=(), risk=c.risk, reasons=c.reasons, rule_eligible=False,
               ineligible_reasons=("no command to match",)),
    )
    decided: list[ActionDecision] = []
    for index, a in enumerate(actions, 1):
        decided.append(_decide_action(index, a, c, lookup(c, a), grants, tool, limit, mode, start, ws, res,
                                      now, line_barred, base_risk))
    for d in decided:
        trace.append(d.line)
        trace.extend(f"  {v.rule.describe()}: {v.why}" for v in d.consulted)

    verdicts = {d.decision for d in decided}
    decision = "deny" if "deny" in verdicts else "ask" if "ask" in verdicts else "allow"
    needed = decision == "ask"
    if decision == "ask" and context in NO_PROMPT_CONTEXTS:
        decision = "deny"
        trace.append(f"needs approval, and nobody can be asked in the {context} context: refused")
    deciding = [d for d in decided if d.decision == (decision if not needed else "ask")]
    rule = next((d.rule for d in deciding if d.rule is not None), None)
    bys = {d.by for d in deciding}
    by = "rule" if rule is not None else (sorted(bys)[0] if len(bys) == 1 else "mixed")
    trace.append(f"decision: {decision}")
    trace = [show(t) for t in trace]  # patterns and words may hold control characters

    out = Decision(
        decision=decision, risk=c.risk, rule=rule, trace=tuple(trace), actions=tuple(decided),
        classification=c, suggested_rule=None, context=context, tool=tool, mode=mode,
        needed_approval=needed, by=by,
    )
    if suggest and decision != "allow":
        out = replace(out, suggested_rule=_suggest(out, rules=rules, grants=grants, tolerance=tolerance,
                                                   cwd=cwd, workspace=workspace, now=now, resolve=resolve,
                                                   start=start, ws=ws, base_risk=base_risk))
    return out


def _decide_action(
    index: int,
    a: Action,
    c: Classification,
    candidates: list[TrustRule],
    grants: Sequence[Grant],
    tool: str,
    limit: Risk | None,
    mode: str,
    start: Path,
    ws: Path,
    res: _Resolver,
    now: float,
    line_barred: list[str],
    base_risk: Callable[[tuple[str, ...]], Risk],
) -> ActionDecision:
    if a.cwd is None:
        directory: Path | None = None
    elif a.cwd == "":
        directory = start
    else:
        directory = res(start / a.cwd)

    barred = list(line_barred)
    if not a.rule_eligible:
        barred.extend(a.ineligible_reasons or ("the command model marked it not eligible for rules",))
    elif not a.literal:
        barred.append("a word is not literal")
    elif a.origin in BARRED_ORIGINS:
        barred.append(BARRED_ORIGINS[a.origin])
    if directory is None:
        barred.append("it runs after a `cd` to a directory that is not literal")
    elif a.cwd and not _within(directory, ws):
        barred.append(f"a `cd` takes it out of the workspace (to {directory})")
    writes = _writes_file(a)

    if mode == "locked" and tool == "host_bash":
        return ActionDecision(index, a, "deny", "mode", "locked mode refuses --host", directory=directory,
                              barred=tuple(barred))

    verdicts: list[RuleVerdict] = []
    applicable: list[tuple[TrustRule, bool]] = []
    present = frozenset(a.words)
    for r in candidates:
        p = r.compiled
        by_line = p.matches_line(c.command)
        if not by_line and not p.matches_words(a.words, present):
            continue
        why = _why_not(r, by_line, c, a.risk, tool, directory, barred, writes, res, now, base_risk)
        verdicts.append(RuleVerdict(r, why is None, why or "applies", by_line))
        if why is None:
            applicable.append((r, by_line))

    best: tuple[TrustRule, bool] | None = None
    if applicable:
        best = max(applicable, key=lambda rb: (rb[0].priority, STRICTNESS[rb[0].decision],
                                               rb[0].compiled.specificity(by_line=rb[1]), -rb[0].id))
    # Put the winner first in what we report.
    verdicts.sort(key=lambda v: 0 if best is not None and v.rule is best[0] else 1)
    consulted = tuple(verdicts)
    common: dict[str, Any] = {"directory": directory, "barred": tuple(barred), "consulted": consulted}

    if best is not None and best[0].decision != "ask":
        r = best[0]
        return ActionDecision(index, a, r.decision, "rule", f"{r.describe()} applies", rule=r, **common)

    grant = None
    if a.risk < Risk.HIGH and c.parse_ok:
        key_ok = not barred and not writes
        grant = next((g for g in grants if g.tool == tool and g.expires > now and (
            (g.kind == "line" and g.value == c.command) or (g.kind == "key" and key_ok and g.value == a.key)
        )), None)
    if grant is not None:
        return ActionDecision(index, a, "allow", "grant", f"{grant.describe()} applies", grant=grant,
                              rule=None, **common)
    if best is not None:
        r = best[0]
        return ActionDecision(index, a, "ask", "rule", f"{r.describe()} applies", rule=r, **common)

    if tool == "host_bash":
        return ActionDecision(index, a, "ask", "none", "--host actions need a rule or a person's approval",
                              **common)
    if not c.parse_ok:
        return ActionDecision(index, a, "ask", "none", "the line did not parse: never auto-approved", **common)
    if mode == "unrestricted":
        return ActionDecision(index, a, "allow", "mode", "unrestricted mode approves everything", **common)
    if limit is not None and a.risk <= limit:
        return ActionDecision(index, a, "allow", "tolerance", f"within the tolerance (up to {limit.label})",
                              **common)
    tol = limit.label if limit is not None else "none"
    none = "no rule applies"
    if consulted:
        v = consulted[0]
        none = f"rule #{v.rule.id} `{v.rule.pattern}` matches but does not apply ({v.why})"
    return ActionDecision(index, a, "ask", "none",
                          f"{none}, and risk {a.risk.label} is above the tolerance ({tol})", **common)


@lru_cache(maxsize=4096)
def prefix_risk(words: tuple[str, ...]) -> Risk:
    """The risk the command model gives the literal words of a pattern on their own: what a wildcard
    rule may allow. Low when there are none (a pattern starting with a wildcard) or no model."""
    if not words:
        return Risk.LOW
    try:
        from vshell.classify import classify
    except ImportError:
        return Risk.LOW
    c = classify(" ".join(shlex.quote(w) for w in words))
    return c.risk if c.parse_ok else Risk.LOW


def _why_not(
    r: TrustRule,
    by_line: bool,
    c: Classification,
    risk: Risk,
    tool: str,
    directory: Path | None,
    barred: list[str],
    writes: bool,
    res: _Resolver,
    now: float,
    base_risk: Callable[[tuple[str, ...]], Risk],
) -> str | None:
    """Why a matching rule does not apply to this action (None: it applies)."""
    if r.expired(now):
        return "expired"
    if r.tool != tool and not (r.tool == "bash" and tool == "host_bash" and r.decision != "allow"):
        return f"for {r.tool}, not {tool}"
    if not c.parse_ok:
        if r.decision == "allow":
            return "no rule allows a line that did not parse"
        if not by_line:
            return "only an exact-line rule applies to a line that did not parse"
    if r.scope is not None:
        if directory is None:
            if r.decision == "allow":
                return "the working directory is unknown, so the scope cannot be checked"
        elif not _within(directory, res(r.scope)):
            return f"{directory} is outside its scope"
    if r.decision == "allow" and not by_line:
        p = r.compiled
        if not p.exact:
            if risk >= Risk.HIGH:
                return ("a wildcard rule never allows a high-risk action (what makes it high may be a word the "
                        "wildcard absorbed): only an exact rule can")
            base = base_risk(p.literal_prefix)
            if risk > base:
                shown = " ".join(p.literal_prefix) or "(nothing)"
                return (f"the words its wildcard absorbed raise the risk to {risk.label}, above what its literal "
                        f"words `{shown}` imply ({base.label})")
        if barred:
            return "allow rules do not apply: " + "; ".join(barred)
        if writes:
            return "allow rules do not apply: it writes a file through a redirection, which patterns do not see"
    return None


def _suggest(
    d: Decision,
    *,
    rules: Sequence[TrustRule],
    grants: Sequence[Grant],
    tolerance: Tolerance,
    cwd: Path,
    workspace: Path,
    now: float,
    resolve: Callable[[str], str],
    start: Path,
    ws: Path,
    base_risk: Callable[[tuple[str, ...]], Risk],
) -> str | None:
    """The `vsh rules add ...` command that would allow this line, verified by deciding again with it:
    the most specific generalisation when it suffices (and the line is not high risk), else the exact
    line. None when no rule can
    (a line that did not parse, --host in locked mode)."""
    c = d.classification
    if not c.parse_ok or (d.mode == "locked" and d.tool == "host_bash"):
        return None
    exact = c.suggestions[0] if c.suggestions else escape_exact(c.command)
    # A generalisation only below high risk: `rm -rf x` must not teach `rm -rf *`.
    general = c.suggestions[1:2] if c.risk < Risk.HIGH else ()
    candidates = [*general, exact]
    scope = ws if _within(start, ws) else start
    top = max((v.rule.priority for a in d.actions for v in a.consulted
               if v.applies and v.rule.decision != "allow"), default=None)
    priorities = [0] if top is None or top < 0 else [0, top + 1]
    for pattern in candidates:
        try:
            compile_pattern(pattern)
        except ValueError:
            continue
        for priority in priorities:
            trial = TrustRule(id=0, tool=d.tool, pattern=pattern, scope=scope, decision="allow",
                              priority=priority, created=now)
            again = decide(c, rules=[*rules, trial], grants=grants, tool=d.tool, context=d.context,
                           tolerance=tolerance, mode=d.mode, cwd=cwd, workspace=workspace, now=now,
                           resolve=resolve, suggest=False, base_risk=base_risk)
            if again.decision == "allow":
                parts = ["vsh", "rules", "add", "--tool", d.tool, "--pattern", pattern, "--decision",
                         "allow", "--scope", str(scope)]
                if priority:
                    parts += ["--priority", str(priority)]
                return shlex.join(parts)
    return None
