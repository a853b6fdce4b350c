"""Property tests: the classifier answers any text, never low when the tree has an error, and within
bounds on deep or huge input."""

from __future__ import annotations

import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vshell.classify import classify, parse_line
from vshell.model import Risk
from vshell.words import join_continuations

SHELLISH = st.text(alphabet=st.sampled_from(list("ab rm;|&()<>$`'\"\\\n{}[]*?=#!~-x0123\t\ré\u00a0\U0010fffd")),
                   max_size=60)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=80), SHELLISH))
def test_never_crashes_never_low_on_error(line: str) -> None:
    c = classify(line)
    assert c.command == line
    if not line.strip():
        return
    # The classifier parses the line after bash's own backslash-newline joining.
    root, _ = parse_line(join_continuations(line))
    if root.has_error:
        assert c.risk == Risk.HIGH
        assert not c.parse_ok
        assert len(c.suggestions) == 1
    assert c.risk == max([a.risk for a in c.actions] + [Risk.LOW]) or c.risk == Risk.HIGH or any(
        r.risk is not None for r in c.reasons)
    if c.suggestions:
        assert c.suggestions[0].replace("\\", "") == line.replace("\\", "")


@settings(max_examples=200, deadline=None)
@given(SHELLISH)
def test_risk_is_at_least_every_action(line: str) -> None:
    c = classify(line)
    for a in c.actions:
        assert c.risk >= a.risk


@settings(max_examples=50, deadline=None)
@given(st.integers(min_value=1, max_value=10_000), st.sampled_from(["$(", "`", "(", "{ ", "\"$("]))
def test_nesting_depth_answers_fast(depth: int, opener: str) -> None:
    closer = {"$(": ")", "`": "`", "(": ")", "{ ": "; }", "\"$(": ")\""}[opener]
    line = "echo " + opener * depth + "x" + closer * depth
    t = time.perf_counter()
    classify(line)
    assert time.perf_counter() - t < 1.0


def test_ten_thousand_deep_substitution() -> None:
    line = "echo " + "$(" * 10_000 + "x" + ")" * 10_000
    t = time.perf_counter()
    c = classify(line)
    assert time.perf_counter() - t < 1.0
    assert c.risk == Risk.HIGH


def test_one_megabyte_argument() -> None:
    for line in ("echo " + "a" * 1_000_000, "echo '" + "b" * 1_000_000 + "'", "cat \"" + "c" * 1_000_000 + "\""):
        t = time.perf_counter()
        c = classify(line)
        assert time.perf_counter() - t < 1.0
        assert c.risk == Risk.LOW
