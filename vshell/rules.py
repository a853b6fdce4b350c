"""Trust rules and where they live: one SQLite file under $VSH_HOME (StatePaths.rules_db).

The database is shared by every vsh process of the user, so:
* WAL journal, a busy timeout and a retry loop around every statement: concurrent processes wait for
  each other, they never see "database is locked" and never lose a write;
* the schema carries `PRAGMA user_version` and is brought up to date by an ordered list of migrations,
  each run inside one IMMEDIATE transaction that re-checks the version (two processes racing to create
  the file run each migration once);
* a file that is not a vsh rules database (not SQLite, another program's tables, a newer schema) is a
  StateError naming the path and is never modified. Decisions then fail closed: vsh refuses to run.

The same file holds the short-lived approval state (temporary grants, refusal counts, run counts for
rate limits: see vshell.grants), so concurrent processes of one session see the same grants.
"""

from __future__ import annotations

import builtins
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from vshell.display import visible
from vshell.errors import StateError, UsageError
from vshell.model import Classification
from vshell.patterns import ANY_FIRST_WORD, Pattern, compile_pattern, matches_classification
from vshell.state import StatePaths
from vshell.utf8 import encodable, lookup_key

TOOLS = ("bash", "host_bash")
DECISIONS = ("allow", "ask", "deny")
EXPORT_FORMAT = 1
PRIORITY_LIMIT = 1_000_000

_T = TypeVar("_T")


@dataclass(frozen=True)
class TrustRule:
    """One trust rule.

    tool: "bash" (sandboxed runs) or "host_bash" (`--host` runs). scope: the directory (absolute,
    symlinks resolved when added) the rule applies in and below; None = everywhere. expires: a Unix
    time after which the rule is ignored; None = never. match / not_match: example lines the pattern
    must / must not match (checked when the rule is added or imported, and by `vsh rules lint`).
    """

    id: int
    tool: str
    pattern: str
    scope: Path | None
    decision: str
    priority: int = 0
    created: float = 0.0
    expires: float | None = None
    note: str | None = None
    match: tuple[str, ...] = ()
    not_match: tuple[str, ...] = ()

    @property
    def compiled(self) -> Pattern:
        return compile_pattern(self.pattern)

    def expired(self, now: float) -> bool:
        return self.expires is not None and self.expires <= now

    def describe(self) -> str:
        where = str(self.scope) if self.scope else "everywhere"
        tool = "" if self.tool == "bash" else f" [{self.tool}]"
        return f"rule #{self.id} {self.decision} `{self.pattern}`{tool} (priority {self.priority}, scope {where})"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "tool": self.tool,
            "pattern": self.pattern,
            "scope": str(self.scope) if self.scope else None,
            "decision": self.decision,
            "priority": self.priority,
            "created": self.created,
            "expires": self.expires,
            "note": self.note,
            "match": list(self.match),
            "not_match": list(self.not_match),
        }


@dataclass(frozen=True)
class RuleSpec:
    """A rule not yet stored (what `add` and `import` take)."""

    tool: str
    pattern: str
    decision: str
    scope: Path | None = None
    priority: int = 0
    expires: float | None = None
    note: str | None = None
    match: tuple[str, ...] = ()
    not_match: tuple[str, ...] = ()
    created: float | None = None


def normalize_scope(scope: Path | str | None) -> Path | None:
    """An absolute directory with symlinks resolved (as far as it exists); None = everywhere."""
    if scope is None or str(scope) == "":
        return None
    p = Path(scope).expanduser()
    if not p.is_absolute():
        p = Path.cwd() / p
    return Path(os.path.realpath(p))


def example_problems(pattern: str, match: Iterable[str], not_match: Iterable[str]) -> list[str]:
    """What is wrong with a rule's examples under the current command model ([] = they hold)."""
    from vshell.classify import classify

    p = compile_pattern(pattern)
    problems = [
        f"`{pattern}` should match {line!r} but does not"
        for line in match
        if not matches_classification(p, classify(line))
    ]
    problems += [
        f"`{pattern}` should not match {line!r} but does"
        for line in not_match
        if matches_classification(p, classify(line))
    ]
    return problems


