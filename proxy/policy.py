"""Pure egress policy for the proxy: decisions, domain globs, address classification, pins.

Nothing here touches the network or imports mitmproxy; the addon calls these functions with what
it learned from a CONNECT request, a TLS ClientHello, a Host header or a DNS answer.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import quote

from vshell import hostmatch
from vshell.credentials import Credential

PROXY_USER = "vsh"
TOKEN_BYTES = 32  # 256-bit per-run tokens


class Verdict(StrEnum):
    """The decision recorded for every proxied request (DESIGN.md, Egress and credentials)."""

    INJECTED = "injected"
    NO_CREDENTIAL = "no_credential"
    AMBIGUOUS = "ambiguous"
    BLOCKED_DOMAIN = "blocked_domain"
    BLOCKED_ADDRESS = "blocked_address"
    UNAUTHENTICATED = "unauthenticated"
    MISMATCH = "mismatch"


# Status sent to the client for each refusal (None: the request goes on).
REFUSAL_STATUS: Mapping[Verdict, int | None] = {
    Verdict.INJECTED: None,
    Verdict.NO_CREDENTIAL: None,
    Verdict.AMBIGUOUS: 403,
    Verdict.BLOCKED_DOMAIN: 403,
    Verdict.BLOCKED_ADDRESS: 403,
    Verdict.UNAUTHENTICATED: 407,
    Verdict.MISMATCH: 403,
}


# -- per-run authentication --------------------------------------------------------------------

def parse_proxy_authorization(value: str | None) -> str | None:
    """The token in `Proxy-Authorization: Basic base64("vsh:" + token)`, or None when the header
    is absent, not Basic, not base64, or names another user."""
    if not value:
        return None
    scheme, _, param = value.strip().partition(" ")
    if scheme.lower() != "basic" or not param:
        return None
    try:
        decoded = base64.b64decode(param.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    user, sep, token = decoded.partition(":")
    if not sep or user != PROXY_USER or not token:
        return None
    return token


def proxy_authorization(token: str) -> str:
    return "Basic " + base64.b64encode(f"{PROXY_USER}:{token}".encode()).decode("ascii")


# -- domain policy -----------------------------------------------------------------------------

@dataclass(frozen=True)
class DomainPolicy:
    """Egress globs for one run. `allowed`: a host must match one (`*` = any host). `denied`: a
    match refuses, and wins over `allowed`. `narrowing`: one glob list per credential that declared
    `allowed_domains`; a host must match each of them (credentials only ever narrow)."""

    allowed: tuple[str, ...] = ("*",)
    denied: tuple[str, ...] = ()
    narrowing: tuple[tuple[str, ...], ...] = ()

    def check(self, host: str, port: int | None = None) -> str | None:
        """None when `host` may be reached, else the reason it may not."""
        try:
            name = hostmatch.normalize_host(host)
        except ValueError:
            return f"{host!r} is not a valid host name"
        if hit := _first_match(self.denied, name, port):
            return f"{name} is denied by {hit!r}"
        if not _first_match(self.allowed, name, port):
            return f"{name} is not in the allowed domains"
        for globs in self.narrowing:
            if not _first_match(globs, name, port):
                return f"{name} is outside a credential's allowed domains ({', '.join(globs)})"
        return None


def _first_match(globs: Iterable[str], host: str, port: int | None) -> str | None:
    for g in globs:
        if g == "*" or hostmatch.host_matches(g, host, port) is not None:
            return g
    return None


def may_inject(creds: Sequence[Credential], host: str, port: int) -> bool:
    """Whether any template of `creds` names (host, port), whatever the path and method: the proxy
    must then intercept TLS to judge each request; otherwise the connection is tunnelled."""
    return any(hostmatch.host_matches(t.host, host, port) is not None for c in creds for t in c.templates)


def same_host(a: str | None, b: str | None) -> bool:
    """Two host names are the same after normalisation (case, one trailing dot, IDNA)."""
    if not a or not b:
        return False
    try:
        return hostmatch.normalize_host(a) == hostmatch.normalize_host(b)
    except ValueError:
        return False


def split_authority(authority: str, default_port: int) -> tuple[str, int] | None:
    """`host[:port]` (IPv6 in brackets) -> (host, port); None when malformed."""
    try:
        host, port = hostmatch.split_host_port(authority)
    except ValueError:
        return None
    return host, port if port is not None else default_port


# -- addresses ---------------------------------------------------------------------------------

# Networks never dialled (unless a `[proxy] resolve` pin names them). Checked in order; the first
# hit names the reason. `is_global` below catches the rest of the special-purpose ranges.
BLOCKED_NETWORKS: tuple[tuple[str, str], ...] = (
    ("169.254.169.254/32", "cloud metadata service"),
    ("fd00:ec2::254/128", "cloud metadata service"),
    ("0.0.0.0/8", "unspecified / this network"),
    ("127.0.0.0/8", "loopback"),
    ("10.0.0.0/8", "private"),
    ("172.16.0.0/12", "private"),
    ("192.168.0.0/16", "private"),
    ("100.64.0.0/10", "carrier-grade NAT"),
    ("169.254.0.0/16", "link-local"),
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("fc00::/7", "unique local (private)"),
    ("fe80::/10", "link-local"),
    ("224.0.0.0/4", "multicast"),
    ("ff00::/8", "multicast"),
)
_BLOCKED = tuple((ipaddress.ip_network(n), why) for n, why in BLOCKED_NETWORKS)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_6TO4 = ipaddress.ip_network("2002::/16")


def address_refusal(address: str) -> str | None:
    """None when `address` (an IP literal) may be dialled, else why not. IPv4 embedded in IPv6
    (mapped, NAT64, 6to4) is judged as the IPv4 address; anything not globally routable is refused."""
    try:
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return f"{address!r} is not an IP address"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip in _NAT64:
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        elif ip.sixtofour is not None:
            ip = ip.sixtofour
    for net, why in _BLOCKED:
        if ip.version == net.version and ip in net:
            return f"{ip} is a {why} address"
    if not ip.is_global:
        return f"{ip} is not a public address"
    return None


def is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def pinned(pins: Mapping[str, tuple[str, int]], host: str, port: int) -> tuple[str, int] | None:
    """The `[proxy] resolve` pin for (host, port): a `host:port` key first, then `host`."""
    try:
        name = hostmatch.normalize_host(host)
    except ValueError:
        return None
    return pins.get(f"{name}:{port}") or pins.get(name)


def normalize_pins(pins: Mapping[str, tuple[str, int]]) -> dict[str, tuple[str, int]]:
    """Config keys (`host` or `host:port`) normalised like request hosts; unusable keys dropped."""
    out: dict[str, tuple[str, int]] = {}
    for key, target in pins.items():
        try:
            name, port = hostmatch.split_host_port(key)
        except ValueError:
            continue
        out[name if port is None else f"{name}:{port}"] = target
    return out


# -- secret scrubbing --------------------------------------------------------------------------

def secret_forms(value: str) -> tuple[bytes, ...]:
    """The byte strings a reflected secret may come back as: raw, percent-encoded, base64 and
    JSON-escaped. Longest first so a longer form is replaced before a shorter one inside it."""
    raw = value.encode("utf-8")
    forms = {raw, quote(value, safe="").encode(), quote(value).encode(), base64.b64encode(raw),
             base64.urlsafe_b64encode(raw), value.replace("/", "\\/").encode()}
    forms.discard(b"")
    return tuple(sorted(forms, key=len, reverse=True))


REDACTED = b"[REDACTED]"


def scrub(data: bytes, forms: Sequence[bytes]) -> tuple[bytes, int]:
    """`data` with every form replaced by REDACTED, and how many replacements were made."""
    count = 0
    for f in forms:
        n = data.count(f)
        if n:
            count += n
            data = data.replace(f, REDACTED)
    return data, count
