"""The rules database on a real SQLite file: schema, migrations, corruption, import atomicity."""

from __future__ import annotations

import importlib.util
import json
import sqlite3
from pathlib import Path

import pytest

from vshell.errors import StateError, UsageError
from vshell.grants import GrantStore
from vshell.model import Action, Classification, Risk
from vshell.rules import SCHEMA_VERSION, RuleStore, parse_duration
from vshell.state import StatePaths

HAS_CLASSIFY = importlib.util.find_spec("vshell.classify") is not None
needs_classify = pytest.mark.skipif(not HAS_CLASSIFY, reason="vshell.classify not available yet")


@pytest.fixture
def store(vsh_home: Path) -> RuleStore:
    s = RuleStore(StatePaths(vsh_home))
    yield s  # type: ignore[misc]
    s.close()


def test_add_list_remove_round_trip(store: RuleStore, tmp_path: Path) -> None:
    r1 = store.add(tool="bash", pattern="git push *", decision="allow", scope=tmp_path, priority=2,
                   note="pushes are fine here")
    r2 = store.add(tool="host_bash", pattern="make test", decision="ask")
    assert [r.id for r in store.list()] == [r1.id, r2.id]
    got = store.get(r1.id)
    assert got == r1
    assert got is not None and got.scope == tmp_path.resolve() and got.priority == 2
    assert store.remove(r1.id) == r1
    assert [r.id for r in store.list()] == [r2.id]
    with pytest.raises(UsageError, match="no rule #"):
        store.remove(r1.id)


def test_file_is_private_wal_and_versioned(store: RuleStore) -> None:
    store.list()
    assert (store.path.stat().st_mode & 0o777) == 0o600
    conn = sqlite3.connect(store.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"tool": "zsh", "pattern": "ls *", "decision": "allow"},
        {"tool": "bash", "pattern": "ls *", "decision": "maybe"},
        {"tool": "bash", "pattern": "ls * ; rm *", "decision": "allow"},
        {"tool": "bash", "pattern": "", "decision": "allow"},
        {"tool": "bash", "pattern": "ls *", "decision": "allow", "priority": 10**9},
        {"tool": "bash", "pattern": "ls *", "decision": "allow", "expires": 1.0},
    ],
)
def test_invalid_rules_are_usage_errors(store: RuleStore, kwargs: dict[str, object]) -> None:
    with pytest.raises(UsageError):
        store.add(**kwargs)  # type: ignore[arg-type]
    assert store.list() == []


@pytest.mark.parametrize("content", [b"this is not a database at all" * 100, b"SQLite format 3\x00" + b"\xff" * 200])
def test_corrupt_file_is_reported_and_untouched(vsh_home: Path, content: bytes) -> None:
    db = vsh_home / "rules.db"
    db.write_bytes(content)
    store = RuleStore(StatePaths(vsh_home))
    with pytest.raises(StateError) as e:
        store.list()
    assert str(db) in e.value.message
    with pytest.raises(StateError):
        store.add(tool="bash", pattern="ls *", decision="allow")
    assert db.read_bytes() == content


def test_other_programs_database_is_refused(vsh_home: Path) -> None:
    db = vsh_home / "rules.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE photos (id INTEGER)")
    conn.commit()
    conn.close()
    before = db.read_bytes()
    with pytest.raises(StateError, match="other tables"):
        RuleStore(StatePaths(vsh_home)).list()
    assert db.read_bytes() == before


def test_newer_schema_is_refused(vsh_home: Path) -> None:
    db = vsh_home / "rules.db"
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(StateError, match="newer"):
        RuleStore(StatePaths(vsh_home)).list()


def test_migrations_run_once_from_an_empty_file(vsh_home: Path) -> None:
    (vsh_home / "rules.db").write_bytes(b"")  # an empty file is an empty SQLite database
    s = RuleStore(StatePaths(vsh_home))
    s.add(tool="bash", pattern="ls *", decision="allow")
    s.close()
    s2 = RuleStore(StatePaths(vsh_home))
    assert len(s2.list()) == 1  # reopening does not re-run migrations
    s2.close()