def validate_spec(spec: RuleSpec, *, now: float, check_examples: bool = True) -> RuleSpec:
    """Check every field; return the spec with its scope normalised. Raises UsageError (one line)."""
    if spec.tool not in TOOLS:
        raise UsageError(f"unknown tool {spec.tool!r} (expected {' or '.join(TOOLS)})")
    if spec.decision not in DECISIONS:
        raise UsageError(f"unknown decision {spec.decision!r} (expected allow, ask or deny)")
    if not isinstance(spec.pattern, str):
        raise UsageError("pattern must be a string")
    for what, text in (("pattern", spec.pattern), ("scope", str(spec.scope or "")), ("note", spec.note or ""),
                       *(("example", t) for t in (*spec.match, *spec.not_match) if isinstance(t, str))):
        if not encodable(text):
            raise UsageError(f"the {what} holds bytes that are not UTF-8; rules hold text: {visible(text)}")
    try:
        compile_pattern(spec.pattern)
    except ValueError as e:
        raise UsageError(f"pattern {spec.pattern!r}: {e}") from None
    if isinstance(spec.priority, bool) or not isinstance(spec.priority, int):
        raise UsageError("priority must be an integer")
    if abs(spec.priority) > PRIORITY_LIMIT:
        raise UsageError(f"priority must be between -{PRIORITY_LIMIT} and {PRIORITY_LIMIT}")
    if spec.expires is not None and spec.expires <= (spec.created or now):
        raise UsageError("the expiry is in the past")
    scope = normalize_scope(spec.scope)
    if check_examples and (spec.match or spec.not_match):
        problems = example_problems(spec.pattern, spec.match, spec.not_match)
        if problems:
            raise UsageError(problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""))
    return RuleSpec(
        tool=spec.tool, pattern=spec.pattern, decision=spec.decision, scope=scope,
        priority=spec.priority, expires=spec.expires, note=spec.note or None,
        match=tuple(spec.match), not_match=tuple(spec.not_match), created=spec.created,
    )


# --- schema ---------------------------------------------------------------------------------------

# Append only: version N is MIGRATIONS[N-1]. Never edit a migration that has shipped.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE rules (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        tool TEXT NOT NULL CHECK (tool IN ('bash', 'host_bash')),
        pattern TEXT NOT NULL,
        scope TEXT,
        decision TEXT NOT NULL CHECK (decision IN ('allow', 'ask', 'deny')),
        priority INTEGER NOT NULL DEFAULT 0,
        created REAL NOT NULL,
        expires REAL,
        note TEXT,
        match TEXT NOT NULL DEFAULT '[]',
        not_match TEXT NOT NULL DEFAULT '[]',
        index_word TEXT NOT NULL,  -- a word every matching action contains (patterns.Pattern.index_word)
        line TEXT                  -- the exact line, for exact-line patterns
    );
    CREATE INDEX rules_index_word ON rules(index_word);
    CREATE INDEX rules_line ON rules(line);
    CREATE TABLE grants (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        session TEXT NOT NULL,
        tool TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('key', 'line')),
        value TEXT NOT NULL,
        created REAL NOT NULL,
        expires REAL
    );
    CREATE INDEX grants_session ON grants(session);
    CREATE TABLE refusals (
        session TEXT NOT NULL,
        tool TEXT NOT NULL,
        key TEXT NOT NULL,
        count INTEGER NOT NULL,
        updated REAL NOT NULL,
        PRIMARY KEY (session, tool, key)
    );
    CREATE TABLE runs (context TEXT NOT NULL, at REAL NOT NULL);
    CREATE INDEX runs_context_at ON runs(context, at);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)
_EXPECTED_TABLES = {"rules", "grants", "refusals", "runs"}

_RETRY_SECONDS = 60.0
_IN_CHUNK = 500  # parameters per IN (...) list


def _is_busy(e: sqlite3.OperationalError) -> bool:
    text = str(e).lower()
    return "locked" in text or "busy" in text


