"""Host names and host patterns: normalisation, label-boundary matching, public-suffix checks.

A *host* is what a request targets (a CONNECT authority, a TLS server name, a Host header). A
*pattern* is what a credential template names: an exact host (`api.fal.run`), or `*.` followed by a
domain (`*.fal.run`), which matches that domain itself and every subdomain at a label boundary
(`api.fal.run`, `a.b.fal.run`; never `evilfal.run`, never `fal.run.attacker.test`). Either may end
in `:PORT`; a pattern without a port matches every port, a pattern with one only that port.

Both sides go through `normalize_host`: lower case, exactly one trailing dot removed, IDNA
(UTS #46) to the ASCII `xn--` form, IPv6 brackets stripped and IP literals in canonical form. Any
input that is not a valid host raises `ValueError`; matching treats such hosts as "no match" so a
malformed name can never gain a credential.

`is_public_suffix_pattern` uses tldextract with its *bundled* Public Suffix List snapshot only: it
is never fetched, and tldextract is imported lazily (the hot path never pays for it).
"""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import tldextract

# One DNS label in its ASCII (post-IDNA) form. Underscores are accepted because real service names
# use them (`_dmarc`, some internal hosts); they cannot widen a match, which works on whole labels.
_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\Z")
_MAX_HOST = 253

# Specificity scoring: an exact match always outranks a wildcard one (a host has at most 127
# labels, so 2 * 127 + 1 < EXACT_BONUS); within a kind, more labels in the pattern rank higher and
# a pinned port adds one.
EXACT_BONUS = 1000


def _idna(host: str) -> str:
    if host.isascii():
        return host.lower()
    try:
        import idna  # the IDNA 2008 / UTS #46 implementation tldextract already depends on
    except ImportError:  # pragma: no cover - idna ships with tldextract
        try:
            return host.encode("idna").decode("ascii").lower()
        except UnicodeError as e:
            raise ValueError(f"invalid international host name: {e}") from None
    try:
        return idna.encode(host, uts46=True, transitional=False).decode("ascii").lower()
    except idna.IDNAError as e:
        raise ValueError(f"invalid international host name: {e}") from None


def normalize_host(host: str) -> str:
    """The canonical form of one host name (no port). Raises ValueError when it is not a host.

    Lower case; exactly one trailing dot removed (`a.b.` -> `a.b`; `a.b..` is invalid); IDNA to
    ASCII; `[::1]` -> `::1`; IP literals in their canonical text form. Empty labels, labels over 63
    characters, characters outside letters/digits/`-`/`_` and names over 253 characters are refused.
    """
    if not isinstance(host, str) or not host:
        raise ValueError("empty host name")
    text = host.strip()
    if text != host:
        raise ValueError("host name has surrounding whitespace")
    if text.startswith("[") and text.endswith("]"):
        try:
            return str(ipaddress.IPv6Address(text[1:-1]))
        except ValueError:
            raise ValueError("invalid IPv6 literal") from None
    if ":" in text:
        try:
            return str(ipaddress.IPv6Address(text))
        except ValueError:
            raise ValueError("host name contains ':'") from None
    if text.endswith("."):
        text = text[:-1]
    if not text:
        raise ValueError("empty host name")
    text = _idna(text)
    if len(text) > _MAX_HOST:
        raise ValueError("host name longer than 253 characters")
    labels = text.split(".")
    for label in labels:
        if not _LABEL.match(label):
            raise ValueError(f"invalid label {label!r} in host name")
    if all(label.isdigit() for label in labels):
        try:
            return str(ipaddress.IPv4Address(text))
        except ValueError:
            raise ValueError("invalid IPv4 address") from None
    return text


@functools.lru_cache(maxsize=4096)
def split_host_port(authority: str) -> tuple[str, int | None]:
    """Split `host[:port]` / `[v6][:port]` into a normalised host and the port (None if absent)."""
    text = authority
    port: int | None = None
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            raise ValueError("unterminated IPv6 literal")
        rest = text[close + 1:]
        text = text[: close + 1]
        if rest:
            if not rest.startswith(":"):
                raise ValueError("junk after IPv6 literal")
            port = _parse_port(rest[1:])
    elif text.count(":") == 1:
        text, _, raw = text.partition(":")
        port = _parse_port(raw)
    return normalize_host(text), port


