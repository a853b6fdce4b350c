"""Pure egress policy for the proxy: decisions, domain globs, address classification, pins, and
the request headers dropped or narrowed so that a response can be scrubbed whole (the scrubbing
itself, and body decoding, are in `scrub`).

Nothing here touches the network or imports mitmproxy; the addon calls these functions with what
it learned from a CONNECT request, a TLS ClientHello, a Host header or a DNS answer.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

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
    MALFORMED = "malformed"  # a request an upstream would read otherwise than the proxy judged it


# Status sent to the client for each refusal (None: the request goes on).
REFUSAL_STATUS: Mapping[Verdict, int | None] = {
    Verdict.INJECTED: None,
    Verdict.NO_CREDENTIAL: None,
    Verdict.AMBIGUOUS: 403,
    Verdict.BLOCKED_DOMAIN: 403,
    Verdict.BLOCKED_ADDRESS: 403,
    Verdict.UNAUTHENTICATED: 407,
    Verdict.MISMATCH: 403,
    Verdict.MALFORMED: 400,
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


# HTTP/2 carries header fields as length-prefixed strings, so a CR, LF or NUL inside one survives
# until mitmproxy writes the request as HTTP/1 for the upstream, where it starts a new header or
# a second request (carrying the injected credential). Space and tab also end a request-line part.
_LINE_BREAKING = re.compile(rb"[\r\n\0]")
_TARGET_BREAKING = re.compile(rb"[\r\n\0 \t]")


def smuggling(method: bytes, path: bytes, authority: bytes,
              fields: Iterable[tuple[bytes, bytes]]) -> str | None:
    """Why a request would be read differently by an HTTP/1 upstream (a character that ends a line
    or a request-line part where it may not), or None."""
    for what, value in ((b"method", method), (b"path", path), (b"authority", authority)):
        if _TARGET_BREAKING.search(value):
            return f"a control character or space in the request {what.decode()}"
    for name, value in fields:
        if _TARGET_BREAKING.search(name) or _LINE_BREAKING.search(value):
            return f"a line-breaking character in header {name[:40]!r}"
    return None


# -- addresses ---------------------------------------------------------------------------------
# An address is dialled only when it is globally routable unicast; everything else is refused
# unless a `[proxy] resolve` pin names the host (pins skip this check entirely). Three tables,
# consulted in this order, give the reason; Python's `is_global` is a last net under them.

# IPv4 ranges never dialled. The first hit names the reason, so specific entries come first.
BLOCKED_IPV4: tuple[tuple[str, str], ...] = (
    ("169.254.169.254/32", "cloud metadata service"),
    ("168.63.129.16/32", "cloud platform service, Azure wireserver"),
    ("255.255.255.255/32", "broadcast"),
    ("0.0.0.0/8", "unspecified / this network"),
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "carrier-grade NAT, shared (some clouds serve metadata here)"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "IETF protocol assignment"),
    ("192.0.2.0/24", "documentation"),
    ("192.88.99.0/24", "deprecated 6to4 relay anycast"),
    ("192.168.0.0/16", "private"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation"),
    ("203.0.113.0/24", "documentation"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),
)

# IPv6 ranges that carry an IPv4 address which a translator, the kernel or a tunnel delivers to:
# the address is judged as that IPv4 address. (prefix, what it is, bit offset of the IPv4 address
# from the low end.)
IPV4_EMBEDDINGS: tuple[tuple[str, str, int], ...] = (
    ("::ffff:0:0/96", "IPv4-mapped", 0),
    ("::ffff:0:0:0/96", "IPv4-translated, SIIT", 0),
    ("64:ff9b::/96", "NAT64 well-known prefix", 0),
    ("2002::/16", "6to4", 80),
)

# IPv6 ranges never dialled (after the embeddings above). First hit names the reason.
BLOCKED_IPV6: tuple[tuple[str, str], ...] = (
    ("fd00:ec2::254/128", "cloud metadata service"),
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("::/96", "deprecated IPv4-compatible, RFC 4291"),
    # RFC 8215: the operator picks the translator's prefix length inside this /48, so where the
    # IPv4 address sits (and hence whether it is private) cannot be told from the address.
    ("64:ff9b:1::/48", "local-use NAT64 prefix"),
    ("100::/64", "discard-only"),
    ("2001::/32", "Teredo tunnel"),
    ("2001::/23", "IETF protocol assignment"),
    ("2001:db8::/32", "documentation"),
    ("3fff::/20", "documentation"),
    ("fc00::/7", "unique local, private"),
    ("fe80::/10", "link-local"),
    ("fec0::/10", "deprecated site-local"),
    ("ff00::/8", "multicast"),
)
GLOBAL_UNICAST_IPV6 = "2000::/3"  # outside it, IPv6 is never globally routable unicast

_BLOCKED_V4 = tuple((ipaddress.IPv4Network(n), why) for n, why in BLOCKED_IPV4)
_BLOCKED_V6 = tuple((ipaddress.IPv6Network(n), why) for n, why in BLOCKED_IPV6)
_EMBEDDINGS = tuple((ipaddress.IPv6Network(n), what, shift) for n, what, shift in IPV4_EMBEDDINGS)
_GLOBAL_UNICAST = ipaddress.IPv6Network(GLOBAL_UNICAST_IPV6)


def _refusal(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why `ip` is not public (a short phrase), or None."""
    if isinstance(ip, ipaddress.IPv4Address):
        for net4, why in _BLOCKED_V4:
            if ip in net4:
                return why
        return None if ip.is_global else "special-purpose"
    for net6, what, shift in _EMBEDDINGS:
        if ip in net6:
            inner = ipaddress.IPv4Address((int(ip) >> shift) & 0xFFFFFFFF)
            inner_why = _refusal(inner)
            return f"{what}, embeds {inner} ({inner_why})" if inner_why else None
    for net6, why in _BLOCKED_V6:
        if ip in net6:
            return why
    if ip not in _GLOBAL_UNICAST:
        return f"outside global unicast {GLOBAL_UNICAST_IPV6}"
    return None if ip.is_global else "special-purpose"


