from __future__ import annotations

import socket
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vshell import hostmatch
from vshell.hostmatch import host_matches, is_public_suffix_pattern, normalize_host, parse_pattern


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("API.FAL.RUN", "api.fal.run"),
        ("api.fal.run.", "api.fal.run"),
        ("bücher.de", "xn--bcher-kva.de"),
        ("BÜCHER.de.", "xn--bcher-kva.de"),
        ("[::1]", "::1"),
        ("[0:0::1]", "::1"),
        ("::1", "::1"),
        ("127.0.0.1", "127.0.0.1"),
        ("_dmarc.example.com", "_dmarc.example.com"),
        ("a\u3002b\u3002com", "a.b.com"),  # ideographic full stop is a dot in IDNA
    ],
)
def test_normalize_host(raw: str, expected: str) -> None:
    assert normalize_host(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["", ".", "a..b", "a.b..", ".a.b", "a b.com", " a.com", "a.com/x", "a@b.com", "-a.com", "a-.com",
     "x" * 64 + ".com", ("a." * 127) + "com", "[::1", "[zz::1]", "a:b:c:d:e:f:g:h:i", "a.com\x00",
     "*.a.com", "300.1.1.1", "1.2.3", "0", "a\n.com", "a.b\n"],
)
def test_normalize_host_rejects(raw: str) -> None:
    with pytest.raises(ValueError):
        normalize_host(raw)


@pytest.mark.parametrize(
    ("pattern", "host", "port", "matches"),
    [
        ("*.fal.run", "fal.run", 443, True),
        ("*.fal.run", "api.fal.run", 443, True),
        ("*.fal.run", "a.b.api.fal.run", 443, True),
        ("*.fal.run", "API.FAL.RUN.", 443, True),
        ("*.fal.run", "evilfal.run", 443, False),
        ("*.fal.run", "fal.run.attacker.test", 443, False),
        ("*.fal.run", "fal.runx", 443, False),
        ("*.fal.run", "xfal.run", 443, False),
        ("*.fal.run", "fal.run..", 443, False),
        ("*.fal.run", "api..fal.run", 443, False),
        ("api.fal.run", "api.fal.run", 443, True),
        ("api.fal.run", "API.fal.run.", 8443, True),
        ("api.fal.run", "x.api.fal.run", 443, False),
        ("api.fal.run", "fal.run", 443, False),
        ("api.fal.run:443", "api.fal.run", 443, True),
        ("api.fal.run:443", "api.fal.run", 8443, False),
        ("api.fal.run:443", "api.fal.run", None, False),
        ("api.fal.run:443", "api.fal.run:443", None, True),
        ("api.fal.run", "api.fal.run:8443", 443, False),  # conflicting ports never match
        ("*.bücher.de", "www.xn--bcher-kva.de", 443, True),
        ("*.xn--bcher-kva.de", "WWW.BÜCHER.DE", 443, True),
        ("127.0.0.1", "127.0.0.1", 80, True),
        ("[::1]:8443", "[::1]", 8443, True),
        ("[::1]", "0:0::1", 1, True),
        ("10.0.0.1", "1.10.0.0.1", 1, False),
        ("*.fal.run", "", 443, False),
        ("*.fal.run", "api.f\u0430l.run", 443, False),  # Cyrillic a: a different name after IDNA
        ("*.fal.run", "api.fal.run\u3002attacker.test", 443, False),
        ("*.fal.run", "api.fal%2erun", 443, False),
        ("bad..pattern", "bad..pattern", 443, False),
    ],
)
def test_host_matches_table(pattern: str, host: str, port: int | None, matches: bool) -> None:
    assert (host_matches(pattern, host, port) is not None) is matches


def test_specificity_ordering() -> None:
    exact = host_matches("api.fal.run", "api.fal.run", 443)
    wild_long = host_matches("*.api.fal.run", "api.fal.run", 443)
    wild_short = host_matches("*.fal.run", "api.fal.run", 443)
    exact_port = host_matches("api.fal.run:443", "api.fal.run", 443)
    assert exact is not None and wild_long is not None and wild_short is not None and exact_port is not None
    assert exact_port > exact > wild_long > wild_short
    # exact beats any wildcard, even one with a much longer domain
    long_wild = host_matches("*." + ".".join(["a"] * 120) + ".com", ".".join(["a"] * 120) + ".com", 1)
    assert long_wild is not None and host_matches("x.com", "x.com", 1)  # type: ignore[operator]
    assert host_matches("x.com", "x.com", 1) > long_wild  # type: ignore[operator]


