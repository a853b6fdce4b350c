"""Finding literal secrets in text: known key formats, credential-looking assignments, random tokens.

Used two ways: the audit log redacts what it records (`redact`), and `vsh run` refuses a command
line that carries a secret (`find_secrets`), telling the person to store it with `vsh cred add`.

Detection is a table of detectors, most specific first; each carries examples that must and must
not be found (checked by the tests). The random-token detector is deliberately conservative about
what commands commonly hold: plain hex of any length (git SHAs, digests), UUIDs, and identifiers
made of words (`test_get_user_by_id_2`) are never flagged.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

# Stored values shorter than this are not searched for: they would redact ordinary words.
MIN_KNOWN_LENGTH = 4


@dataclass(frozen=True)
class Finding:
    """A secret in a text, by position. It never holds the secret itself."""

    kind: str
    start: int
    end: int


@dataclass(frozen=True)
class Detector:
    kind: str
    pattern: re.Pattern[str]
    group: int = 0  # the capture group that is the secret (0 = the whole match)
    examples: tuple[str, ...] = ()  # texts in which exactly this detector must find something
    counter_examples: tuple[str, ...] = ()  # texts in which nothing may be found


def _rx(text: str, flags: int = 0) -> re.Pattern[str]:
    return re.compile(text, flags)


# A value in an assignment or header that is a variable reference or substitution is not a literal.
_VALUE = r"""(?!\$)([^\s'"`$;&|<>(){}]{8,})"""

DETECTORS: tuple[Detector, ...] = (
    Detector(
        "private_key",
        _rx(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----(?:.*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|.*\Z)",
            re.DOTALL),
        examples=("-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----",
                  "echo '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk'"),
        counter_examples=("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",),
    ),
    Detector("aws_access_key_id", _rx(r"(?<![A-Z0-9])(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Z0-9])"),
             examples=("aws configure set aws_access_key_id AKIAIOSFODNN7EXAMPLE",)),
    Detector("github_token", _rx(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b"),
             examples=("git clone https://ghp_0123456789abcdefghijABCDEFGHIJ012345@github.com/x/y",
                       "GH=github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz")),
    Detector("gitlab_token", _rx(r"\bglpat-[A-Za-z0-9_-]{20,}\b"), examples=("glpat-abcdefghij0123456789",)),
    Detector("slack_token", _rx(r"\bxox[abposre]-[A-Za-z0-9-]{10,}\b"), examples=("xoxb-123456789012-abcdefABCDEF",)),
    Detector("slack_webhook", _rx(r"https://hooks\.slack\.com/services/[A-Za-z0-9/_-]{20,}"),
             examples=("curl https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXXXXXX",)),
    Detector("stripe_key", _rx(r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}\b"),
             examples=("stripe login --api-key sk_live_4eC39HqLyjWDarjtT1zdp7dc",)),
    Detector("anthropic_key", _rx(r"\bsk-ant-[A-Za-z0-9_-]{20,}"),
             examples=("export ANTHROPIC_API_KEY=sk-ant-api03-abcdefghijklmnopqrstuvwxyz012345",)),
    Detector("openai_key", _rx(r"\bsk-(?!ant-)(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}"),
             examples=("OPENAI_API_KEY=sk-proj-abcdefghijklmnopqrstuvwxyz0123456789",),
             counter_examples=("git checkout sk-feature",)),
    Detector("google_api_key", _rx(r"\bAIza[0-9A-Za-z_-]{35}\b"),
             examples=("?key=AIzaSyA-1234567890abcdefghijklmnopqrstu",)),
    Detector("huggingface_token", _rx(r"\bhf_[A-Za-z0-9]{30,}\b"), examples=("hf_abcdefghijklmnopqrstuvwxyzABCDEFGH",)),
    Detector("npm_token", _rx(r"\bnpm_[A-Za-z0-9]{36}\b"), examples=("npm_abcdefghijklmnopqrstuvwxyz0123456789",)),
    Detector("pypi_token", _rx(r"\bpypi-AgE[A-Za-z0-9_-]{50,}"),
             examples=("pypi-AgEIcHlwaS5vcmcCJGFiY2RlZmdoLWlqa2wtbW5vcC1xcnN0LXV2d3h5ejAxMjM0NQ",)),
    Detector("jwt", _rx(r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"),
             examples=("Authorization: eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.sig_abcdef",)),
    Detector("url_password", _rx(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s/:@]+:(?!\$)([^\s/@]{3,})@"), group=1,
             examples=("git clone https://user:hunter2pw@example.com/r.git",),
             counter_examples=("curl https://user:$PASS@example.com/", "ssh://git@github.com:22/x")),
    Detector("authorization_header",
             _rx(r"(?i)\b(?:authorization|proxy-authorization)\s*:\s*(?:(?:bearer|basic|token|key|digest)\s+)?" + _VALUE),
             group=1,
             examples=("curl -H 'Authorization: Bearer abc123def456ghi'", "-H 'authorization: token 0123abcdzz'"),
             counter_examples=('curl -H "Authorization: Bearer $TOKEN"',)),
    Detector("bearer_token", _rx(r"(?i)\bbearer\s+" + _VALUE), group=1,
             examples=("--header=Bearer:x Bearer abcdefgh1234",),
             counter_examples=("Bearer ${API_TOKEN}",)),
    Detector("secret_assignment",
             _rx(r"""(?i)(?:\b|_)(?:api[_-]?key|apikey|secret(?:[_-]?key)?|access[_-]?key|access[_-]?token|auth[_-]?token"""
                 r"""|token|password|passwd|client[_-]?secret|private[_-]?key|x-api-key)['"]?\s*(?:[:=]|\s(?=['"]))\s*['"]?"""
                 + _VALUE),
             group=1,
             examples=("export API_KEY=abcd1234efgh", "mysql --password=correcthorse", 'x-api-key: "0123456789ab"',
                       "DB_PASSWORD='s3cr3tpassword'"),
             counter_examples=("export API_KEY=$API_KEY", "password=short", "token = ${TOKEN}", "git log --format=%H")),
    Detector("secret_flag", _rx(r"(?i)--(?:password|passwd|token|api-key|apikey|secret|client-secret)\s+['\"]?" + _VALUE),
             group=1, examples=("gh auth login --token abcdefgh12345678",),
             counter_examples=('mytool --token "$TOKEN"', "mytool --token-file path")),
)

# Candidate random tokens: runs of token and base64 characters. '.' splits candidates so dotted
# names and file names are judged per piece.
_TOKEN = re.compile(r"[A-Za-z0-9_+/=-]{20,}")
_SEPARATORS = re.compile(r"[_+/=-]+")
_HEX = re.compile(r"[0-9a-fA-F]+\Z")
_HEX_RUN = re.compile(r"(?<![A-Za-z0-9])[0-9a-fA-F]{8,}(?![A-Za-z0-9])")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# Thresholds, applied to a candidate with its separators removed (see _looks_random).
MIN_RANDOM_LENGTH = 20
MIN_ENTROPY = 3.5  # bits per character
MIN_CLASS_SWITCH_RATE = 0.25  # switches between lower case, upper case and digits per character
# camelCase identifiers switch case often too; they are mostly words (a capital and >= 3 lower-case
# letters). Random mixed-case text is that wordy less than 1% of the time at 32 characters.
_CAMEL_WORD = re.compile(r"[A-Z]?[a-z]{3,}")
MAX_WORD_COVERAGE = 0.6


def shannon_entropy(text: str) -> float:
    if not text:
        return 0.0
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in Counter(text).values())


def _char_class(c: str) -> int:
    return 0 if c.islower() else 1 if c.isupper() else 2


def _looks_random(token: str) -> bool:
    """Random-looking: long, varied, and switching between lower case, upper case and digits often,
    as generated keys do and words, identifiers, paths, versions and hex digests do not."""
    # Digests and UUIDs inside a token (`/items/<uuid>`, `sha256:<hex>`) are not the secret part.
    compact = _SEPARATORS.sub("", _HEX_RUN.sub("", _UUID.sub("", token)))
    if len(compact) < MIN_RANDOM_LENGTH or _HEX.match(compact):
        return False
    if not any(c.isdigit() for c in compact) or not any(c.isalpha() for c in compact):
        return False
    if any(c.isupper() for c in compact) and any(c.islower() for c in compact):
        words = sum(len(m.group()) for m in _CAMEL_WORD.finditer(compact))
        if words / len(compact) >= MAX_WORD_COVERAGE:
            return False
    switches = sum(1 for a, b in itertools.pairwise(compact) if _char_class(a) != _char_class(b))
    return switches / len(compact) >= MIN_CLASS_SWITCH_RATE and shannon_entropy(compact) >= MIN_ENTROPY


# When spans overlap, the merged span takes the kind that ranks first here (lower is stronger).
_RANK = {"known": 0, **{d.kind: i + 1 for i, d in enumerate(DETECTORS)}, "high_entropy": len(DETECTORS) + 1}


def _raw_findings(text: str, known: Iterable[str]) -> list[Finding]:
    found: list[Finding] = []
    for value in dict.fromkeys(known):
        if len(value) < MIN_KNOWN_LENGTH:
            continue
        start = text.find(value)
        while start >= 0:
            found.append(Finding("known", start, start + len(value)))
            start = text.find(value, start + 1)
    for d in DETECTORS:
        for m in d.pattern.finditer(text):
            if m.end(d.group) > m.start(d.group):
                found.append(Finding(d.kind, m.start(d.group), m.end(d.group)))
    for m in _TOKEN.finditer(text):
        if _looks_random(m.group()):
            found.append(Finding("high_entropy", m.start(), m.end()))
    return found


def find_secrets(text: str, known: Iterable[str] = ()) -> list[Finding]:
    """Secrets in `text`, as non-overlapping spans sorted by position.

    `known` are stored credential values: any literal occurrence is a finding of kind "known".
    Overlapping findings merge into one span whose kind is the most specific detector's.
    """
    merged: list[Finding] = []
    for f in sorted(_raw_findings(text, known), key=lambda f: (f.start, -f.end)):
        if merged and f.start < merged[-1].end:
            last = merged[-1]
            kind = last.kind if _RANK[last.kind] <= _RANK[f.kind] else f.kind
            merged[-1] = Finding(kind, last.start, max(last.end, f.end))
        else:
            merged.append(f)
    return merged


def redact(text: str, known: Iterable[str] = ()) -> str:
    """`text` with every finding replaced by `[REDACTED:kind]`."""
    out: list[str] = []
    pos = 0
    for f in find_secrets(text, known):
        out.append(text[pos:f.start])
        out.append(f"[REDACTED:{f.kind}]")
        pos = f.end
    out.append(text[pos:])
    return "".join(out)


def refuse_literal_secrets(line: str, known: Iterable[str] = ()) -> None:
    """Raise PolicyRefused (exit 126) when `line` carries a literal secret; the message names the
    kind and column, never the value, and the hint says how to store it instead."""
    found = find_secrets(line, known)
    if not found:
        return
    from vshell.errors import PolicyRefused

    kinds = ", ".join(dict.fromkeys(f"{f.kind} at column {f.start + 1}" for f in found))
    raise PolicyRefused(
        f"refused: the command line contains a literal secret ({kinds})",
        hint="store it with `vsh cred add SERVICE/FIELD --host HOST --value-stdin` and run with "
             "`--cred SERVICE/FIELD`: the proxy injects it and the command never sees it",
    )
