"""Secret scrubbing for the proxy: finding a run's secrets in response data, in whatever form they
come back, and taking them out; decoding response bodies under a cap so they can be searched.

What is scrubbed: the value of every credential of the run (`Scrubber.of`), in response headers,
bodies, trailers and WebSocket messages (the addon decides where; this module only searches bytes).

In which forms (`secret_forms`, `TEXT_ENCODINGS`): raw, percent-encoded (either hex case, `+` for
space), base64 and base32 at any alignment in every alphabet (a secret encoded inside a longer
text, such as an echoed `Authorization: Key <secret>` header), JSON- and HTML-escaped, UTF-16,
hex, `\\x` escapes, decimal byte lists. Matching is case-insensitive, which also covers upper-case
hex and percent escapes and an upper-cased echo.

The window rule (WINDOW): a response holding this many bytes of a secret in a row, in any known
form, has them scrubbed: an upstream that returns slices (`?a=0&b=10`), or one character per
WebSocket message, would otherwise hand the whole secret over piece by piece. Shorter pieces stay
(false positives). A secret split by whitespace (wrapped across lines) cannot be cut out where it
lies: the data is refused instead (`Cleaned.hidden`).

Capped decoding (`decode_body`): a scrubbed response is decoded to be searched. mitmproxy's
`get_content` decodes it whole, with no limit: a 16 KB zstd body is 512 MiB of zeros, and a body
under SCRUB_LIMIT can decode to terabytes. Here decoding stops once the output passes a limit
(`BodyTooLarge`), and the response is refused. A body compressed once more inside its content
coding is refused too (`nested_coding`).

Embedded compressed data (`embedded_secret`): a body may carry compressed data anywhere: a gzip
member after a header line, a zlib stream in a binary format, base64 of gzip in a JSON field (log
APIs). Such data is decoded, under a budget, and searched: a window of a secret in it refuses the
response. Reach: gzip, zlib (32 KiB window, no preset dictionary) and zstd streams starting at any
byte of the body, or of the bytes of a base64 run in it, or of what those decode to, to
EMBEDDED_DEPTH levels.

Out of reach: raw deflate and brotli inside a body (no magic number), zlib with a smaller window,
other compressors, compressed data in other text encodings (hex, base32, percent-encoded base64),
and arbitrary transforms (reversed, rot13, XOR, encryption): a secret only an adversarial upstream
would send that way is out of scope.

Which content codings a scrubbed flow may use at all is request/response policy
(`policy.SCRUBBABLE_CODINGS`, `policy.unscrubbable_response`). Nothing here touches the network
or imports mitmproxy; `scrub_body` is pure and CPU-bound, so the addon may run it on a worker
thread.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import html
import re
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import quote, quote_plus

import brotli
import zstandard

# -- secret scrubbing --------------------------------------------------------------------------

_MIN_DERIVED_FORM = 8  # a derived form (not the value itself) shorter than this is not scrubbed
# A response holding this many bytes of a secret in a row, in any known form, has them scrubbed: an
# upstream that returns slices (`?a=0&b=10`), or one character per WebSocket message, would
# otherwise hand the whole secret over piece by piece. Shorter pieces stay (false positives).
WINDOW = 8
WHITESPACE = b" \t\r\n\v\f"
SCAN_CHUNK = 1 << 16  # bytes searched per regex call (see `Scrubber._chunks`): ~15 ms at worst


# Base-2^n encodings whose characters each carry `bits` bits: (bits, bytes per group, encoders).
# base64 in both alphabets; base32 (RFC 4648) and its extended-hex alphabet. Lower-case base32 is
# matched by the case-insensitive windows.
_BASE_N: tuple[tuple[int, int, tuple[Callable[[bytes], bytes], ...]], ...] = (
    (6, 3, (base64.b64encode, base64.urlsafe_b64encode)),
    (5, 5, (base64.b32encode, base64.b32hexencode)),
)


def _base64_cores(raw: bytes) -> set[bytes]:
    """The base64 and base32 characters that encode only `raw`'s bits, whatever precedes it: for
    each byte alignment (3 for base64, 5 for base32), in every alphabet of `_BASE_N`. A secret
    encoded inside a longer text (an echoed `Authorization: Key <secret>` header, base64-encoded)
    contains one of them."""
    out: set[bytes] = set()
    for bits, group, encoders in _BASE_N:
        for k in range(group):
            start = -(-8 * k // bits)  # first character whose bits all come from raw
            end = 8 * (k + len(raw)) // bits  # one past the last such character
            padded = b"\0" * k + raw
            for enc in encoders:
                out.add(enc(padded)[start:end])
    return out


def _json_u(value: str) -> bytes:
    """Every character as a JSON `\\uXXXX` escape (UTF-16 code units)."""
    units = value.encode("utf-16-be")
    return b"".join(b"\\u%02x%02x" % (units[i], units[i + 1]) for i in range(0, len(units), 2))


# Encodings a reflected text may come back in, each applied character by character, so that the
# encoding of a slice of a secret is a slice of the encoding of the secret. Matching is
# case-insensitive, which also covers upper-case hex and percent escapes and an upper-cased echo.
TEXT_ENCODINGS: tuple[tuple[str, Callable[[str], bytes]], ...] = (
    ("raw", lambda v: v.encode("utf-8")),
    ("percent-encoded", lambda v: quote(v, safe="").encode()),
    ("percent-encoded, / kept", lambda v: quote(v).encode()),
    ("form-encoded", lambda v: quote_plus(v).encode()),
    ("JSON with escaped /", lambda v: v.replace("/", "\\/").encode()),
    ("JSON \\u escapes", _json_u),
    ("HTML-escaped", lambda v: html.escape(v).encode()),
    ("HTML decimal entities", lambda v: "".join(f"&#{ord(c)};" for c in v).encode()),
    ("HTML hex entities", lambda v: "".join(f"&#x{ord(c):x};" for c in v).encode()),
    ("UTF-16-LE", lambda v: v.encode("utf-16-le")),
    ("UTF-16-BE", lambda v: v.encode("utf-16-be")),
    ("hex", lambda v: v.encode("utf-8").hex().encode()),
    ("\\x escapes (C, Python, shell)", lambda v: "".join(f"\\x{b:02x}" for b in v.encode("utf-8")).encode()),
    # Node's Buffer.toJSON ({"type":"Buffer","data":[75,101,...]}), Python's list(bytes). With any
    # other whitespace after the commas (pretty-printed JSON) it is found on the whitespace-free
    # copy and the response refused.
    ("decimal byte list", lambda v: ",".join(str(b) for b in v.encode("utf-8")).encode()),
    ("decimal byte list, spaced", lambda v: ", ".join(str(b) for b in v.encode("utf-8")).encode()),
)


def secret_forms(value: str) -> tuple[bytes, ...]:
    """The byte strings a reflected secret may come back as: raw, percent-encoded (either hex
    case, `+` for space), base64 and base32 at any alignment in every alphabet, JSON- and
    HTML-escaped, UTF-16, hex, `\\x` escapes, decimal byte lists. Longest first so a longer form
    is replaced before a shorter one inside it."""
    raw = value.encode("utf-8")
    percent = quote(value, safe="")
    derived = {enc(value) for _, enc in TEXT_ENCODINGS} | {
        re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), percent).encode(),
        base64.b64encode(raw), base64.urlsafe_b64encode(raw), base64.b32encode(raw), *_base64_cores(raw)}
    forms = {raw} | {f for f in derived if len(f) >= _MIN_DERIVED_FORM}
    forms.discard(b"")
    return tuple(sorted(forms, key=len, reverse=True))


def _slices(value: str) -> set[str]:
    """The shortest slices of `value` at each offset that hold WINDOW bytes of it (the whole value
    when it is shorter)."""
    out: set[str] = set()
    for i in range(len(value)):
        j = i + 1
        while j <= len(value) and len(value[i:j].encode("utf-8")) < WINDOW:
            j += 1
        if j > len(value):
            break
        out.add(value[i:j])
    return out or {value}


def secret_windows(value: str) -> set[bytes]:
    """Every WINDOW-byte slice of `value` in every known form, lower-cased: base64 cores of each
    raw slice, and each slice under TEXT_ENCODINGS."""
    out: set[bytes] = set()
    for piece in _slices(value):
        out.update(enc(piece) for _, enc in TEXT_ENCODINGS)
        out.update(_base64_cores(piece.encode("utf-8")))
    return {w.lower() for w in out if len(w) >= min(WINDOW, len(value.encode("utf-8")))}


def _trie_regex(words: Iterable[bytes]) -> bytes:
    """One regex alternation for `words`, factored as a trie: the regex engine then tries one
    branch per distinct next byte instead of every word at every position. Longer continuations
    come first, so a match is the longest word at its start."""
    trie: dict[int, Any] = {}
    for w in words:
        node = trie
        for b in w:
            node = node.setdefault(b, {})
        node[-1] = {}

    def emit(node: dict[int, Any]) -> bytes:
        branches = [re.escape(bytes([b])) + emit(child) for b, child in sorted(node.items()) if b != -1]
        if not branches:
            return b""
        if -1 in node:
            branches.append(b"")
        return branches[0] if len(branches) == 1 else b"(?:" + b"|".join(branches) + b")"

    return emit(trie)


REDACTED = b"[REDACTED]"


class Cleaned(NamedTuple):
    """Response data after `Scrubber.clean`: `data` with secrets replaced by REDACTED, `found`: how
    many replacements were made, and whether a secret is still there once whitespace is taken out
    (wrapped across lines: it cannot be cut out where it lies, so the data must not be relayed)."""

    data: bytes
    found: int
    hidden: bool


@dataclass(frozen=True)
class Scrubber:
    """What a run's secrets may come back as, and how to take them out of response data.
    `forms`: each secret whole in every known form (replaced first: the common case, cheap);
    `windows`: any WINDOW-byte slice of a secret in any form, matched on lower-cased data;
    `spotter`: the same, as a lookahead, to find every (overlapping) start; `longest`: the longest
    window; `spaceless`: a window that holds whitespace is a window without it too, so a search of
    the whitespace-free data finds every window. A scrubber of no secret finds nothing."""

    forms: tuple[bytes, ...] = ()
    windows: re.Pattern[bytes] | None = None
    spotter: re.Pattern[bytes] | None = None
    longest: int = 0
    spaceless: bool = True

    @classmethod
    def of(cls, values: Iterable[str]) -> Scrubber:
        forms: set[bytes] = set()
        windows: set[bytes] = set()
        for v in values:
            forms.update(secret_forms(v))
            windows.update(secret_windows(v))
        windows.discard(b"")
        if not windows:
            return cls()
        trie = _trie_regex(windows)
        return cls(tuple(sorted(forms, key=len, reverse=True)), re.compile(trie),
                   re.compile(b"(?=(" + trie + b"))"), max(map(len, windows)),
                   all(w.translate(None, WHITESPACE) in windows for w in windows))

    def _chunks(self, data: bytes) -> Iterator[tuple[int, int]]:
        """(pos, endpos) pairs that cover `data` in SCAN_CHUNK steps, overlapping by a window: a
        window starting in [pos, pos + SCAN_CHUNK) lies whole in data[pos:endpos]. One regex call
        holds the GIL to its end; in steps, a large body scrubbed on a worker thread leaves the
        event loop free to run between them."""
        for pos in range(0, len(data) or 1, SCAN_CHUNK):
            yield pos, min(len(data), pos + SCAN_CHUNK + self.longest)

    def _search(self, data: bytes) -> bool:
        assert self.windows is not None
        return any(self.windows.search(data, pos, end) is not None for pos, end in self._chunks(data))

    def _regions(self, low: bytes) -> list[tuple[int, int]]:
        """Where windows sit in `low` (lower-cased data), overlapping ones merged."""
        assert self.spotter is not None
        regions: list[tuple[int, int]] = []
        for pos, endpos in self._chunks(low):
            for m in self.spotter.finditer(low, pos, endpos):
                start, end = m.start(), m.start() + len(m.group(1))
                if start >= pos + SCAN_CHUNK:
                    break
                if regions and start <= regions[-1][1]:
                    regions[-1] = (regions[-1][0], max(end, regions[-1][1]))
                else:
                    regions.append((start, end))
        return regions

    def clean(self, data: bytes) -> Cleaned:
        """`data` with every whole form, then every run of windows (any case), replaced by
        REDACTED. Clean data costs one regex pass over a whitespace-free, lower-cased copy."""
        if self.windows is None:
            return Cleaned(data, 0, False)
        data, count = scrub(data, self.forms)
        low = data.lower()
        if not self._search(low.translate(None, WHITESPACE)) and (self.spaceless or not self._search(low)):
            return Cleaned(data, count, False)
        out, last = [], 0
        for start, end in self._regions(low):
            out += [data[last:start], REDACTED]
            last = end
            count += 1
        data = b"".join(out) + data[last:]
        return Cleaned(data, count, self._search(data.lower().translate(None, WHITESPACE)))

    def finds(self, data: bytes) -> bool:
        """Whether `data` holds a window of a secret, in place or once whitespace is taken out."""
        if self.windows is None:
            return False
        cleaned = self.clean(data)
        return cleaned.found > 0 or cleaned.hidden

    def spans(self, before: bytes, data: bytes) -> bool:
        """Whether a window starts in `before` (already relayed, scrubbed) and ends in `data`."""
        if self.spotter is None or not before:
            return False
        start = max(0, len(before) - self.longest + 1)
        m = self.spotter.search((before[start:] + data[:self.longest]).lower())
        return m is not None and start + m.start() < len(before)


# Magic numbers of codings a body may be wrapped in once more, inside its Content-Encoding (or
# with none): the scrubber would see only compressed bytes that the client undoes itself.
# Brotli streams carry no magic number and cannot be told apart.
NESTED_CODING_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "gzip"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"\x78\x01", "zlib"), (b"\x78\x5e", "zlib"), (b"\x78\x9c", "zlib"), (b"\x78\xda", "zlib"),
)


def nested_coding(body: bytes) -> str | None:
    """The compression a (decoded) body starts with, by its magic number, or None."""
    return next((name for magic, name in NESTED_CODING_MAGIC if body.startswith(magic)), None)


def scrub(data: bytes, forms: Sequence[bytes]) -> tuple[bytes, int]:
    """`data` with every form replaced by REDACTED, and how many replacements were made."""
    count = 0
    for f in forms:
        n = data.count(f)
        if n:
            count += n
            data = data.replace(f, REDACTED)
    return data, count


# -- decoding under a cap ----------------------------------------------------------------------
# A scrubbed response is decoded to be searched. mitmproxy's `get_content` decodes it whole, with
# no limit: a 16 KB zstd body is 512 MiB of zeros, and a body under SCRUB_LIMIT can decode to
# terabytes. Here decoding stops once the output passes a limit, and the response is refused.

class BodyTooLarge(ValueError):
    """The body decodes to more than the limit (decoding stopped there)."""


_OUT_STEP = 1 << 20  # output asked of a decompressor per call
_IN_STEP = 1 << 16  # input given to a decompressor per call
_ZSTD_IN_STEP = 512  # zstd has no output limit per call: one input byte can make 32 KiB (RLE block)
_BROTLI_IN_STEP = 8  # see `_unbrotli`
_MAX_MEMBERS = 1024  # gzip members, zstd frames: each restart copies what follows (up to _IN_STEP)
ZSTD_MAX_WINDOW = 1 << 23  # RFC 9659: zstd content coding uses windows of at most 8 MiB


def _check(out: bytearray, limit: int) -> None:
    if len(out) > limit:
        raise BodyTooLarge(f"decodes past {limit} bytes")


def _inflate(raw: bytes, wbits: int, limit: int, *, members: bool) -> bytes:
    """zlib/gzip/raw deflate (by `wbits`) decoded; with `members`, gzip members one after another,
    zero padding between them skipped (as Python's gzip module reads them). ValueError when the
    data is truncated, corrupt, or followed by anything else."""
    out = bytearray()
    d = zlib.decompressobj(wbits)
    count = 1
    try:
        for i in range(0, len(raw), _IN_STEP):
            data = raw[i:i + _IN_STEP]
            while data:
                if d.eof:
                    if not members:
                        raise ValueError("data after the end of the compressed stream")
                    data = data.lstrip(b"\0")
                    if not data:
                        break
                    count += 1
                    if count > _MAX_MEMBERS:
                        raise ValueError(f"more than {_MAX_MEMBERS} gzip members")
                    d = zlib.decompressobj(wbits)
                out += d.decompress(data, _OUT_STEP)
                _check(out, limit)
                data = d.unused_data if d.eof else d.unconsumed_tail
        while not d.eof and (chunk := d.decompress(b"", _OUT_STEP)):
            out += chunk
            _check(out, limit)
    except zlib.error as e:
        raise ValueError(f"corrupt compressed data: {e}") from None
    if not d.eof:
        raise ValueError("truncated compressed data")
    return bytes(out)


def _unzstd(raw: bytes, limit: int) -> bytes:
    """zstd frames one after another (skippable frames allowed), as mitmproxy reads them, with a
    window of at most ZSTD_MAX_WINDOW. ValueError when truncated, corrupt, or followed by junk."""
    out = bytearray()
    dctx = zstandard.ZstdDecompressor(max_window_size=ZSTD_MAX_WINDOW)
    d = dctx.decompressobj()
    count = 1
    try:
        for i in range(0, len(raw), _ZSTD_IN_STEP):
            data = raw[i:i + _ZSTD_IN_STEP]
            while data:
                if d.eof:
                    count += 1
                    if count > _MAX_MEMBERS:
                        raise ValueError(f"more than {_MAX_MEMBERS} zstd frames")
                    d = dctx.decompressobj()
                out += d.decompress(data)
                _check(out, limit)
                data = d.unused_data if d.eof else b""
    except zstandard.ZstdError as e:
        raise ValueError(f"corrupt zstd data: {e}") from None
    if not d.eof:
        raise ValueError("truncated zstd data")
    return bytes(out)


def _unbrotli(raw: bytes, limit: int) -> bytes:
    """brotli decoded under a cap. A binding that can stop at an output limit (brotli >= 1.2:
    `process(data, limit)`, `can_accept_more_data()`) is given large steps; an older one decodes
    everything its input makes in one call, and one meta-block (about a dozen bytes) makes up to
    16 MiB, so it is fed _BROTLI_IN_STEP bytes at a time: the cap is overshot by at most a few
    meta-blocks (measured: 16 MiB), at about 0.1 s per MB of input."""
    out = bytearray()
    d: Any = brotli.Decompressor()
    capped = hasattr(d, "can_accept_more_data")
    step = _IN_STEP if capped else _BROTLI_IN_STEP
    view = memoryview(raw)
    try:
        for i in range(0, len(raw), step):
            out += d.process(view[i:i + step], _OUT_STEP) if capped else d.process(view[i:i + step])
            _check(out, limit)
            while capped and not d.can_accept_more_data():
                out += d.process(b"", _OUT_STEP)
                _check(out, limit)
    except brotli.error as e:
        raise ValueError(f"corrupt brotli data: {e}") from None
    if not d.is_finished():
        raise ValueError("truncated brotli data")
    return bytes(out)


def decode_body(raw: bytes, coding: str | None, limit: int) -> bytes:
    """`raw` decoded by its content coding (None or one of SCRUBBABLE_CODINGS), never holding much
    more than `limit` bytes of output: BodyTooLarge past it; ValueError when it cannot be decoded
    (stricter than mitmproxy's `get_content`, which it replaces on scrubbed flows: no junk after
    the end of the data, no zstd window over 8 MiB)."""
    name = (coding or "identity").strip().lower()
    if name in ("identity", "none") or not raw:
        return raw
    if name == "gzip":
        return _inflate(raw, 16 + zlib.MAX_WBITS, limit, members=True)
    if name == "deflate":  # zlib-wrapped as the RFC says, or raw deflate as some servers send
        try:
            return _inflate(raw, zlib.MAX_WBITS, limit, members=False)
        except BodyTooLarge:
            raise
        except ValueError:
            return _inflate(raw, -zlib.MAX_WBITS, limit, members=False)
    if name == "zstd":
        return _unzstd(raw, limit)
    if name == "br":
        return _unbrotli(raw, limit)
    raise ValueError(f"content coding {coding!r} cannot be decoded")


# -- compressed data inside a body -------------------------------------------------------------
# A body may carry compressed data anywhere: a gzip member after a header line, a zlib stream in a
# binary format, base64 of gzip in a JSON field (log APIs). The scrubber sees only compressed
# bytes there, which the client undoes itself. Refusing every body with such a magic number would
# refuse ordinary binaries (PNG holds zlib streams), so the data is decoded, under a budget, and
# searched: a window of a secret in it refuses the response.
# Reach: gzip, zlib (32 KiB window, no preset dictionary) and zstd streams starting at any byte
# of the body, or of the bytes of a base64 run in it (either alphabet, lines wrapped, JSON `\/`
# and `\n` escapes), or of what those decode to, to EMBEDDED_DEPTH levels. A stream cut short is
# searched as far as it decodes. Out of reach: raw deflate and brotli (no magic number: any byte
# may start one; zip entries are raw deflate), zlib with a smaller window, other compressors, compressed data in other text
# encodings (hex, base32, percent-encoded base64), and arbitrary transforms (reversed, rot13,
# XOR, encryption): a secret only an adversarial upstream would send that way is out of scope.

def _zlib_headers() -> list[bytes]:
    """The two-byte zlib headers an encoder writes by default: deflate, 32 KiB window, no preset
    dictionary, any level. Smaller windows (0x08..0x68 first bytes) make 28 more two-byte
    patterns to look for, each a bytes.find over the body: they are left out of reach."""
    return [bytes([0x78, flg]) for flg in range(256) if (0x78 << 8 | flg) % 31 == 0 and not flg & 0x20]


# (start of the stream, name, wbits for zlib; None: zstd)
EMBEDDED_CODINGS: tuple[tuple[tuple[bytes, ...], str, int | None], ...] = (
    ((b"\x1f\x8b\x08",), "gzip", 16 + zlib.MAX_WBITS),
    ((b"\x28\xb5\x2f\xfd",), "zstd", None),
    (tuple(_zlib_headers()), "zlib", zlib.MAX_WBITS),
)
EMBEDDED_DEPTH = 3  # compressed or base64 data inside compressed or base64 data, this many levels
# A base64 run: both alphabets, line breaks raw or JSON-escaped (`\\n`), `\\/` (JSON may escape
# /). One character class: a regex with alternatives costs ten times as much on binary bodies.
_BASE64_RUN = re.compile(rb"[A-Za-z0-9+/_=\\\r\n-]{24,}")
_BASE64_NOISE = re.compile(rb"\\[rn]|[\\\r\n=]")
_URLSAFE = bytes.maketrans(b"-_", b"+/")


@dataclass
class _Budget:
    """What inspecting one body may cost: decoded output, and input fed to decoders (a stream that
    decodes to nothing, such as empty stored blocks, costs input and no output)."""

    output: int
    input: int

    def spend(self, output: int, input: int) -> None:
        self.output -= output
        self.input -= input
        if self.output < 0 or self.input < 0:
            raise BodyTooLarge("too much compressed data inside the body to inspect")


def _decode_at(data: memoryview, wbits: int | None, budget: _Budget) -> bytes:
    """The stream starting at data[0] decoded as far as it goes (to its end, the end of `data`, or
    an error), under `budget`. Input is fed in doubling steps from 16 bytes, so a magic number
    that starts nothing (`x^` in a text is a zlib header) costs little."""
    out = bytearray()
    pos, step = 0, 16
    if wbits is None:
        d: Any = zstandard.ZstdDecompressor(max_window_size=ZSTD_MAX_WINDOW).decompressobj()
    else:
        d = zlib.decompressobj(wbits)
    try:
        while pos < len(data) and not d.eof:
            piece: bytes | memoryview = data[pos:pos + (min(step, _ZSTD_IN_STEP) if wbits is None else step)]
            pos += len(piece)
            step = min(step * 2, _IN_STEP)
            while piece and not d.eof:
                before = len(out)
                if wbits is None:
                    out += d.decompress(piece)
                    piece = b""
                else:
                    out += d.decompress(piece, _OUT_STEP)
                    piece = d.unconsumed_tail
                budget.spend(len(out) - before, 0)
    except (zlib.error, zstandard.ZstdError):
        pass
    budget.spend(0, pos)
    return bytes(out)


def _stream_starts(data: bytes) -> Iterator[tuple[int, str, int | None]]:
    """(offset, name, wbits) of every place in `data` that starts like an EMBEDDED_CODINGS stream,
    overlapping ones included. bytes.find per start is many times faster than one regex."""
    for starts, name, wbits in EMBEDDED_CODINGS:
        for start in starts:
            at = data.find(start)
            while at >= 0:
                yield at, name, wbits
                at = data.find(start, at + 1)


def _base64_decodings(body: bytes) -> Iterator[bytes]:
    """The bytes of each base64 run of `body`, at each of the four alignments (a run may start
    inside a base64 text, after a character that belongs to it)."""
    for m in _BASE64_RUN.finditer(body):
        text = _BASE64_NOISE.sub(b"", m.group(0)).translate(_URLSAFE)
        for k in range(4):
            part = text[k:]
            yield binascii.a2b_base64(part[:len(part) - len(part) % 4])


def embedded_secret(body: bytes, finds: Callable[[bytes], bool], limit: int) -> str | None:
    """Why `body` must not be relayed because of compressed data inside it (see the comment
    above): a secret `finds` in what it decodes to, or more to decode than `limit` bytes of output
    or 4 * len(body) + 1 MiB of input in all. None when nothing is found."""
    budget = _Budget(limit, 4 * len(body) + (1 << 20))
    try:
        return _embedded(body, finds, budget, EMBEDDED_DEPTH, "")
    except BodyTooLarge as e:
        return str(e)


def _embedded(data: bytes, finds: Callable[[bytes], bool], budget: _Budget, depth: int,
              where: str) -> str | None:
    if depth == 0:
        return None
    sources = [(data, where)]
    sources += [(b, f"{where}base64 ") for b in _base64_decodings(data)]
    for source, place in sources:
        view = memoryview(source)
        for at, name, wbits in _stream_starts(source):
            inner = _decode_at(view[at:], wbits, budget)
            if not inner:
                continue
            what = f"{place}{name} data at byte {at}"
            if finds(inner):
                return f"{what} decodes to a secret: cannot be scrubbed"
            if why := _embedded(inner, finds, budget, depth - 1, f"{what} holds "):
                return why
    return None


def encode_body(data: bytes, coding: str | None) -> bytes:
    """`data` in content coding `coding` (None or one of SCRUBBABLE_CODINGS), as mitmproxy
    encodes it (gzip with no time stamp)."""
    name = (coding or "identity").strip().lower()
    if name in ("identity", "none"):
        return data
    if name == "gzip":
        return gzip.compress(data, mtime=0)
    if name == "deflate":
        return zlib.compress(data)
    if name == "zstd":
        return zstandard.ZstdCompressor().compress(data)
    if name == "br":
        return bytes(brotli.compress(data))
    raise ValueError(f"content coding {coding!r} cannot be encoded")


class ScrubbedBody(NamedTuple):
    """What `scrub_body` made of a response body: `raw`, the body to relay (in the same content
    coding) when a secret was taken out (None: relay the body as it came); `found`: how many were."""

    raw: bytes | None
    found: int


def scrub_body(raw: bytes, coding: str | None, scrubber: Scrubber, limit: int,
               decoded: bytes | None = None) -> ScrubbedBody | str:
    """A scrubbed response body (`raw`, in content coding `coding`; `decoded`: the same, already
    decoded by `decode_body`), or why it must not be relayed: it decodes past `limit` bytes or not
    at all, is compressed once more inside its coding, hides a secret behind whitespace, or in
    compressed data inside it (`embedded_secret`). Pure and CPU-bound: the addon runs it on a
    worker thread for large bodies."""
    if decoded is None:
        try:
            decoded = decode_body(raw, coding, limit)
        except BodyTooLarge:
            return f"response body decodes past the {limit} byte scrub limit"
        except ValueError:
            return "response body cannot be decoded for scrubbing"
    if nested := nested_coding(decoded):
        return f"the body is {nested}-compressed inside its content coding: cannot be scrubbed"
    cleaned = scrubber.clean(decoded)
    # The raw (encoded) bytes too: a secret can sit where decoding does not reach (a gzip header's
    # file name or comment).
    raw_cleaned = cleaned if raw is decoded else scrubber.clean(raw)
    if cleaned.hidden or raw_cleaned.hidden:
        return "the body holds a secret split by whitespace: refused"
    if scrubber.windows is not None and (why := embedded_secret(cleaned.data, scrubber.finds, limit)):
        return why
    if cleaned.found or raw_cleaned.found:
        return ScrubbedBody(encode_body(cleaned.data, coding), cleaned.found or raw_cleaned.found)
    return ScrubbedBody(None, 0)


def is_encoded(coding: str | None) -> bool:
    """Whether a Content-Encoding value names a coding other than identity."""
    return (coding or "identity").strip().lower() not in ("identity", "none")