def _parse_port(raw: str) -> int:
    if not raw.isascii() or not raw.isdigit() or len(raw) > 5:
        raise ValueError(f"invalid port {raw!r}")
    port = int(raw)
    if not 0 < port < 65536:
        raise ValueError(f"port {port} out of range")
    return port


@functools.lru_cache(maxsize=4096)
def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class HostPattern:
    """A parsed pattern: `domain` normalised; `wildcard` for `*.domain`; `port` None = any port."""

    domain: str
    wildcard: bool
    port: int | None

    @property
    def labels(self) -> int:
        return 1 if _is_ip(self.domain) else self.domain.count(".") + 1

    def __str__(self) -> str:
        host = f"[{self.domain}]" if ":" in self.domain else self.domain
        text = f"*.{host}" if self.wildcard else host
        return f"{text}:{self.port}" if self.port is not None else text


@functools.lru_cache(maxsize=4096)
def parse_pattern(pattern: str) -> HostPattern:
    """Parse `host`, `*.domain`, optionally `:PORT`. Raises ValueError naming what is wrong.

    Only one leading `*.` is accepted; `*` anywhere else, `*foo.com`, `**.x` and wildcards over IP
    addresses are refused.
    """
    if not isinstance(pattern, str) or not pattern:
        raise ValueError("empty host pattern")
    wildcard = pattern.startswith("*.")
    rest = pattern[2:] if wildcard else pattern
    if "*" in rest:
        raise ValueError(f"host pattern {pattern!r}: '*' is only allowed as a leading '*.'")
    domain, port = split_host_port(rest)
    if wildcard and _is_ip(domain):
        raise ValueError(f"host pattern {pattern!r}: a wildcard cannot cover an IP address")
    return HostPattern(domain, wildcard, port)


def host_matches(pattern: str | HostPattern, host: str, port: int | None = None) -> int | None:
    """How specifically `pattern` matches `host` (higher = more specific), or None for no match.

    `host` may carry its own `:port` (then `port` must be None or equal). A pattern with a port
    never matches a request whose port is unknown. An invalid host or pattern is never a match.
    Exact matches score above every wildcard match; longer domains score higher.
    """
    try:
        pat = pattern if isinstance(pattern, HostPattern) else parse_pattern(pattern)
        name, own_port = split_host_port(host)
    except ValueError:
        return None
    if own_port is not None:
        if port is not None and port != own_port:
            return None
        port = own_port
    if pat.port is not None and pat.port != port:
        return None
    pinned = 1 if pat.port is not None else 0
    if name == pat.domain:
        return (EXACT_BONUS if not pat.wildcard else 0) + 2 * pat.labels + pinned
    if pat.wildcard and not _is_ip(name) and name.endswith("." + pat.domain):
        return 2 * pat.labels + pinned
    return None


@functools.lru_cache(maxsize=1)
def _extractor() -> tldextract.TLDExtract:
    import tldextract

    # No URLs and no cache dir: tldextract falls back to the snapshot bundled in the package and
    # never opens a socket or writes a cache file.
    return tldextract.TLDExtract(
        suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True, include_psl_private_domains=True
    )


def public_suffix_of(domain: str) -> tuple[str, bool] | None:
    """(suffix, is_private) when `domain` IS a public suffix per the bundled list, else None."""
    if _is_ip(domain):
        return None
    result = _extractor()(domain)
    if result.domain == "" and result.suffix:
        return result.suffix, bool(result.is_private)
    return None


def is_public_suffix_pattern(pattern: str) -> bool:
    """True when a pattern would hand a credential to hosts owned by unrelated parties.

    - `*.X` where X is a public suffix of either PSL section (`*.com`, `*.co.uk`, `*.github.io`,
      `*.s3.amazonaws.com`): every customer of that suffix would receive the credential.
    - an exact `X` where X is an ICANN suffix (`com`, `co.uk`): not a real service host.
      An exact host from the *private* section (`github.io`) names one operator's own host and is
      allowed.
    An invalid pattern raises ValueError (callers report it as a bad template).
    """
    pat = parse_pattern(pattern)
    found = public_suffix_of(pat.domain)
    if found is None:
        return False
    _, private = found
    return pat.wildcard or not private
