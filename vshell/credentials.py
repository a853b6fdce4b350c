"""Credentials without their values: references, injection templates, usage policy, selection.

The metadata lives in `$VSH_HOME/credentials.json` (written atomically, never holding a value);
values live in the vault (`vshell.vault`). Resolving references is metadata only, so `vsh run`
validates `--cred` without importing keyring or cryptography.

`select` is the pure decision the proxy makes for each request: which credential (if any) and
which of its templates applies to (host, port, path, method).
"""

from __future__ import annotations

import builtins
import contextlib
import fcntl
import functools
import json
import os
import re
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from vshell import hostmatch
from vshell.errors import CredentialError, StateError
from vshell.state import StatePaths, atomic_write

FORMAT_VERSION = 1
DEFAULT_HEADER = "Authorization"

_PART = re.compile(r"^[A-Za-z0-9_.-]+\Z")
_HEADER = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")  # an RFC 9110 token
_QUERY_PARAM = re.compile(r"^[A-Za-z0-9_.~-]+\Z")
_METHOD = re.compile(r"^[A-Z]+\Z")
# Headers that would change how the request is framed or routed if a template set them.
_FORBIDDEN_HEADERS = frozenset({
    "host", "content-length", "transfer-encoding", "connection", "upgrade", "te", "trailer",
    "keep-alive", "proxy-connection", "proxy-authorization", "expect",
})
# A path a glob could be fooled by: the upstream would normalise it into something else.
_AMBIGUOUS_PATH = re.compile(r"(^|/)\.{1,2}(/|$)|//|\\|;|%(2e|2f|5c|3b|00)", re.IGNORECASE)


def parse_ref(ref: str) -> tuple[str, str]:
    """`service/field` -> (service, field). Exactly one slash; both parts `[A-Za-z0-9_.-]+`."""
    parts = ref.split("/")
    if len(parts) != 2 or not all(_PART.match(p) for p in parts) or any(p in (".", "..") for p in parts):
        raise CredentialError(
            f"invalid credential reference {ref!r}: expected SERVICE/FIELD (letters, digits, '_', '.', '-')"
        )
    return parts[0], parts[1]


