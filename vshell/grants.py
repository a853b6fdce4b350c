"""Temporary grants, refusal counts and run counts: short-lived approval state of a session.

Kept in the rules database (tables `grants`, `refusals`, `runs`) so that every concurrent vsh process
of the same session sees them. A grant is what a person answered at a prompt — "allow for 10 minutes"
or "allow for this session" — for one action key (`git push`) or, when the action cannot be judged
by its key (environment prefix, substitution, ...), for the exact line. Grants never apply to
high-risk actions (vshell.decide enforces it; this module never stores one for them either).

A "session" grant has no fixed end but is capped at SESSION_MAX seconds, because session ids derived
from the terminal (see vshell.approval.session_id) can be reused after a long time.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from vshell.errors import UsageError
from vshell.model import Action, Classification
from vshell.rules import RuleStore
from vshell.utf8 import encodable, lookup_key

TEN_MINUTES = 600.0
SESSION_MAX = 12 * 3600.0
GRANT_KINDS = ("key", "line")


@dataclass(frozen=True)
class Grant:
    """kind "key": `value` is an action key, the grant covers rule-eligible actions with that key;
    kind "line": `value` is an exact line, the grant covers the actions of that line only.
    expires: Unix time after which the grant is void."""

    id: int
    session: str
    tool: str
    kind: str
    value: str
    created: float
    expires: float

    def applies(self, c: Classification, action: Action, tool: str, now: float) -> bool:
        if self.tool != tool or self.expires <= now:
            return False
        if self.kind == "line":
            return c.command == self.value
        return action.key == self.value and action.rule_eligible and action.literal

    def describe(self) -> str:
        what = f"`{self.value}`" if self.kind == "key" else f"the exact line {self.value!r}"
        return f"temporary grant #{self.id} for {what}"


def default_session_id() -> str:
    """The terminal session this process belongs to (shared by the commands of one shell)."""
    from vshell.runfast import session_id

    return session_id()


class GrantStore:
    """Grants, refusal counts and run counts over the rules database."""

    def __init__(self, store: RuleStore) -> None:
        self.store = store

    def active(self, session: str | None, now: float) -> list[Grant]:
        if session is None:
            return []
        rows = self.store.query(
            "SELECT id, session, tool, kind, value, created, expires FROM grants "
            "WHERE session = ? AND expires > ?",
            (session, now),
        )
        return [Grant(int(i), s, t, k, v, float(c), float(e)) for i, s, t, k, v, c, e in rows]

    def add(self, *, session: str, tool: str, kind: str, value: str, ttl: float, now: float) -> Grant:
        if kind not in GRANT_KINDS:
            raise ValueError(f"unknown grant kind {kind!r}")
        if not encodable(value):
            raise UsageError("a grant cannot hold bytes that are not UTF-8")
        expires = now + min(ttl, SESSION_MAX)

        def do(conn: sqlite3.Connection) -> Grant:
            conn.execute("DELETE FROM grants WHERE expires <= ?", (now,))
            cur = conn.execute(
                "INSERT INTO grants (session, tool, kind, value, created, expires) VALUES (?, ?, ?, ?, ?, ?)",
                (session, tool, kind, value, now, expires),
            )
            assert cur.lastrowid is not None
            return Grant(cur.lastrowid, session, tool, kind, value, now, expires)

        return self.store.run_write(do)

    def refusals(self, session: str, tool: str, key: str) -> int:
        key = lookup_key(key)  # only counted
        rows = self.store.query(
            "SELECT count FROM refusals WHERE session = ? AND tool = ? AND key = ?", (session, tool, key)
        )
        return int(rows[0][0]) if rows else 0

    def record_refusal(self, session: str, tool: str, key: str, now: float) -> int:
        """Count one more refusal of `key` in `session`; returns the new count."""
        key = lookup_key(key)

        def do(conn: sqlite3.Connection) -> int:
            conn.execute(
                "INSERT INTO refusals (session, tool, key, count, updated) VALUES (?, ?, ?, 1, ?) "
                "ON CONFLICT (session, tool, key) DO UPDATE SET count = count + 1, updated = excluded.updated",
                (session, tool, key, now),
            )
            row = conn.execute(
                "SELECT count FROM refusals WHERE session = ? AND tool = ? AND key = ?", (session, tool, key)
            ).fetchone()
            return int(row[0])

        return self.store.run_write(do)

    def count_run(self, context: str, limit: int | None, now: float) -> int | None:
        """Record one run in `context` unless `limit` runs already happened in the last minute.
        Returns None when recorded (or unlimited), else the number of runs in the last minute."""
        if limit is None:
            return None

        def do(conn: sqlite3.Connection) -> int | None:
            conn.execute("DELETE FROM runs WHERE at <= ?", (now - 60.0,))
            (recent,) = conn.execute(
                "SELECT COUNT(*) FROM runs WHERE context = ? AND at > ?", (context, now - 60.0)
            ).fetchone()
            if recent >= limit:
                return int(recent)
            conn.execute("INSERT INTO runs (context, at) VALUES (?, ?)", (context, now))
            return None

        return self.store.run_write(do)
