"""Pure egress policy: proxy auth parsing, domain globs, address classification, pins, scrubbing."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st
from vshell.proxy import policy
from vshell.proxy.policy import DomainPolicy

from vshell.credentials import Credential, HostTemplate


def _basic(text: str) -> str:
    return "Basic " + base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(("header", "token"), [
    (_basic("vsh:abc123"), "abc123"),
    ("basic " + base64.b64encode(b"vsh:t:with:colons").decode(), "t:with:colons"),
    (None, None),
    ("", None),
    ("Bearer abc", None),
    (_basic("other:abc"), None),
    (_basic("vsh:"), None),
    (_basic("vsh"), None),
    ("Basic !!!notbase64", None),
    ("Basic", None),
])
def test_parse_proxy_authorization(header: str | None, token: str | None) -> None:
    assert policy.parse_proxy_authorization(header) == token


def test_proxy_authorization_roundtrip() -> None:
    assert policy.parse_proxy_authorization(policy.proxy_authorization("tok")) == "tok"


@pytest.mark.parametrize(("pol", "host", "ok"), [
    (DomainPolicy(), "api.fal.run", True),
    (DomainPolicy(("*.fal.run",)), "fal.run", True),
    (DomainPolicy(("*.fal.run",)), "API.Fal.Run.", True),
    (DomainPolicy(("*.fal.run",)), "evilfal.run", False),
    (DomainPolicy(("*.fal.run",)), "fal.run.attacker.test", False),
    (DomainPolicy(("*",), ("attacker.test",)), "attacker.test", False),
    (DomainPolicy(("*",), ("*.attacker.test",)), "x.attacker.test", False),
    (DomainPolicy(("*.fal.run",), ("api.fal.run",)), "api.fal.run", False),
    (DomainPolicy(("*",), (), (("*.fal.run",),)), "other.test", False),
    (DomainPolicy(("*",), (), (("*.fal.run",),)), "api.fal.run", True),
    (DomainPolicy(), "bad host", False),
    (DomainPolicy(), "", False),
])
def test_domain_policy(pol: DomainPolicy, host: str, ok: bool) -> None:
    assert (pol.check(host) is None) is ok


@pytest.mark.parametrize(("address", "blocked"), [
    ("169.254.169.254", "metadata"),
    ("fd00:ec2::254", "metadata"),
    ("127.0.0.1", "loopback"),
    ("127.1.2.3", "loopback"),
    ("::1", "loopback"),
    ("10.1.2.3", "private"),
    ("172.16.0.1", "private"),
    ("172.31.255.255", "private"),
    ("192.168.1.1", "private"),
    ("100.64.0.1", "carrier-grade"),
    ("100.127.255.255", "carrier-grade"),
    ("0.0.0.0", "unspecified"),
    ("::", "unspecified"),
    ("169.254.1.1", "link-local"),
    ("fe80::1", "link-local"),
    ("fc00::1", "unique local"),
    ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:169.254.169.254", "metadata"),
    ("64:ff9b::a00:1", "private"),
    ("2002:7f00:1::", "loopback"),
    ("224.0.0.1", "multicast"),
    ("198.18.0.1", "not a public"),
    ("not-an-ip", "not an IP"),
    ("8.8.8.8", None),
    ("1.1.1.1", None),
    ("2606:4700:4700::1111", None),
    ("172.32.0.1", None),
])
def test_address_refusal(address: str, blocked: str | None) -> None:
    why = policy.address_refusal(address)
    if blocked is None:
        assert why is None
    else:
        assert why is not None and blocked in why


def test_pins_by_host_and_host_port() -> None:
    pins = policy.normalize_pins({"api.fal.run": ("127.0.0.1", 8443), "fal.run:80": ("127.0.0.1", 8080),
                                  "bad key!": ("127.0.0.1", 1)})
    assert policy.pinned(pins, "API.FAL.RUN.", 443) == ("127.0.0.1", 8443)
    assert policy.pinned(pins, "fal.run", 80) == ("127.0.0.1", 8080)
    assert policy.pinned(pins, "fal.run", 443) is None
    assert policy.pinned(pins, "evilfal.run", 443) is None


def _cred(ref: str, *hosts: str) -> Credential:
    service, field = ref.split("/")
    return Credential(id=ref, service=service, field=field, templates=tuple(HostTemplate(h) for h in hosts))


@pytest.mark.parametrize(("host", "port", "expected"), [
    ("api.fal.run", 443, True),
    ("fal.run", 443, True),
    ("evilfal.run", 443, False),
    ("fal.run.attacker.test", 443, False),
    ("other.test", 443, False),
    ("other.test", 8443, True),
])
def test_may_inject(host: str, port: int, expected: bool) -> None:
    creds = [_cred("fal/key", "*.fal.run"), _cred("o/key", "other.test:8443")]
    assert policy.may_inject(creds, host, port) is expected


@pytest.mark.parametrize(("a", "b", "same"), [
    ("api.fal.run", "API.FAL.RUN.", True),
    ("api.fal.run", "fal.run", False),
    (None, "fal.run", False),
    ("", "", False),
    ("a b", "a b", False),
])
def test_same_host(a: str | None, b: str | None, same: bool) -> None:
    assert policy.same_host(a, b) is same


def test_scrub_every_form() -> None:
    value = "s3cr3t/value+x"
    forms = policy.secret_forms(value)
    body = (f"a {value} b " + base64.b64encode(value.encode()).decode() + " c s3cr3t%2Fvalue%2Bx "
            + value.replace("/", "\\/")).encode()
    cleaned, n = policy.scrub(body, forms)
    assert n == 4
    assert value.encode() not in cleaned and b"s3cr3t" not in cleaned


@given(st.text(min_size=8, max_size=40), st.binary(max_size=200), st.binary(max_size=200))
def test_scrub_property(value: str, before: bytes, after: bytes) -> None:
    forms = policy.secret_forms(value)
    cleaned, _ = policy.scrub(before + value.encode() + after, forms)
    assert value.encode() not in cleaned


def test_refusal_status_table_covers_every_verdict() -> None:
    assert set(policy.REFUSAL_STATUS) == set(policy.Verdict)
    assert policy.REFUSAL_STATUS[policy.Verdict.UNAUTHENTICATED] == 407
