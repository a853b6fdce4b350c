"""Secret scrubbing: the forms a secret is found in, windows, capped body decoding, compressed data inside a body."""

from __future__ import annotations

import base64
import gzip
import json
import re
import zlib
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, quote_plus

import brotli
import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st
from vshell.proxy import scrub


def test_scrub_every_form() -> None:
    value = "s3cr3t/value+x"
    forms = scrub.secret_forms(value)
    body = (f"a {value} b " + base64.b64encode(value.encode()).decode() + " c s3cr3t%2Fvalue%2Bx "
            + value.replace("/", "\\/")).encode()
    cleaned, n = scrub.scrub(body, forms)
    assert n == 4
    assert value.encode() not in cleaned and b"s3cr3t" not in cleaned


@given(st.text(min_size=8, max_size=40), st.binary(max_size=200), st.binary(max_size=200))
def test_scrub_property(value: str, before: bytes, after: bytes) -> None:
    forms = scrub.secret_forms(value)
    cleaned, _ = scrub.scrub(before + value.encode() + after, forms)
    assert value.encode() not in cleaned


@pytest.mark.parametrize("reflection", [
    lambda v: base64.b64encode(b"Authorization: Key " + v.encode()),
    lambda v: base64.b64encode(b"Key " + v.encode() + b"\r\n"),
    lambda v: base64.urlsafe_b64encode(b"xx" + v.encode()),
    lambda v: v.encode("utf-16-le"),
    lambda v: v.encode("utf-16-be"),
    lambda v: v.replace("&", "&amp;").encode(),
    lambda v: re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), quote(v, safe="")).encode(),
    lambda v: quote_plus(v).encode(),
])
def test_scrub_transformed_reflections(reflection: Any) -> None:
    value = "sk-live/AbC&123+xyz=QRS"
    cleaned, n = scrub.scrub(b"<" + reflection(value) + b">", scrub.secret_forms(value))
    assert n >= 1 and scrub.REDACTED in cleaned


@given(st.text(min_size=8, max_size=40), st.binary(max_size=12), st.binary(max_size=12))
def test_scrub_property_base64_at_any_offset(value: str, before: bytes, after: bytes) -> None:
    """A secret base64-encoded inside a longer text is redacted whatever its offset; what is left
    decodes to no run of 4 of its bytes."""
    raw = value.encode()
    encoded = base64.b64encode(before + raw + after)
    cleaned, n = scrub.scrub(encoded, scrub.secret_forms(value))
    assert n >= 1
    for piece in cleaned.split(scrub.REDACTED):
        for k in range(4):
            chunk = piece[k:][:len(piece[k:]) - len(piece[k:]) % 4]
            try:
                decoded = base64.b64decode(chunk)
            except ValueError:
                continue
            assert not any(raw[i:i + 4] in decoded for i in range(len(raw) - 3) if len(raw[i:i + 4]) == 4
                           and raw[i:i + 4] not in before + after), (value, before, after)


@pytest.mark.parametrize(("data", "found", "hidden"), [
    (b"Key s3cr3t-VALUE-0123456789", 1, False),
    (b"KEY S3CR3T-VALUE-0123456789", 1, False),
    (b"s3cr3t-VALUE-0123456789".hex().upper().encode(), 1, False),
    (b"".join(b"\\u%04x" % c for c in b"s3cr3t-VALUE-0123456789"), 1, False),
    (b"a=t-VALUE-01&", 1, False),  # a 12-byte slice
    (b"a=-VALUE-0&", 1, False),  # exactly WINDOW bytes
    (b"a=-VALUE-&", 0, False),  # under WINDOW bytes: left alone
    (b"s3cr3t-\nVALUE-0\n1234567\n89", 0, True),  # wrapped in pieces under WINDOW bytes
    (b"nothing to see", 0, False),
])
def test_scrubber_windows(data: bytes, found: int, hidden: bool) -> None:
    cleaned = scrub.Scrubber.of(["s3cr3t-VALUE-0123456789"]).clean(data)
    assert (cleaned.found, cleaned.hidden) == (found, hidden), cleaned
    if found:
        assert scrub.REDACTED in cleaned.data


@settings(deadline=None, max_examples=50)  # building a scrubber compiles a regex: ~50 ms for odd values
@given(st.text(min_size=8, max_size=40), st.integers(0, 40), st.binary(max_size=50), st.binary(max_size=50))
def test_scrubber_leaves_no_window(value: str, start: int, before: bytes, after: bytes) -> None:
    piece = value[start:].encode()  # the secret from any character on: an upstream's slice
    cleaned = scrub.Scrubber.of([value]).clean(before + piece + after)
    if len(piece) >= scrub.WINDOW:
        assert piece not in cleaned.data or cleaned.hidden


def test_nested_coding() -> None:
    import gzip

    assert scrub.nested_coding(gzip.compress(b"x")) == "gzip"
    assert scrub.nested_coding(b"plain") is None


# -- red team round 3: decoding under a cap, more reflection forms, compressed data inside a body --

_BOMB_SIZE = 64 << 20
_CAP = 1 << 20


@pytest.mark.parametrize(("coding", "encode"), [
    ("gzip", lambda d: gzip.compress(d)),
    ("deflate", lambda d: zlib.compress(d)),
    ("deflate", lambda d: zlib.compress(d, wbits=-15)),  # raw deflate, as some servers send it
    ("zstd", lambda d: zstandard.ZstdCompressor().compress(d)),
    ("br", lambda d: brotli.compress(d, quality=5)),
])
def test_decode_body_round_trips_and_stops_at_the_cap(coding: str, encode: Callable[[bytes], bytes]) -> None:
    data = b"some body " * 1000
    assert scrub.decode_body(encode(data), coding, _CAP) == data
    assert scrub.decode_body(scrub.encode_body(data, coding), coding.upper(), _CAP) == data
    bomb = encode(b"\0" * _BOMB_SIZE)
    with pytest.raises(scrub.BodyTooLarge):
        scrub.decode_body(bomb, coding, _CAP)