def address_refusal(address: str) -> str | None:
    """None when `address` (an IP literal, IPv6 zone allowed) may be dialled, else why not: every
    address that is not globally routable unicast, IPv4 embedded in IPv6 (mapped, SIIT, NAT64,
    6to4) judged as the IPv4 address it reaches (tables above)."""
    try:
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return f"{address!r} is not an IP address"
    why = _refusal(ip)
    return f"{ip} is not a public address: {why}" if why else None


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


# -- request and response hygiene where secrets are at stake -----------------------------------
# For a run that holds credentials:
# - every flow the proxy sees into (intercepted TLS, cleartext HTTP) is *scrubbed*: its response is
#   searched for the run's secrets before it is relayed, so the client must not be able to have the
#   upstream send it in a shape the scrubber cannot see whole: in slices, in codings it cannot
#   undo, or down an upgraded stream;
# - a flow that carries an *injected* credential must also reach exactly the host, path and method
#   the template was judged on: headers that make a routing layer or framework send it elsewhere,
#   or run another path or method, are removed.

# Request headers removed from every scrubbed request. (name, why)
SCRUBBED_REQUEST_DROPPED: tuple[tuple[str, str], ...] = (
    ("Range", "asks for a slice of the response: a secret cut across slices never matches the scrubber"),
    ("If-Range", "only qualifies Range"),
    ("Accept-Charset", "asks for a charset (UTF-16, UTF-32) in which the secret's bytes are spread out"),
)
# Request headers narrowed on every scrubbed request. (name, what is kept and why)
SCRUBBED_REQUEST_NARROWED: tuple[tuple[str, str], ...] = (
    ("Accept-Encoding", "only SCRUBBABLE_CODINGS: a coding the proxy cannot decode hides the secret from the scrubber"),
    ("TE", "only `trailers` (scrubbed like headers; gRPC needs it): transfer codings (gzip) are relayed undecoded"),
)

