from __future__ import annotations

import copy
import json
import logging
import pickle

import pytest

from vshell.secret import MASK, Secret

VALUE = "hunter2-very-secret"


@pytest.mark.parametrize(
    "render",
    [repr, str, lambda s: f"{s}", lambda s: f"{s!r}", lambda s: f"{s:>40}", lambda s: "%s" % s,  # noqa: UP031
     lambda s: "%r" % (s,), lambda s: "{}".format(s),  # noqa: UP031, UP032
     lambda s: str([s]), lambda s: str({"k": s})],
)
def test_never_rendered(render: object) -> None:
    text = render(Secret(VALUE))  # type: ignore[operator]
    assert VALUE not in text
    assert MASK.strip() in text


def test_reveal_and_equality() -> None:
    s = Secret(VALUE)
    assert s.reveal() == VALUE
    assert s == Secret(VALUE)
    assert s != Secret(VALUE + "x")
    assert (s == VALUE) is False  # never equal to the bare string
    assert len(s) == len(VALUE) and bool(s) and not Secret("")


def test_not_picklable_hashable_or_json() -> None:
    s = Secret(VALUE)
    with pytest.raises(TypeError):
        pickle.dumps(s)
    with pytest.raises(TypeError):
        hash(s)
    with pytest.raises(TypeError):
        json.dumps({"v": s})
    assert copy.deepcopy(s) is s


def test_immutable_and_typed() -> None:
    s = Secret(VALUE)
    with pytest.raises(AttributeError):
        s._value = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        Secret(b"bytes")  # type: ignore[arg-type]


def test_logging_and_exceptions_mask(caplog: pytest.LogCaptureFixture) -> None:
    s = Secret(VALUE)
    with caplog.at_level(logging.INFO):
        logging.getLogger("t").info("value %s %r", s, s)
    assert VALUE not in caplog.text
    assert VALUE not in str(ValueError(s))