@pytest.mark.parametrize(
    "pattern",
    ["", "*", "*.", "**.a.com", "*a.com", "a.*.com", "*.*.com", "a.com:0", "a.com:70000", "a.com:x",
     "*.127.0.0.1", "*.[::1]", "a.com:443:1"],
)
def test_parse_pattern_rejects(pattern: str) -> None:
    with pytest.raises(ValueError):
        parse_pattern(pattern)


@pytest.mark.parametrize(
    ("pattern", "public"),
    [
        ("*.com", True), ("com", True), ("COM.", True), ("*.co.uk", True), ("co.uk", True),
        ("*.github.io", True), ("*.s3.amazonaws.com", True), ("*.uk", True), ("*.run", True),
        ("github.io", False),  # an exact private-section host is one operator's own host
        ("*.fal.run", False), ("fal.run", False), ("api.github.com", False), ("*.example.co.uk", False),
        ("localhost", False), ("*.internal.test", False), ("127.0.0.1", False), ("*.foo.github.io", False),
    ],
)
def test_public_suffix(pattern: str, public: bool) -> None:
    assert is_public_suffix_pattern(pattern) is public


def test_public_suffix_never_touches_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*a: object, **k: object) -> None:
        raise AssertionError("network access attempted")

    hostmatch._extractor.cache_clear()
    monkeypatch.setattr(socket, "socket", boom)
    monkeypatch.setattr(socket, "create_connection", boom)
    monkeypatch.setattr(socket, "getaddrinfo", boom)
    try:
        assert is_public_suffix_pattern("*.co.uk")
        assert not is_public_suffix_pattern("*.fal.run")
    finally:
        hostmatch._extractor.cache_clear()


def test_import_is_lazy() -> None:
    code = "import sys, vshell.hostmatch, vshell.credentials; print('tldextract' in sys.modules, 'idna' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


# -- properties -------------------------------------------------------------------------------------

label = st.from_regex(r"\A[a-z](?:[a-z0-9-]{0,10}[a-z0-9])?\Z", fullmatch=True)
labels = st.lists(label, min_size=1, max_size=4)


def _case_mix(text: str, data: st.DataObject) -> str:
    flips = data.draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
    return "".join(c.upper() if f else c for c, f in zip(text, flips, strict=True))


@given(suffix=labels, prefix=st.lists(label, max_size=3), data=st.data())
def test_wildcard_matches_domain_and_subdomains(suffix: list[str], prefix: list[str], data: st.DataObject) -> None:
    domain = ".".join(suffix)
    host = ".".join(prefix + suffix)
    host = _case_mix(host, data) + data.draw(st.sampled_from(["", "."]))
    assert host_matches("*." + domain, host, 443) is not None


@given(suffix=labels, head=label, glue=st.text("abc-0", min_size=1, max_size=3), tail=st.lists(label, max_size=2))
def test_wildcard_never_matches_off_boundary(suffix: list[str], head: str, glue: str, tail: list[str]) -> None:
    domain = ".".join(suffix)
    # the domain glued onto a label with no dot in between: not a label boundary
    glued = head + glue + domain
    assert host_matches("*." + domain, glued, 443) is None
    # the domain followed by more labels: the suffix is somebody else's
    longer = domain + "." + ".".join(tail)
    if tail and not longer.endswith("." + domain):
        assert host_matches("*." + domain, longer, 443) is None


@given(host=labels.map(".".join), data=st.data())
def test_case_and_trailing_dot_invariance(host: str, data: st.DataObject) -> None:
    variant = _case_mix(host, data) + data.draw(st.sampled_from(["", "."]))
    assert normalize_host(variant) == normalize_host(host)
    assert host_matches(host, variant, 1) == host_matches(host, host, 1)
    assert host_matches(_case_mix(host, data) + ".", host, 1) is not None


@given(a=labels.map(".".join), b=labels.map(".".join))
def test_exact_matches_only_itself(a: str, b: str) -> None:
    assert (host_matches(a, b, 1) is not None) == (a == b)