def is_uuid(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text.lower()
    except ValueError:
        return False


@dataclass(frozen=True)
class HostTemplate:
    """Where and how a credential is injected.

    `host`: a `vshell.hostmatch` pattern (exact or `*.domain`, optional `:port`).
    `header` + `prefix`: the header set to prefix + value (default `Authorization`, no prefix).
    `query_param`: when set, the value goes into this query parameter instead of a header.
    `path`: a glob over the request path without its query (`*` within one segment, `**` across
    segments); None = every path. `methods`: upper-case methods; empty = every method.
    """

    host: str
    header: str = DEFAULT_HEADER
    prefix: str = ""
    query_param: str | None = None
    path: str | None = None
    methods: tuple[str, ...] = ()

    def validate(self) -> HostTemplate:
        """Return a normalised copy or raise CredentialError naming the bad field."""
        try:
            pattern = hostmatch.parse_pattern(self.host)
        except ValueError as e:
            raise CredentialError(f"invalid host pattern {self.host!r}: {e}") from None
        try:
            if hostmatch.is_public_suffix_pattern(self.host):
                raise CredentialError(
                    f"host pattern {self.host!r} covers a whole public suffix: every domain under it would "
                    "receive the credential",
                    hint="name the service's own domain, e.g. '*.example.com' or 'api.example.com'",
                )
        except ValueError as e:  # pragma: no cover - parse_pattern already accepted it
            raise CredentialError(f"invalid host pattern {self.host!r}: {e}") from None
        if self.query_param is not None and not _QUERY_PARAM.match(self.query_param):
            raise CredentialError(f"invalid query parameter name {self.query_param!r}")
        if not _HEADER.match(self.header) or self.header.lower() in _FORBIDDEN_HEADERS:
            raise CredentialError(f"header {self.header!r} cannot carry a credential")
        if any(c in self.prefix for c in "\r\n\0"):
            raise CredentialError("the value prefix cannot contain line breaks or NUL")
        if self.path is not None and (not self.path.startswith("/") or _AMBIGUOUS_PATH.search(self.path)):
            raise CredentialError(f"path glob {self.path!r} must start with '/' and hold no '.', '..', '//' or ';'")
        methods = tuple(dict.fromkeys(m.upper() for m in self.methods))
        for m in methods:
            if not _METHOD.match(m):
                raise CredentialError(f"invalid HTTP method {m!r}")
        return replace(self, host=str(pattern), methods=methods)

    def to_json(self) -> dict[str, Any]:
        return {
            "host": self.host, "header": self.header, "prefix": self.prefix,
            "query_param": self.query_param, "path": self.path, "methods": list(self.methods),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> HostTemplate:
        return cls(
            host=str(data["host"]),
            header=str(data.get("header") or DEFAULT_HEADER),
            prefix=str(data.get("prefix") or ""),
            query_param=data.get("query_param"),
            path=data.get("path"),
            methods=tuple(data.get("methods") or ()),
        )

    def describe(self) -> str:
        where = self.host + (self.path or "")
        if self.methods:
            where = f"{','.join(self.methods)} {where}"
        how = f"?{self.query_param}=" if self.query_param else f"{self.header}: {self.prefix}…"
        return f"{where} -> {how}"


@dataclass(frozen=True)
class Credential:
    """A stored credential's metadata. It never holds the value (that is in the vault, by `id`).

    `allowed_domains`: egress globs a run holding this credential may reach (empty = only the
    run's configured network policy applies). `allowed_tools`: the tools (`bash`, `host_bash`)
    that may use it (empty = any). Both only ever narrow; the proxy and runner enforce them.
    """

    id: str
    service: str
    field: str
    templates: tuple[HostTemplate, ...]
    allowed_domains: tuple[str, ...] = ()
    allowed_tools: tuple[str, ...] = ()
    created: float = 0.0
    updated: float = 0.0

    @property
    def ref(self) -> str:
        return f"{self.service}/{self.field}"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "service": self.service, "field": self.field, "ref": self.ref,
            "templates": [t.to_json() for t in self.templates],
            "allowed_domains": list(self.allowed_domains), "allowed_tools": list(self.allowed_tools),
            "created": self.created, "updated": self.updated,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Credential:
        return cls(
            id=str(data["id"]), service=str(data["service"]), field=str(data["field"]),
            templates=tuple(HostTemplate.from_json(t) for t in data["templates"]),
            allowed_domains=tuple(data.get("allowed_domains") or ()),
            allowed_tools=tuple(data.get("allowed_tools") or ()),
            created=float(data.get("created") or 0.0), updated=float(data.get("updated") or 0.0),
        )


class CredentialStore:
    """Credential metadata in `paths.credentials`. A missing file is an empty store; a corrupt one
    is a StateError naming it and is never rewritten. Writers serialise on a lock file."""

    def __init__(self, paths: StatePaths) -> None:
        self.paths = paths
        self.file = paths.credentials

    # -- reading -------------------------------------------------------------------------------
    def _load(self) -> list[Credential]:
        try:
            raw = self.file.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as e:
            raise StateError(f"cannot read {self.file}: {e.strerror}") from None
        try:
            data = json.loads(raw)
            if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
                raise ValueError(f"unsupported format version {data.get('version') if isinstance(data, dict) else None!r}")
            creds = [Credential.from_json(c) for c in data["credentials"]]
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise StateError(
                f"credential metadata {self.file} is corrupt and was left untouched ({type(e).__name__})",
                detail=str(e), hint=f"repair or move {self.file} aside",
            ) from None
        return creds

    def list(self) -> list[Credential]:
        return sorted(self._load(), key=lambda c: c.ref)

    def get(self, ref_or_uuid: str) -> Credential:
        """The credential named by `service/field` or by its UUID; CredentialError if none."""
        return self._find(self._load(), ref_or_uuid)

    @staticmethod
    def _find(creds: Sequence[Credential], ref_or_uuid: str) -> Credential:
        if is_uuid(ref_or_uuid):
            key = ref_or_uuid.lower()
            found = next((c for c in creds if c.id == key), None)
        else:
            parse_ref(ref_or_uuid)
            found = next((c for c in creds if c.ref == ref_or_uuid), None)
        if found is None:
            raise CredentialError(
                f"unknown credential reference {ref_or_uuid!r}",
                hint=f"store it first: vsh cred add {ref_or_uuid if not is_uuid(ref_or_uuid) else 'SERVICE/FIELD'} --host HOST",
            )
        return found

    def resolve(self, refs: Sequence[str]) -> builtins.list[Credential]:
        """Credentials for `refs` in order, without duplicates; CredentialError naming the first
        unknown or malformed reference. Metadata only: no keyring, no cryptography."""
        if not refs:
            return []
        creds = self._load()
        out: dict[str, Credential] = {}
        for ref in refs:
            c = self._find(creds, ref)
            out.setdefault(c.id, c)
        return list(out.values())

    # -- writing -------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self) -> Iterator[builtins.list[Credential]]:
        self.paths.ensure()
        lock = self.paths.root / ".credentials.lock"
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield self._load()
        finally:
            os.close(fd)

    def _save(self, creds: Sequence[Credential]) -> None:
        data = {"version": FORMAT_VERSION, "credentials": [c.to_json() for c in sorted(creds, key=lambda c: c.ref)]}
        atomic_write(self.file, (json.dumps(data, indent=2) + "\n").encode(), mode=0o600)

    def add(
        self,
        ref: str,
        templates: Sequence[HostTemplate],
        *,
        allowed_domains: Sequence[str] = (),
        allowed_tools: Sequence[str] = (),
        replace: bool = False,
        now: float | None = None,
    ) -> Credential:
        """Create `ref` (new UUID), or with `replace=True` redefine an existing one keeping its UUID
        and creation time. Without `replace`, an existing ref is a CredentialError (write-once)."""
        service, field_ = parse_ref(ref)
        checked = _validated_templates(templates)
        _validate_policy(allowed_domains, allowed_tools)
        ts = time.time() if now is None else now
        with self._locked() as creds:
            existing = next((c for c in creds if c.ref == ref), None)
            if existing is not None and not replace:
                raise CredentialError(
                    f"credential {ref!r} already exists", hint=f"replace its value with: vsh cred add {ref} --replace ..."
                )
            cred = Credential(
                id=existing.id if existing else str(uuid.uuid4()),
                service=service, field=field_, templates=checked,
                allowed_domains=tuple(allowed_domains), allowed_tools=tuple(allowed_tools),
                created=existing.created if existing else ts, updated=ts,
            )
            self._save([c for c in creds if c.ref != ref] + [cred])
        return cred

    def remove(self, ref_or_uuid: str) -> Credential:
        with self._locked() as creds:
            cred = self._find(creds, ref_or_uuid)
            self._save([c for c in creds if c.id != cred.id])
        return cred

    def add_template(self, ref_or_uuid: str, template: HostTemplate, *, now: float | None = None) -> Credential:
        checked = template.validate()
        with self._locked() as creds:
            cred = self._find(creds, ref_or_uuid)
            if checked in cred.templates:
                raise CredentialError(f"credential {cred.ref!r} already has template {checked.describe()!r}")
            new = replace(cred, templates=(*cred.templates, checked), updated=time.time() if now is None else now)
            self._save([c for c in creds if c.id != cred.id] + [new])
        return new

    def remove_template(self, ref_or_uuid: str, index: int) -> Credential:
        """Remove template number `index` (0-based, as `vsh cred show` numbers them). The last
        template cannot be removed: a credential without one could never be injected."""
        with self._locked() as creds:
            cred = self._find(creds, ref_or_uuid)
            if not 0 <= index < len(cred.templates):
                raise CredentialError(f"credential {cred.ref!r} has no template {index} (it has {len(cred.templates)})")
            if len(cred.templates) == 1:
                raise CredentialError(f"cannot remove the only template of {cred.ref!r}", hint=f"vsh cred rm {cred.ref}")
            templates = cred.templates[:index] + cred.templates[index + 1:]
            new = replace(cred, templates=templates, updated=time.time())
            self._save([c for c in creds if c.id != cred.id] + [new])
        return new


TOOLS = ("bash", "host_bash")


def _validate_policy(allowed_domains: Sequence[str], allowed_tools: Sequence[str]) -> None:
    for tool in allowed_tools:
        if tool not in TOOLS:
            raise CredentialError(f"unknown tool {tool!r} in allowed tools (expected one of: {', '.join(TOOLS)})")
    for glob in allowed_domains:
        if glob == "*":
            continue
        try:
            hostmatch.parse_pattern(glob)
        except ValueError as e:
            raise CredentialError(f"invalid allowed domain {glob!r}: {e}") from None


def _validated_templates(templates: Sequence[HostTemplate]) -> tuple[HostTemplate, ...]:
    if not templates:
        raise CredentialError("a credential needs at least one host template (--host)")
    return tuple(dict.fromkeys(t.validate() for t in templates))


# -- selection ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Selection:
    """What the proxy injects for one request.

    `credential`/`template`: the one to inject, or None. `candidates`: refs of every credential
    with a template matching after path/method narrowing (two or more = `ambiguous`, nothing is
    injected and the request is blocked). `reasons`: a human trace of how it was decided.
    """

    credential: Credential | None
    template: HostTemplate | None
    candidates: tuple[str, ...] = ()
    ambiguous: bool = False
    reasons: tuple[str, ...] = ()


@functools.lru_cache(maxsize=1024)
def _glob_regex(glob: str) -> re.Pattern[str]:
    out = []
    i = 0
    while i < len(glob):
        if glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif glob[i] == "*":
            out.append("[^/]*")
            i += 1
        elif glob[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(glob[i]))
            i += 1
    return re.compile("".join(out) + r"\Z", re.DOTALL)


def path_matches(glob: str | None, path: str) -> bool:
    """Whether a request path (query already removed) is inside `glob`. None matches every path.
    A path an upstream could normalise differently (`..`, `//`, `%2f`, `%2e`, `\\`) never matches
    a glob: narrowing must not be dodged, and failing it only withholds the credential."""
    if glob is None:
        return True
    path = path.split("?", 1)[0] or "/"
    if _AMBIGUOUS_PATH.search(path):
        return False
    return _glob_regex(glob).match(path) is not None


def _template_rank(t: HostTemplate, host_score: int, index: int) -> tuple[int, int, int, int]:
    return (host_score, 1 if t.path is not None else 0, 1 if t.methods else 0, -index)


def select(creds: Sequence[Credential], host: str, port: int, path: str, method: str) -> Selection:
    """Choose the credential and template for one request. Pure.

    A template applies when its host pattern matches (host, port), its path glob matches and its
    methods include `method`. Within a credential the most specific applicable template wins (host
    score, then a path glob, then a method list, then the earlier template). Across credentials,
    more than one with an applicable template is ambiguous: nothing is chosen.
    """
    reasons: list[str] = []
    method = method.upper()
    winners: list[tuple[Credential, HostTemplate]] = []
    for cred in creds:
        best: tuple[tuple[int, int, int, int], HostTemplate] | None = None
        for i, t in enumerate(cred.templates):
            score = hostmatch.host_matches(t.host, host, port)
            if score is None:
                reasons.append(f"{cred.ref}[{i}] {t.host}: host does not match {host}:{port}")
                continue
            if not path_matches(t.path, path):
                reasons.append(f"{cred.ref}[{i}] {t.host}: path {t.path} does not match")
                continue
            if t.methods and method not in t.methods:
                reasons.append(f"{cred.ref}[{i}] {t.host}: method {method} not in {','.join(t.methods)}")
                continue
            rank = _template_rank(t, score, i)
            reasons.append(f"{cred.ref}[{i}] {t.host}: matches (specificity {score})")
            if best is None or rank > best[0]:
                best = (rank, t)
        if best is not None:
            winners.append((cred, best[1]))
    candidates = tuple(c.ref for c, _ in winners)
    if not winners:
        reasons.append("no credential applies")
        return Selection(None, None, candidates, False, tuple(reasons))
    if len(winners) > 1:
        reasons.append(f"ambiguous: {', '.join(candidates)} all match {host}:{port}")
        return Selection(None, None, candidates, True, tuple(reasons))
    cred, tmpl = winners[0]
    reasons.append(f"chose {cred.ref} template {tmpl.describe()}")
    return Selection(cred, tmpl, candidates, False, tuple(reasons))

