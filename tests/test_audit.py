"""The audit log: JSON lines, private, redacted, whole lines under concurrent writers."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest

from vshell import audit
from vshell.state import StatePaths


def test_append_and_read(vsh_home: Path) -> None:
    paths = StatePaths(vsh_home)
    audit.append(paths, "decision", {"line": "git status", "decision": "allow", "n": 3, "ok": True})
    audit.append(paths, "run", {"line": "ls", "status": 0})
    assert (paths.audit_log.stat().st_mode & 0o777) == 0o600
    entries = audit.read(paths, 10)
    assert [e["kind"] for e in entries] == ["decision", "run"]
    assert entries[0]["line"] == "git status" and entries[0]["n"] == 3 and entries[0]["ok"] is True
    assert "ts" in entries[0]
    assert audit.read(paths, 1)[0]["kind"] == "run"


def test_read_missing_and_damaged_log(vsh_home: Path) -> None:
    paths = StatePaths(vsh_home)
    assert audit.read(paths, 5) == []
    paths.audit_log.write_text('{"kind": "run"}\nnot json\n[1]\n')
    assert audit.read(paths, None) == [{"kind": "run"}, {"kind": "unreadable", "line": 2},
                                       {"kind": "unreadable", "line": 3}]


def test_unknown_kind_is_refused(vsh_home: Path) -> None:
    with pytest.raises(ValueError):
        audit.append(StatePaths(vsh_home), "gossip", {})


SECRETS = [
    "curl -H 'Authorization: Bearer abcdef0123456789SECRETxyz' https://api.example.com",
    "export GITHUB_TOKEN=ghp_abcdefghijklmnopqrstuvwxyz0123456789",
    "curl https://user:hunter2secret@example.com/x",
    "aws s3 ls # AKIAIOSFODNN7EXAMPLE",
    "echo password=correcthorsebatterystaple",
    "use key Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MEFCQ0RFRkdISUpLTE1O please",
]
SECRET_PARTS = ["abcdef0123456789SECRETxyz", "ghp_abcdefghijklmnopqrstuvwxyz0123456789", "hunter2secret",
                "AKIAIOSFODNN7EXAMPLE", "correcthorsebatterystaple", "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MEFCQ0RFRkdISUpLTE1O"]


@pytest.mark.parametrize(("line", "secret"), list(zip(SECRETS, SECRET_PARTS, strict=True)))
def test_secrets_are_redacted(vsh_home: Path, line: str, secret: str) -> None:
    paths = StatePaths(vsh_home)
    audit.append(paths, "decision", {"line": line, "trace": [f"action 1 `{line}`"], "nested": {"x": line}})
    raw = paths.audit_log.read_text()
    assert secret not in raw
    assert "REDACTED" in raw


@pytest.mark.parametrize("line", ["git checkout 3f5e2a1b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f",
                                  "ls /usr/share/doc/python3-very-long-package-name-here/README",
                                  "git status"])
def test_ordinary_lines_survive(vsh_home: Path, line: str) -> None:
    paths = StatePaths(vsh_home)
    audit.append(paths, "decision", {"line": line})
    assert audit.read(paths, 1)[0]["line"] == line


def _writer(home: str, n: int) -> None:
    paths = StatePaths(Path(home))
    for i in range(50):
        audit.append(paths, "run", {"writer": n, "i": i, "pad": "x" * 3000})


def test_concurrent_writers_never_tear_lines(vsh_home: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(str(vsh_home), n)) for n in range(8)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    lines = StatePaths(vsh_home).audit_log.read_text().splitlines()
    assert len(lines) == 400
    seen = {(e["writer"], e["i"]) for e in map(json.loads, lines)}
    assert len(seen) == 400


@pytest.mark.parametrize(("line", "secret"), list(zip(SECRETS, SECRET_PARTS, strict=True)))
def test_builtin_fallback_redaction(line: str, secret: str) -> None:
    out = audit.builtin_redact(line)
    assert secret not in out and audit.REDACTED in out