@pytest.mark.parametrize(("raw", "coding"), [
    (gzip.compress(b"x" * 100)[:-5], "gzip"),  # truncated
    (gzip.compress(b"x") + b"junk", "gzip"),  # junk after the member
    (zlib.compress(b"x") + b"junk", "deflate"),
    (b"not compressed", "zstd"),
    (b"\xff\xff\xff", "br"),
    (b"x", "compress"),
])
def test_decode_body_refuses_what_it_cannot_decode_whole(raw: bytes, coding: str) -> None:
    with pytest.raises(ValueError):
        scrub.decode_body(raw, coding, _CAP)


def test_decode_body_reads_gzip_members_and_zero_padding_as_python_does() -> None:
    raw = gzip.compress(b"one ") + gzip.compress(b"two") + b"\0" * 10
    assert scrub.decode_body(raw, "gzip", _CAP) == gzip.decompress(raw) == b"one two"


def test_zstd_windows_over_8_mib_are_refused() -> None:
    params = zstandard.ZstdCompressionParameters.from_level(19, window_log=24, write_content_size=False)
    c = zstandard.ZstdCompressor(compression_params=params).compressobj()  # size unknown: window kept
    raw = c.compress(b"ab" * (1 << 20)) + c.flush()
    with pytest.raises(ValueError):
        scrub.decode_body(raw, "zstd", 64 << 20)


_R3 = "fal-SECRET-0123456789abcdefXYZ"
_A3 = f"Key {_R3}".encode()


@pytest.mark.parametrize("body", [
    base64.b32encode(_A3), base64.b32encode(b"xy" + _A3).lower(), base64.b32hexencode(b"z" + _A3),
    b",".join(str(c).encode() for c in _A3), json.dumps(list(_A3)).encode(),
    b"".join(b"\\x%02x" % c for c in _A3), b"".join(b"\\x%02X" % c for c in _A3),
], ids=["b32", "b32-lower-offset", "b32hex", "byte-list", "byte-list-spaced", "x-escapes", "X-escapes"])
def test_scrubber_knows_base32_byte_lists_and_x_escapes(body: bytes) -> None:
    cleaned = scrub.Scrubber.of([_R3]).clean(body)
    assert cleaned.found and not cleaned.hidden, cleaned.data


def test_pretty_printed_byte_list_is_refused_not_relayed() -> None:
    assert scrub.Scrubber.of([_R3]).clean(json.dumps(list(_A3), indent=2).encode()).hidden


def test_a_byte_list_form_keeps_the_one_pass_fast_path() -> None:
    assert scrub.Scrubber.of([_R3]).spaceless  # ", " windows have their "," twins
    assert not scrub.Scrubber.of(["with space inside"]).spaceless


@pytest.mark.parametrize(("body", "refused"), [
    (b"LOG1" + gzip.compress(_A3), "gzip data at byte 4"),
    (b"HDR:" + zlib.compress(_A3), "zlib data at byte 4"),
    (b"HDR:" + zstandard.ZstdCompressor().compress(_A3), "zstd data at byte 4"),
    (json.dumps({"log": base64.b64encode(gzip.compress(_A3)).decode()}).encode(), "base64 gzip"),
    (json.dumps({"log": base64.urlsafe_b64encode(b"x" + gzip.compress(_A3)).decode()}).encode().replace(b"/", b"\\/"),
     "base64 gzip"),
    (json.dumps({"log": base64.encodebytes(b"ab" + zlib.compress(_A3 * 9)).decode()}).encode(), "base64 zlib"),
    (b"ab" + gzip.compress(b"cd" + gzip.compress(_A3)), "holds gzip"),
    (b"\x89PNG" + zlib.compress(bytes(range(0, 256, 3)) * 50), None),
    (b"math: x^2 + y^2 " * 1000, None),
    (base64.b64encode(gzip.compress(b"nothing to see " * 50)), None),
])
def test_embedded_secret(body: bytes, refused: str | None) -> None:
    scrubber = scrub.Scrubber.of([_R3])
    why = scrub.embedded_secret(body, scrubber.finds, _CAP)
    assert (why is None) if refused is None else (why is not None and refused in why), why


def test_embedded_secret_budget_refuses_what_it_cannot_finish() -> None:
    bombs = b"".join(b"pad" + gzip.compress(b"\0" * (1 << 20)) for _ in range(4))
    assert "too much compressed data" in (scrub.embedded_secret(bombs, lambda d: False, _CAP) or "")


def test_scrub_body_re_encodes_in_the_response_coding() -> None:
    scrubber = scrub.Scrubber.of([_R3])
    result = scrub.scrub_body(gzip.compress(b"echo: " + _A3), "gzip", scrubber, _CAP)
    assert isinstance(result, scrub.ScrubbedBody) and result.raw is not None and result.found == 1
    assert gzip.decompress(result.raw) == b"echo: Key [REDACTED]"
    assert scrub.scrub_body(zstandard.ZstdCompressor().compress(b"\0" * (4 << 20)), "zstd", scrubber, _CAP) \
        == f"response body decodes past the {_CAP} byte scrub limit"
