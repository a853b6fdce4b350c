"""Text that may not be UTF-8. Command lines, argv and file names reach vsh as str decoded with
`surrogateescape`, so a byte that is not UTF-8 (`ls $'\\xff'`) is a lone surrogate in the str.
SQLite and UTF-8 files cannot hold one. These helpers say where that is the case and write such text
losslessly (JSON escapes) or, where only a lookup needs it, lossily. Lean: json only, on demand.
"""

from __future__ import annotations

from typing import Any


def encodable(text: str) -> bool:
    """Whether `text` encodes as UTF-8 (no lone surrogates)."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def lookup_key(text: str) -> str:
    """`text` as a key for a lookup whose hits are checked again against the real text, or only
    counted: lone surrogates become U+FFFD. Never store it as the text itself: it is not reversible."""
    if encodable(text):
        return text
    return "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in text)


def dumps(value: Any, **kw: Any) -> str:
    """json.dumps keeping non-ASCII characters readable, except in a document that holds lone
    surrogates: that one is written with `\\uXXXX` escapes throughout, which json.loads reverses."""
    import json

    text = json.dumps(value, ensure_ascii=False, **kw)
    return text if encodable(text) else json.dumps(value, ensure_ascii=True, **kw)
