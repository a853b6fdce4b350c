"""Make text safe to show a person: control, invisible, bidi and non-printable characters are
written as visible escapes (`\\r`, `\\x1b`, `\\u200b`), so a command cannot hide part of itself or
rewrite the terminal when vsh echoes it."""

from __future__ import annotations

import unicodedata

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\x1b": "\\x1b", "\x00": "\\x00"}


def _needs_escape(ch: str) -> bool:
    o = ord(ch)
    if 0x20 <= o < 0x7F:
        return False
    if o < 0x20 or o == 0x7F:
        return True
    cat = unicodedata.category(ch)
    # Cc control, Cf format (zero-width, bidi), Cs lone surrogates (undecodable bytes), Co private,
    # Cn unassigned, Zs/Zl/Zp separators other than the ASCII space, Mn combining marks.
    return cat[0] in "CZ" or cat == "Mn"


def visible(text: str) -> str:
    """`text` with every character a terminal would not show plainly replaced by an escape.
    Undecodable bytes (lone surrogates from `surrogateescape`) are shown as `\\xNN`."""
    if text.isascii() and text.isprintable():
        return text
    out: list[str] = []
    for ch in text:
        if not _needs_escape(ch):
            out.append(ch)
            continue
        o = ord(ch)
        if ch in _NAMED:
            out.append(_NAMED[ch])
        elif 0xDC80 <= o <= 0xDCFF:
            out.append(f"\\x{o - 0xDC00:02x}")
        elif o < 0x100:
            out.append(f"\\x{o:02x}")
        elif o < 0x10000:
            out.append(f"\\u{o:04x}")
        else:
            out.append(f"\\U{o:08x}")
    return "".join(out)
