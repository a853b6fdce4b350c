"""The audit log: one redacted JSON object per line in $VSH_HOME/audit.jsonl.

Each entry is written with a single `write()` on a file opened O_APPEND (mode 0600), so concurrent vsh
processes never interleave or tear lines. Every string in the record is redacted before it is
written: with `vshell.secretscan.redact` when that module is installed, else with a built-in
conservative pass (credential-looking `key: value` / `key=value` pairs, bearer tokens, URL passwords,
well-known token prefixes and long high-entropy words).
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from collections import Counter, deque
from collections.abc import Callable
from functools import cache
from typing import Any

from vshell.errors import StateError
from vshell.state import StatePaths
from vshell.utf8 import dumps

KINDS = ("decision", "run", "proxy")
MAX_STRING = 4000  # longer strings are cut: the log is for people, not a copy of every byte
REDACTED = "[REDACTED]"

_SECRET_KEYS = (
    r"authorization|proxy-authorization|x-api-key|api[_-]?key|apikey|access[_-]?token|auth[_-]?token|"
    r"token|secret|client[_-]?secret|password|passwd|pwd|private[_-]?key|cookie|set-cookie"
)


@cache
def _patterns() -> tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...]:
    """Compiled on first use: only needed when vshell.secretscan is not installed."""
    return (
        # key: value / key=value (header-like or assignment-like); keep the key, drop the value
        (re.compile(rf"(?i)\b((?:{_SECRET_KEYS})\b[\"']?\s*[:=]\s*)(?:(?:bearer|basic|token)\s+)?[\"']?[^\s\"',;&]+"),
         lambda m: m.group(1) + REDACTED),
        (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), lambda m: m.group(1) + " " + REDACTED),
        (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]+:)[^@\s/]+@"), lambda m: m.group(1) + REDACTED + "@"),
        (re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|sk-[A-Za-z0-9_-]{16,}|"
                    r"xox[abprs]-[A-Za-z0-9-]{10,}|AKIA[0-9A-Z]{16}|AIza[0-9A-Za-z_-]{30,}|"
                    r"glpat-[A-Za-z0-9_-]{16,}|npm_[A-Za-z0-9]{30,})"), lambda m: REDACTED),
        (re.compile(r"[A-Za-z0-9+/_=.-]{32,}"), _high_entropy),
    )


_HEX = re.compile(r"[0-9a-fA-F]+")


def _entropy(s: str) -> float:
    counts = Counter(s)
    n = len(s)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def _high_entropy(m: re.Match[str]) -> str:
    word = m.group(0)
    if _HEX.fullmatch(word) or word.startswith(("/", "./", "../", "~/")):
        return word  # commit hashes and paths are not secrets
    classes = sum(bool(re.search(p, word)) for p in (r"[a-z]", r"[A-Z]", r"[0-9]"))
    if classes >= 3 and _entropy(word) >= 4.0:
        return REDACTED
    return word


def builtin_redact(text: str) -> str:
    """Conservative redaction that needs no other module (the fallback)."""
    for pattern, repl in _patterns():
        text = pattern.sub(repl, text)
    return text


def redact(text: str) -> str:
    """vshell.secretscan's redaction when that module is installed, else the built-in one."""
    try:
        from vshell.secretscan import redact as scan_redact
    except ImportError:
        return builtin_redact(text)
    return scan_redact(text)


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        value = value if len(value) <= MAX_STRING else value[:MAX_STRING] + "…[cut]"
        return redact(value)
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return _clean(str(value))


def append(paths: StatePaths, kind: str, record: dict[str, Any]) -> None:
    """Append one redacted entry. Raises StateError when the log cannot be written."""
    if kind not in KINDS:
        raise ValueError(f"unknown audit kind {kind!r}")
    entry = {"ts": round(time.time(), 3), "kind": kind, **_clean(record)}
    data = (dumps(entry, separators=(",", ":")) + "\n").encode("utf-8")
    try:
        paths.ensure()
        fd = os.open(paths.audit_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as e:
        raise StateError(f"{paths.audit_log}: cannot open the audit log: {e.strerror}") from None
    try:
        written = os.write(fd, data)
        if written != len(data):
            raise StateError(f"{paths.audit_log}: short write to the audit log")
    except OSError as e:
        raise StateError(f"{paths.audit_log}: cannot write the audit log: {e.strerror}") from None
    finally:
        os.close(fd)


def read(paths: StatePaths, n: int | None = 20) -> list[dict[str, Any]]:
    """The last `n` entries (all when None), oldest first. Lines that are not JSON objects are
    returned as {"kind": "unreadable", "line": N} so a damaged log is visible, not hidden."""
    try:
        f = open(paths.audit_log, encoding="utf-8", errors="replace")  # noqa: SIM115
    except FileNotFoundError:
        return []
    except OSError as e:
        raise StateError(f"{paths.audit_log}: cannot read the audit log: {e.strerror}") from None
    out: deque[dict[str, Any]] = deque(maxlen=n)
    with f:
        for number, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                item = json.loads(raw)
            except json.JSONDecodeError:
                item = None
            out.append(item if isinstance(item, dict) else {"kind": "unreadable", "line": number})
    return list(out)