def test_candidates_use_the_index(store: RuleStore) -> None:
    store.add(tool="bash", pattern="git push *", decision="allow")
    store.add(tool="bash", pattern="* --version", decision="allow")
    store.add(tool="bash", pattern="make && make install", decision="allow")
    store.add(tool="bash", pattern="npm test", decision="allow")
    store.add(tool="bash", pattern="git pull *", decision="allow", expires=10**10)
    a = Action(argv=("git", "push"), program="git", key="git push", words=("git", "push"), risk=Risk.MEDIUM,
               reasons=())
    c = Classification("git push", True, Risk.MEDIUM, (a,), ("git push",))
    store.add(tool="bash", pattern="? *", decision="ask")
    assert sorted(r.pattern for r in store.candidates(c)) == ["? *", "git push *"]
    c2 = Classification("make && make install", True, Risk.MEDIUM, (), ())
    assert sorted(r.pattern for r in store.candidates(c2)) == ["make && make install"]
    a3 = Action(argv=("x", "--version"), program="x", key="x", words=("x", "--version"), risk=Risk.LOW,
                reasons=())
    c3 = Classification("x --version", True, Risk.LOW, (a3,), ())
    assert sorted(r.pattern for r in store.candidates(c3)) == ["* --version", "? *"]


def test_export_import_round_trip_and_atomicity(store: RuleStore, vsh_home: Path) -> None:
    store.add(tool="bash", pattern="git push *", decision="allow", note="n")
    store.add(tool="bash", pattern="rm -rf *", decision="deny", priority=5)
    doc = store.export()
    assert json.loads(json.dumps(doc)) == doc
    other = RuleStore(StatePaths(vsh_home / "other"))
    added = other.import_(doc)
    assert [(r.pattern, r.decision, r.priority, r.note) for r in added] == [
        ("git push *", "allow", 0, "n"), ("rm -rf *", "deny", 5, None)]
    assert other.import_(doc) == []  # identical rules are not duplicated
    bad = {"vsh_rules": 1, "rules": [*doc["rules"], {"pattern": "x *", "decision": "sometimes"}]}
    with pytest.raises(UsageError, match="rule 3"):
        other.import_(bad, replace=True)
    assert len(other.list()) == 2  # nothing changed
    replaced = other.import_({"vsh_rules": 1, "rules": [{"pattern": "ls *", "decision": "allow"}]}, replace=True)
    assert [r.pattern for r in other.list()] == ["ls *"] == [r.pattern for r in replaced]
    other.close()


@pytest.mark.parametrize(
    "doc",
    [[], {"rules": "x"}, {"vsh_rules": 2, "rules": []}, {"rules": [{"pattern": "ls *"}]},
     {"rules": [{"pattern": "ls *", "decision": "allow", "bogus": 1}]},
     {"rules": [{"pattern": "ls *", "decision": "allow", "scope": "relative/dir"}]},
     {"rules": [{"pattern": "ls *", "decision": "allow", "match": "ls"}]}],
)
def test_import_rejects_bad_documents(store: RuleStore, doc: object) -> None:
    with pytest.raises(UsageError):
        store.import_(doc)


@needs_classify
def test_examples_are_checked_on_add(store: RuleStore) -> None:
    store.add(tool="bash", pattern="git push *", decision="allow", match=["git push origin main"],
              not_match=["git pull"])
    with pytest.raises(UsageError, match="should match"):
        store.add(tool="bash", pattern="git push *", decision="allow", match=["git pull"])
    with pytest.raises(UsageError, match="should not match"):
        store.add(tool="bash", pattern="git *", decision="allow", not_match=["git pull"])


def test_grants_refusals_and_rate_counts(store: RuleStore) -> None:
    g = GrantStore(store)
    g.add(session="s", tool="bash", kind="key", value="git push", ttl=600, now=100.0)
    assert [x.value for x in g.active("s", 200.0)] == ["git push"]
    assert g.active("s", 701.0) == [] and g.active("other", 200.0) == [] and g.active(None, 1) == []
    assert [g.record_refusal("s", "bash", "rm", 1.0) for _ in range(3)] == [1, 2, 3]
    assert g.refusals("s", "bash", "rm") == 3 and g.refusals("t", "bash", "rm") == 0
    assert [g.count_run("headless", 2, 10.0 + i) for i in range(3)] == [None, None, 2]
    assert g.count_run("headless", 2, 80.0) is None  # the window slid
    assert g.count_run("background", None, 10.0) is None


@pytest.mark.parametrize(("text", "seconds"), [("10m", 600), ("2h", 7200), ("1d", 86400), ("30s", 30)])
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "10", "m", "-1m", "0m", "1y", "1.5h"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_candidates_for_a_line_with_very_many_words(store: RuleStore) -> None:
    store.add(tool="bash", pattern="echo *", decision="allow")
    words = ("echo", *(f"w{i}" for i in range(40_000)))
    a = Action(argv=words, program="echo", key="echo", words=words, risk=Risk.LOW, reasons=())
    c = Classification(" ".join(words), True, Risk.LOW, (a,), ())
    assert [r.pattern for r in store.candidates(c)] == ["echo *"]
