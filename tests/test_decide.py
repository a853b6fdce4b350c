"""Resolution tables for the pure `decide()`, over hand-built classifications."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vshell.config import Tolerance
from vshell.decide import Decision
from vshell.decide import decide as _decide
from vshell.grants import Grant
from vshell.model import Action, Classification, Redirect, Risk
from vshell.rules import TrustRule

L, M, H = Risk.LOW, Risk.MEDIUM, Risk.HIGH
NOW = 1_000_000.0


def act(words: str, risk: Risk = M, **kw: object) -> Action:
    w = tuple(words.split())
    return Action(argv=w, program=w[0], key=" ".join(w[:2]), words=w, risk=risk, reasons=(), **kw)  # type: ignore[arg-type]


def line(text: str, *actions: Action, parse_ok: bool = True, mutates: bool = False,
         suggestions: tuple[str, ...] = ()) -> Classification:
    risk = max((a.risk for a in actions), default=L) if parse_ok else H
    return Classification(command=text, parse_ok=parse_ok, risk=risk, actions=actions,
                          suggestions=suggestions or (text,), mutates_shell_state=mutates)


_ids = iter(range(1, 1_000_000))


def rule(pattern: str, decision: str = "allow", *, priority: int = 0, scope: Path | None = None,
         tool: str = "bash", expires: float | None = None, rid: int | None = None) -> TrustRule:
    return TrustRule(id=rid if rid is not None else next(_ids), tool=tool, pattern=pattern, scope=scope,
                     decision=decision, priority=priority, created=NOW - 10, expires=expires)


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    w = tmp_path / "ws"
    (w / "sub").mkdir(parents=True)
    return w


DEFAULT = Tolerance()
# What the command model would rate a pattern's literal words alone (kept fixed for these tables).
BASE = {(): L, ("git",): L, ("git", "push"): M, ("git", "push", "origin"): M, ("find",): L, ("find", "."): L,
        ("x",): M, ("ls",): L, ("rm",): H, ("cd",): L, ("sed",): M, ("git", "log"): L}


def base_risk(words: tuple[str, ...]) -> Risk:
    return BASE.get(words, M if words and words[0].startswith("tool") else L)


def decide(c: Classification, **kw: object) -> Decision:
    kw.setdefault("base_risk", base_risk)
    return _decide(c, **kw)  # type: ignore[arg-type]


def run(c: Classification, ws: Path, rules: list[TrustRule] = (), *, context: str = "headless",  # type: ignore[assignment]
        tolerance: Tolerance = DEFAULT, mode: str = "sandboxed", tool: str = "bash",
        grants: list[Grant] = (), cwd: Path | None = None) -> str:  # type: ignore[assignment]
    d = decide(c, rules=rules, grants=grants, tool=tool, context=context, tolerance=tolerance, mode=mode,
               cwd=cwd or ws, workspace=ws, now=NOW)
    return d.decision


PUSH = line("git push origin main", act("git push origin main"))


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        ([], "deny"),  # medium, headless, no rule: nobody to ask
        ([rule("git push *")], "allow"),
        ([rule("git push *"), rule("git push *", "deny")], "deny"),  # deny > allow at equal priority
        ([rule("git push *"), rule("git push *", "ask")], "deny"),  # ask > allow (headless -> deny)
        ([rule("git push *", priority=1), rule("git push *", "deny")], "allow"),  # priority first
        ([rule("git push *", "deny", priority=1), rule("git push origin main", priority=0)], "deny"),
        ([rule("git *", "deny"), rule("git push *", priority=1)], "allow"),
        ([rule("git push *", expires=NOW - 1)], "deny"),  # expired: ignored
        ([rule("git push *", expires=NOW + 60)], "allow"),
        ([rule("git push *", tool="host_bash")], "deny"),  # another tool
        ([rule("git status *")], "deny"),
        ([rule("git push origin main")], "allow"),  # exact line
        ([rule("*")], "deny"),  # a leading wildcard allows only what is low risk anyway
        ([rule("git *")], "deny"),  # `push` was absorbed by the wildcard and raises the risk
        ([rule("git push origin *")], "allow"),
    ],
)
def test_resolution(ws: Path, rules: list[TrustRule], expected: str) -> None:
    assert run(PUSH, ws, rules) == expected


def test_specificity_names_the_more_specific_rule(ws: Path) -> None:
    general, specific = rule("git *"), rule("git push origin *")
    d = decide(PUSH, rules=[general, specific], context="headless", tolerance=Tolerance(), cwd=ws,
               workspace=ws, now=NOW)
    assert d.decision == "allow" and d.rule == specific
    assert any("rule #" in t and "applies" in t for t in d.trace)


def test_ask_rule_in_conversation_is_ask(ws: Path) -> None:
    assert run(PUSH, ws, [rule("git push *", "ask")], context="conversation") == "ask"
    # A low-risk action with an ask rule still asks: rules beat tolerance.
    ls = line("ls", act("ls", L))
    assert run(ls, ws, [rule("ls *", "ask")], context="conversation") == "ask"


def test_every_action_must_be_allowed_and_wildcards_never_span(ws: Path) -> None:
    c = line("git status && rm -rf x", act("git status", L), act("rm -rf x", H))
    assert run(c, ws, [rule("git status *")]) == "deny"
    assert run(c, ws, [rule("git *")]) == "deny"
    assert run(c, ws, [rule("git status *"), rule("rm *")]) == "deny"  # wildcards never allow HIGH
    assert run(c, ws, [rule("git status *"), rule("rm -rf x")]) == "allow"  # an exact pattern can
    # A deny on one action denies the line even when the other is allowed.
    c2 = line("ls; rm x", act("ls", L), act("rm x", M))
    assert run(c2, ws, [rule("rm *", "deny"), rule("ls *")], context="conversation") == "deny"


@pytest.mark.parametrize(
    ("scope_of", "cwd_of", "expected"),
    [
        (lambda w, o: w, lambda w, o: w, "allow"),
        (lambda w, o: w, lambda w, o: w / "sub", "allow"),
        (lambda w, o: w / "sub", lambda w, o: w, "deny"),
        (lambda w, o: o / "repo", lambda w, o: o / "repo2", "deny"),  # /repo does not cover /repo2
        (lambda w, o: o / "repo", lambda w, o: o / "repo", "allow"),
        (lambda w, o: o / "link", lambda w, o: o / "repo", "allow"),  # scope through a symlink
        (lambda w, o: o / "repo", lambda w, o: o / "link", "allow"),  # cwd through a symlink
        (lambda w, o: o / "link2", lambda w, o: o / "repo", "deny"),  # symlink to repo2
    ],
)
def test_scope_boundaries(ws: Path, tmp_path: Path, scope_of, cwd_of, expected: str) -> None:  # type: ignore[no-untyped-def]
    o = tmp_path / "o"
    (o / "repo").mkdir(parents=True)
    (o / "repo2").mkdir()
    os.symlink(o / "repo", o / "link")
    os.symlink(o / "repo2", o / "link2")
    r = rule("git push *", scope=scope_of(ws, o))
    assert run(PUSH, ws, [r], cwd=cwd_of(ws, o)) == expected


def test_cd_leaving_scope_or_workspace_bars_allow_rules(ws: Path, tmp_path: Path) -> None:
    r = rule("git push *", scope=ws)
    inside = line("cd sub && git push origin main", act("cd sub", L), act("git push origin main", cwd="sub"))
    assert run(inside, ws, [r, rule("cd *")]) == "allow"
    out = line("cd .. && git push origin main", act("cd ..", L), act("git push origin main", cwd=".."))
    assert run(out, ws, [r, rule("cd *")]) == "deny"
    # Unscoped rule, but the cd leaves the workspace: allow rules do not apply.
    assert run(out, ws, [rule("git push *"), rule("cd *")]) == "deny"
    unknown = line("cd $X && git push origin main", act("cd $X", L, literal=False),
                   act("git push origin main", cwd=None))
    assert run(unknown, ws, [rule("git push *"), rule("cd *")]) == "deny"
    # Deny rules still apply to an action in an unknown directory.
    assert run(unknown, ws, [rule("git push *", "deny", scope=ws)], context="conversation") == "deny"


@pytest.mark.parametrize(
    "action",
    [
        act("rm -rf x", H, rule_eligible=False, ineligible_reasons=("environment prefix FOO",), env=("FOO",)),
        act("ls x", M, literal=False),
        act("ls", M, redirects=(Redirect(">", None, "out", True),)),
    ],
)
def test_ineligible_actions_need_tolerance_or_a_person(ws: Path, action: Action) -> None:
    c = line("LINE", action)
    assert run(c, ws, [rule(f"{action.words[0]} *")]) == "deny"
    # but a deny rule still denies, and the exact-line rule (what the person saw) allows
    assert run(c, ws, [rule(f"{action.words[0]} *", "deny")], context="conversation") == "deny"
    assert run(c, ws, [rule("LINE")]) == "allow"


def test_shell_state_mutation_bars_rules(ws: Path) -> None:
    c = line("ls() { rm -rf x; }; ls", act("rm -rf x", H, origin="function"), act("ls", L), mutates=True)
    assert run(c, ws, [rule("ls *"), rule("rm *")]) == "deny"


def test_parse_errors_are_never_allowed_by_rules(ws: Path) -> None:
    c = line('ls "unterminated', act("ls", L), parse_ok=False)
    assert run(c, ws, [rule("ls *"), rule('ls "unterminated'), rule("*")],
               tolerance=Tolerance(H, H, H)) == "deny"
    assert run(c, ws, [], mode="unrestricted", context="conversation") == "ask"
    assert run(c, ws, [rule('ls "unterminated', "deny")], context="conversation") == "deny"
    d = decide(c, rules=[], context="headless", tolerance=Tolerance(), cwd=ws, workspace=ws, now=NOW)
    assert d.suggested_rule is None


@pytest.mark.parametrize(
    ("tolerance", "context", "risk", "expected"),
    [
        (Tolerance(), "headless", L, "allow"),
        (Tolerance(), "headless", M, "deny"),
        (Tolerance(), "conversation", M, "ask"),
        (Tolerance(None, None, None), "headless", L, "deny"),
        (Tolerance(None, None, None), "conversation", L, "ask"),
        (Tolerance(M, M, M), "background", M, "allow"),
        (Tolerance(M, M, M), "background", H, "deny"),
        (Tolerance(L, M, None), "background", M, "allow"),
        (Tolerance(L, M, None), "headless", L, "deny"),
        (Tolerance(L, M, None), "conversation", M, "ask"),
        (Tolerance(H, H, H), "headless", H, "allow"),
    ],
)
def test_tolerance_per_context(ws: Path, tolerance: Tolerance, context: str, risk: Risk, expected: str) -> None:
    c = line("x y", act("x y", risk))
    assert run(c, ws, context=context, tolerance=tolerance) == expected


@pytest.mark.parametrize(
    ("mode", "tool", "risk", "rules", "expected"),
    [
        ("sandboxed", "bash", L, [], "allow"),
        ("locked", "bash", L, [], "allow"),
        ("locked", "bash", M, [], "ask"),
        ("locked", "bash", M, ["allow"], "allow"),  # rules still decide in locked mode
        ("locked", "host_bash", L, ["allow"], "deny"),  # --host refused
        ("unrestricted", "bash", H, [], "allow"),
        ("unrestricted", "bash", H, ["deny"], "deny"),
        ("unrestricted", "host_bash", L, [], "ask"),  # host never by tolerance
        ("sandboxed", "host_bash", L, [], "ask"),
        ("sandboxed", "host_bash", L, ["allow"], "allow"),
    ],
)
def test_modes_and_host(ws: Path, mode: str, tool: str, risk: Risk, rules: list[str], expected: str) -> None:
    c = line("x y", act("x y", risk))
    rs = [rule("x *", d, tool=tool) for d in rules]
    assert run(c, ws, rs, mode=mode, tool=tool, context="conversation", tolerance=Tolerance(L, L, L)) == expected


def test_bash_deny_rules_bind_host_runs_but_allow_rules_do_not(ws: Path) -> None:
    c = line("x y", act("x y", L))
    assert run(c, ws, [rule("x *", "deny")], tool="host_bash", context="conversation") == "deny"
    assert run(c, ws, [rule("x *")], tool="host_bash", context="conversation") == "ask"


def grant(kind: str, value: str, *, tool: str = "bash", expires: float = NOW + 600) -> Grant:
    return Grant(next(_ids), "s1", tool, kind, value, NOW - 1, expires)


@pytest.mark.parametrize(
    ("c", "grants", "expected"),
    [
        (line("git push origin main", act("git push origin main", M)), [grant("key", "git push")], "allow"),
        (line("git push origin main", act("git push origin main", H)), [grant("key", "git push")], "ask"),
        (line("git push origin main", act("git push origin main", H)),
         [grant("line", "git push origin main")], "ask"),  # never for HIGH
        (line("git push origin main", act("git push origin main", M)),
         [grant("key", "git push", expires=NOW - 1)], "ask"),
        (line("git push origin main", act("git push origin main", M)),
         [grant("key", "git push", tool="host_bash")], "ask"),
        (line("FOO=1 git push", act("git push", M, rule_eligible=False, ineligible_reasons=("env",))),
         [grant("key", "git push")], "ask"),  # key grants need an eligible action
        (line("FOO=1 git push", act("git push", M, rule_eligible=False, ineligible_reasons=("env",))),
         [grant("line", "FOO=1 git push")], "allow"),
        (line('git push "x', act("git push", M), parse_ok=False), [grant("line", 'git push "x')], "ask"),
    ],
)
def test_grants(ws: Path, c: Classification, grants: list[Grant], expected: str) -> None:
    assert run(c, ws, grants=grants, context="conversation") == expected


def test_grant_beats_ask_rule_not_deny(ws: Path) -> None:
    c = line("git push origin main", act("git push origin main", M))
    g = [grant("key", "git push")]
    assert run(c, ws, [rule("git push *", "ask")], grants=g, context="conversation") == "allow"
    assert run(c, ws, [rule("git push *", "deny")], grants=g, context="conversation") == "deny"


def test_trace_json_and_suggestion(ws: Path) -> None:
    c = line("git push origin main", act("git push origin main"),
             suggestions=("git push origin main", "git push origin *", "git push *"))
    d = decide(c, rules=[], context="headless", tolerance=Tolerance(), cwd=ws, workspace=ws, now=NOW)
    assert d.decision == "deny" and d.needed_approval
    assert d.suggested_rule is not None
    assert "--pattern 'git push origin *'" in d.suggested_rule and "--decision allow" in d.suggested_rule
    j = d.to_json()
    assert {"decision", "risk", "rule", "trace"} <= set(j)
    assert j["risk"] == "medium" and j["rule"] is None
    assert any(t.startswith("action 1 `git push origin main` risk medium") for t in j["trace"])


def test_suggestion_outranks_a_matching_deny(ws: Path) -> None:
    c = line("git push origin main", act("git push origin main"),
             suggestions=("git push origin main", "git push origin *"))
    d = decide(c, rules=[rule("git *", "deny", priority=3)], context="headless", tolerance=Tolerance(),
               cwd=ws, workspace=ws, now=NOW)
    assert d.suggested_rule is not None and "--priority 4" in d.suggested_rule


def test_multi_action_suggestion_is_the_exact_line(ws: Path) -> None:
    c = line("git status && make", act("git status", M), act("make", M),
             suggestions=("git status && make", "git status *"))
    d = decide(c, rules=[], context="headless", tolerance=Tolerance(), cwd=ws, workspace=ws, now=NOW)
    assert d.suggested_rule is not None and "--pattern 'git status && make'" in d.suggested_rule


def test_ten_thousand_rules_indexing_gives_same_answer(ws: Path) -> None:
    many = [rule(f"tool{i} sub *") for i in range(10_000)]
    assert run(PUSH, ws, [*many, rule("git push *")]) == "allow"
    assert run(PUSH, ws, many) == "deny"


def test_high_risk_suggestion_is_the_exact_line(ws: Path) -> None:
    c = line("rm -rf build", act("rm -rf build", H), suggestions=("rm -rf build", "rm -rf *", "rm *"))
    d = decide(c, rules=[], context="headless", tolerance=Tolerance(), cwd=ws, workspace=ws, now=NOW)
    assert d.suggested_rule is not None and "--pattern 'rm -rf build'" in d.suggested_rule


@pytest.mark.parametrize(
    ("pattern", "risk", "expected"),
    [
        ("find *", H, "deny"),
        ("find . *", H, "deny"),
        ("find ? -delete", H, "deny"),  # `?` is a wildcard too
        ("find . -delete", H, "allow"),  # exact words
        ("find *", M, "deny"),  # the words the wildcard absorbed raised find above low
        ("find . -delete", M, "allow"),
    ],
)
def test_wildcards_never_allow_high_risk(ws: Path, pattern: str, risk: Risk, expected: str) -> None:
    c = line("find . -delete", act("find . -delete", risk))
    assert run(c, ws, [rule(pattern)]) == expected


@pytest.mark.parametrize(
    ("pattern", "words", "risk", "expected"),
    [
        ("git log *", "git log -p", L, "allow"),
        ("git log *", "git log --output=f", M, "deny"),  # the flag raised the risk: not covered
        ("sed *", "sed -i s/a/b/ f", M, "allow"),  # sed alone is already medium
        ("git push *", "git push origin main", M, "allow"),
        ("git push origin *", "git push origin main", M, "allow"),
    ],
)
def test_wildcards_only_allow_what_their_literal_words_imply(ws: Path, pattern: str, words: str, risk: Risk,
                                                            expected: str) -> None:
    c = line(words, act(words, risk))
    assert run(c, ws, [rule(pattern)]) == expected