def _rule_from_row(row: sqlite3.Row | tuple[Any, ...]) -> TrustRule:
    (rid, tool, pattern, scope, decision, priority, created, expires, note, match, not_match) = row[:11]
    return TrustRule(  # "[]" is by far the commonest example list: skip the JSON parser for it
        id=int(rid), tool=tool, pattern=pattern, scope=Path(scope) if scope else None,
        decision=decision, priority=int(priority), created=float(created),
        expires=float(expires) if expires is not None else None, note=note,
        match=tuple(json.loads(match)) if match != "[]" else (),
        not_match=tuple(json.loads(not_match)) if not_match != "[]" else (),
    )


_COLUMNS = "id, tool, pattern, scope, decision, priority, created, expires, note, match, not_match"


class RuleStore:
    """The rules database. Cheap to construct; the file is opened (created, migrated) on first use.

    Every method raises StateError (naming the file) when the file is not a usable rules database.
    """

    def __init__(self, paths: StatePaths, *, clock: Callable[[], float] = time.time) -> None:
        self.paths = paths
        self.path = paths.rules_db
        self._clock = clock
        self._conn: sqlite3.Connection | None = None

    # -- connection ----------------------------------------------------------------------------------

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> RuleStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _state_error(self, what: str) -> StateError:
        return StateError(
            f"{self.path}: {what}; vsh will not modify it and refuses to decide until it is fixed",
            hint=f"move it aside (e.g. `mv {self.path} {self.path}.bad`) to start with no rules",
        )

    def _retry(self, fn: Callable[[], _T]) -> _T:
        deadline = time.monotonic() + _RETRY_SECONDS
        delay = 0.005
        while True:
            try:
                return fn()
            except sqlite3.OperationalError as e:
                if not _is_busy(e) or time.monotonic() > deadline:
                    raise self._state_error(f"database error: {e}") from None
                import random  # only on contention: keeps the cold path light

                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 0.2)
            except sqlite3.DatabaseError as e:
                raise self._state_error(f"not a valid vsh rules database ({e})") from None

    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = self._retry(self._open)
        return self._conn

    def _open(self) -> sqlite3.Connection:
        self.paths.ensure()
        if not self.path.exists():
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
                os.close(fd)
            except FileExistsError:
                pass
        elif not self.path.is_file():
            raise self._state_error("is not a regular file")
        conn = sqlite3.connect(self.path, timeout=10.0, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA busy_timeout = 10000")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise self._state_error(
                    f"schema version {version} is newer than this vsh understands ({SCHEMA_VERSION})"
                )
            if version < SCHEMA_VERSION:
                self._migrate(conn)
            self._verify(conn)
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
        except BaseException:
            conn.close()
            raise
        return conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version == 0:
                tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
                if tables - {"sqlite_sequence"}:
                    raise self._state_error(f"holds other tables ({', '.join(sorted(tables))})")
            for number in range(version, SCHEMA_VERSION):
                for statement in MIGRATIONS[number].split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {number + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _verify(self, conn: sqlite3.Connection) -> None:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        missing = _EXPECTED_TABLES - tables
        if missing:
            raise self._state_error(f"is missing table(s) {', '.join(sorted(missing))}")
        cols = {r[1] for r in conn.execute("PRAGMA table_info(rules)")}
        needed = set(_COLUMNS.replace(" ", "").split(",")) | {"index_word", "line"}
        if not needed <= cols:
            raise self._state_error("has a rules table of an unknown shape")

    def run_write(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run `fn` in one write transaction, retrying the whole transaction when busy."""

        def attempt() -> _T:
            conn = self.conn()
            conn.execute("BEGIN IMMEDIATE")
            try:
                out = fn(conn)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            return out

        return self._retry(attempt)

    def query(self, sql: str, params: Sequence[Any] = ()) -> builtins.list[tuple[Any, ...]]:
        conn = self.conn()
        return self._retry(lambda: conn.execute(sql, params).fetchall())

    # -- rules ---------------------------------------------------------------------------------------

    def list(self, *, include_expired: bool = True) -> builtins.list[TrustRule]:
        rows = self.query(f"SELECT {_COLUMNS} FROM rules ORDER BY id")
        rules = [_rule_from_row(r) for r in rows]
        if not include_expired:
            now = self._clock()
            rules = [r for r in rules if not r.expired(now)]
        return rules

    def get(self, rule_id: int) -> TrustRule | None:
        rows = self.query(f"SELECT {_COLUMNS} FROM rules WHERE id = ?", (rule_id,))
        return _rule_from_row(rows[0]) if rows else None

    def candidates(self, c: Classification) -> builtins.list[TrustRule]:
        """The unexpired rules that could match some action of `c` or the line itself, found through
        the index-word and exact-line indexes (so 10,000 rules cost what the relevant few cost)."""
        # Lookup keys: a word with bytes that are not UTF-8 cannot be stored, so it only has to find
        # nothing; every hit is matched again below against the real words.
        words = sorted({lookup_key(w) for a in c.actions for w in a.words} | {ANY_FIRST_WORD})
        now = self._clock()
        rows: dict[int, str] = {}
        # In chunks: a line may carry more words than SQLite accepts parameters.
        for start in range(0, len(words), _IN_CHUNK):
            chunk = words[start : start + _IN_CHUNK]
            marks = ", ".join("?" for _ in chunk)
            rows.update(self.query(
                f"SELECT id, pattern FROM rules WHERE (index_word IN ({marks}) OR line = ?) "
                "AND (expires IS NULL OR expires > ?)",
                (*chunk, lookup_key(c.command), now),
            ))
        # Keep only the rules whose pattern matches something here (decide() consults only those),
        # and read the whole row for those few.
        targets = [(a.words, frozenset(a.words)) for a in c.actions]
        ids = []
        for rid, pattern in sorted(rows.items()):
            try:
                p = compile_pattern(pattern)
            except ValueError:
                continue
            if p.matches_line(c.command) or any(p.matches_words(w, s) for w, s in targets):
                ids.append(rid)
        if not ids:
            return []
        full: builtins.list[tuple[Any, ...]] = []
        for start in range(0, len(ids), _IN_CHUNK):
            some = ids[start : start + _IN_CHUNK]
            full += self.query(f"SELECT {_COLUMNS} FROM rules WHERE id IN ({', '.join('?' for _ in some)})",
                               some)
        return [_rule_from_row(r) for r in full]

    def add(
        self,
        *,
        tool: str,
        pattern: str,
        decision: str,
        scope: Path | None = None,
        priority: int = 0,
        expires: float | None = None,
        note: str | None = None,
        match: Sequence[str] = (),
        not_match: Sequence[str] = (),
    ) -> TrustRule:
        """Validate (examples included) and store one rule. Raises UsageError when it is not valid."""
        now = self._clock()
        spec = validate_spec(
            RuleSpec(tool=tool, pattern=pattern, decision=decision, scope=scope, priority=priority,
                     expires=expires, note=note, match=tuple(match), not_match=tuple(not_match)),
            now=now,
        )
        return self.run_write(lambda conn: self._insert(conn, spec, now))

    def _insert(self, conn: sqlite3.Connection, spec: RuleSpec, now: float) -> TrustRule:
        p = compile_pattern(spec.pattern)
        created = spec.created if spec.created is not None else now
        cur = conn.execute(
            "INSERT INTO rules (tool, pattern, scope, decision, priority, created, expires, note, match, "
            "not_match, index_word, line) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (spec.tool, spec.pattern, str(spec.scope) if spec.scope else None, spec.decision,
             spec.priority, created, spec.expires, spec.note, json.dumps(list(spec.match)),
             json.dumps(list(spec.not_match)), p.index_word, p.line),
        )
        assert cur.lastrowid is not None
        return TrustRule(
            id=cur.lastrowid, tool=spec.tool, pattern=spec.pattern, scope=spec.scope,
            decision=spec.decision, priority=spec.priority, created=created, expires=spec.expires,
            note=spec.note, match=spec.match, not_match=spec.not_match,
        )

    def remove(self, rule_id: int) -> TrustRule:
        """Remove one rule; UsageError when there is no such rule."""

        def do(conn: sqlite3.Connection) -> TrustRule:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM rules WHERE id = ?", (rule_id,)).fetchall()
            if not rows:
                raise UsageError(f"no rule #{rule_id} (see `vsh rules list`)")
            conn.execute("DELETE FROM rules WHERE id = ?", (rule_id,))
            return _rule_from_row(rows[0])

        return self.run_write(do)

    def export(self) -> dict[str, Any]:
        """Every rule (expired ones included) as a JSON-ready document that `import_` accepts."""
        rules = []
        for r in self.list():
            item = r.to_json()
            del item["id"]
            rules.append(item)
        return {"vsh_rules": EXPORT_FORMAT, "rules": rules}

    def import_(self, document: Any, *, replace: bool = False) -> builtins.list[TrustRule]:
        """Validate every rule of an exported document, then store them all in one transaction (or
        none). `replace` removes the existing rules first; otherwise rules identical to a stored one
        (tool, pattern, scope, decision, priority) are skipped. Returns the rules added."""
        now = self._clock()
        specs = parse_document(document, now=now)

        def do(conn: sqlite3.Connection) -> builtins.list[TrustRule]:
            if replace:
                conn.execute("DELETE FROM rules")
            existing = {
                (t, p, s, d, pr)
                for t, p, s, d, pr in conn.execute("SELECT tool, pattern, scope, decision, priority FROM rules")
            }
            added = []
            for spec in specs:
                key = (spec.tool, spec.pattern, str(spec.scope) if spec.scope else None, spec.decision,
                       spec.priority)
                if key in existing:
                    continue
                existing.add(key)
                added.append(self._insert(conn, spec, now))
            return added

        return self.run_write(do)


_RULE_KEYS = {"tool", "pattern", "scope", "decision", "priority", "created", "expires", "note", "match",
              "not_match", "id"}


def parse_document(document: Any, *, now: float) -> list[RuleSpec]:
    """Validate an export document (all rules, examples included). UsageError names the bad rule."""
    if not isinstance(document, dict) or "rules" not in document or not isinstance(document["rules"], list):
        raise UsageError('not a vsh rules file: expected {"vsh_rules": 1, "rules": [...]}')
    fmt = document.get("vsh_rules", EXPORT_FORMAT)
    if fmt != EXPORT_FORMAT:
        raise UsageError(f"rules file format {fmt!r} is not supported (expected {EXPORT_FORMAT})")
    specs = []
    for n, item in enumerate(document["rules"], 1):
        where = f"rule {n}"
        if not isinstance(item, dict):
            raise UsageError(f"{where}: expected an object")
        unknown = set(item) - _RULE_KEYS
        if unknown:
            raise UsageError(f"{where}: unknown field {sorted(unknown)[0]!r}")
        for required in ("pattern", "decision"):
            if required not in item:
                raise UsageError(f"{where}: missing {required!r}")
        examples: dict[str, tuple[str, ...]] = {}
        for name in ("match", "not_match"):
            value = item.get(name, [])
            if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
                raise UsageError(f"{where}: {name} must be a list of strings")
            examples[name] = tuple(value)
        for name in ("created", "expires"):
            value = item.get(name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise UsageError(f"{where}: {name} must be a number (Unix time) or null")
        scope = item.get("scope")
        if scope is not None and (not isinstance(scope, str) or not Path(scope).expanduser().is_absolute()):
            raise UsageError(f"{where}: scope must be an absolute directory or null")
        note = item.get("note")
        if note is not None and not isinstance(note, str):
            raise UsageError(f"{where}: note must be a string or null")
        expires = item.get("expires")
        try:
            spec = validate_spec(
                RuleSpec(
                    tool=item.get("tool", "bash"), pattern=item["pattern"], decision=item["decision"],
                    scope=Path(scope) if scope else None, priority=item.get("priority", 0),
                    expires=float(expires) if expires is not None else None, note=note,
                    match=examples["match"], not_match=examples["not_match"],
                    created=float(item["created"]) if item.get("created") is not None else None,
                ),
                now=now,
            )
        except UsageError as e:
            raise UsageError(f"{where} (`{item.get('pattern')}`): {e.message}") from None
        specs.append(spec)
    return specs


def parse_duration(text: str) -> float:
    """`90s`, `10m`, `2h`, `1d`, `1w` -> seconds. ValueError otherwise."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    t = text.strip().lower()
    if len(t) >= 2 and t[-1] in units and t[:-1].isdigit() and int(t[:-1]) > 0:
        return float(int(t[:-1]) * units[t[-1]])
    raise ValueError(f"{text!r} is not a duration like 10m, 2h, 1d or 1w")