# Request headers removed from a request that carries an injected credential. (name, why)
INJECTED_REQUEST_DROPPED: tuple[tuple[str, str], ...] = (
    ("Forwarded", "host= and proto= make a routing layer rebuild the URL: the credential goes elsewhere"),
    ("X-Forwarded-Host", "a routing layer or framework takes it for the host: redirects and upstream picks follow it"),
    ("X-Forwarded-Proto", "rewrites the scheme in URLs the upstream builds (redirects to http://)"),
    ("X-Forwarded-Port", "rewrites the port in URLs the upstream builds"),
    ("X-Forwarded-Prefix", "prepends a path: the upstream serves another path than the one judged"),
    ("X-Forwarded-For", "claims another client address (upstream IP allow lists, the credential owner's audit)"),
    ("X-Forwarded-Server", "a routing layer may take it for the host"),
    ("X-Forwarded-Scheme", "rewrites the scheme, as X-Forwarded-Proto"),
    ("X-Forwarded-Ssl", "rewrites the scheme, as X-Forwarded-Proto"),
    ("X-Real-IP", "claims another client address, as X-Forwarded-For"),
    ("True-Client-IP", "claims another client address, as X-Forwarded-For"),
    ("X-Original-URL", "IIS/Symfony-style override of the request path: bypasses path narrowing, reroutes"),
    ("X-Rewrite-URL", "the same override under another name"),
    ("X-Original-Host", "a routing layer takes it for the host"),
    ("X-Host", "a routing layer takes it for the host"),
    ("X-HTTP-Method-Override", "runs another method than the one judged: bypasses method narrowing"),
    ("X-HTTP-Method", "the same override under another name"),
    ("X-Method-Override", "the same override under another name"),
)
# Any other request header with one of these prefixes is removed from injected requests too.
INJECTED_REQUEST_DROPPED_PREFIXES: tuple[str, ...] = ("x-forwarded-",)

# Content codings the scrubber can undo under a cap on the decoded size (`scrub.decode_body`): a scrubbed
# request asks only for these, and a scrubbed response in any other coding is refused.
SCRUBBABLE_CODINGS: tuple[str, ...] = ("gzip", "deflate", "br", "zstd", "identity")


_INJECTED_DROPPED = frozenset(n.lower() for n, _ in INJECTED_REQUEST_DROPPED)
_SCRUBBED_DROPPED = frozenset(n.lower() for n, _ in SCRUBBED_REQUEST_DROPPED)


def dropped_on_injected(name: str) -> bool:
    """Whether a request header `name` is removed before a credential is injected."""
    low = name.lower()
    return low in _INJECTED_DROPPED or low.startswith(INJECTED_REQUEST_DROPPED_PREFIXES)


def dropped_on_scrubbed(name: str) -> bool:
    """Whether a request header `name` is removed from a request whose response is scrubbed."""
    return name.lower() in _SCRUBBED_DROPPED


def scrubbable_te(value: str) -> str | None:
    """A TE value narrowed to `trailers`; None (remove the header) when it asked for nothing else."""
    return "trailers" if any(item.split(";", 1)[0].strip().lower() == "trailers" for item in value.split(",")) else None


def scrubbable_accept_encoding(value: str) -> str:
    """An Accept-Encoding value narrowed to SCRUBBABLE_CODINGS (parameters such as q kept); `*`
    and every other coding are dropped; `identity` when nothing is left."""
    kept = [item.strip() for item in value.split(",")
            if item.split(";", 1)[0].strip().lower() in SCRUBBABLE_CODINGS]
    return ", ".join(kept) or "identity"


def unscrubbable_response(status: int, headers: Mapping[str, str], *, websocket: bool) -> str | None:
    """Why a response on a scrubbed flow cannot be scrubbed whole (it is then refused), or None.
    `headers` holds at least the response's `transfer-encoding` and `content-encoding` (lower-case
    keys); `websocket` says whether a 101 is a WebSocket upgrade (its messages are scrubbed one by
    one)."""
    if status == 206:
        return "a partial (206) response cannot be scrubbed: the rest of a secret may be in another part"
    if status == 101 and not websocket:
        return "a protocol upgrade other than WebSocket is relayed as raw bytes that cannot be scrubbed"
    te = headers.get("transfer-encoding")
    if te is not None and te.replace(" ", "").lower() != "chunked":
        return f"transfer coding {te!r} cannot be scrubbed"
    ce = headers.get("content-encoding")
    if ce is not None and ce.strip().lower() not in SCRUBBABLE_CODINGS:
        return f"content coding {ce!r} cannot be scrubbed"
    return None
