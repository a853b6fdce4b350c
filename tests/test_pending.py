"""The after-run journal (vshell.pending) on real files: a check whose owner died is finished by the
next run, a live owner's is left alone, a check that cannot move what it found refuses its workspace.
(The end-to-end case, vsh SIGKILLed mid-run, is in test_sandbox_git.py.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vshell import pending
from vshell.errors import VshError
from vshell.protected import Scan
from vshell.sandbox_spec import PROTECTED_NAMES

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the journal is Linux-only")


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _world(tmp_path: Path) -> tuple[Path, Path]:
    state, ws = tmp_path / "state", tmp_path / "ws"
    state.mkdir(mode=0o700)
    ws.mkdir()
    return state, ws


def _orphan(state: Path, ws: Path) -> pending.Journal:
    journal = pending.begin(state, ws, PROTECTED_NAMES, Scan((), (), frozenset()))
    record = json.loads(journal.path.read_bytes())
    record["owner"] = _dead_pid()
    journal.path.write_text(json.dumps(record))
    return journal


def test_a_check_is_owed_from_begin_to_done(tmp_path: Path) -> None:
    state, ws = _world(tmp_path)
    journal = pending.begin(state, ws, PROTECTED_NAMES, Scan((), (), frozenset()))
    assert journal.path.is_file() and journal.path.stat().st_mode & 0o777 == 0o600
    pending.done(journal)
    assert not journal.path.exists()


def test_an_orphaned_check_is_finished_by_the_next_run(tmp_path: Path) -> None:
    state, ws = _world(tmp_path)
    journal = _orphan(state, ws)
    (ws / ".envrc").write_text("evil\n")  # what the killed run left
    notes: list[str] = []
    pending.finish_orphans(state, tmp_path / "elsewhere", notes.append)
    assert not (ws / ".envrc").exists()
    assert (state / "quarantine" / journal.run_id / ".envrc").read_text() == "evil\n"
    assert not list((state / "run/pending").iterdir())
    assert any("killed" in n for n in notes)


def test_a_live_owners_check_is_left_alone(tmp_path: Path) -> None:
    state, ws = _world(tmp_path)
    journal = pending.begin(state, ws, PROTECTED_NAMES, Scan((), (), frozenset()))
    (ws / ".envrc").write_text("the run is still going\n")
    pending.finish_orphans(state, ws, lambda _m: None)
    assert (ws / ".envrc").exists() and journal.path.exists()


def test_a_claim_whose_claimant_died_is_finished(tmp_path: Path) -> None:
    state, ws = _world(tmp_path)
    journal = _orphan(state, ws)
    claim = journal.path.with_name(f".{journal.path.name}.{_dead_pid()}{pending.CLAIM}")
    os.rename(journal.path, claim)
    (ws / ".envrc").write_text("evil\n")
    pending.finish_orphans(state, ws, lambda _m: None)
    assert not (ws / ".envrc").exists() and not claim.exists()


def test_what_cannot_be_moved_refuses_its_workspace_until_dealt_with(tmp_path: Path) -> None:
    state, ws = _world(tmp_path)
    journal = _orphan(state, ws)
    (ws / ".envrc").write_text("evil\n")
    (state / "quarantine").write_text("not a directory: nothing can be moved there")
    with pytest.raises(VshError, match="could not check or move"):
        pending.finish_orphans(state, ws, lambda _m: None)
    notes: list[str] = []
    pending.finish_orphans(state, tmp_path / "another", notes.append)  # other workspaces: a warning
    assert any("WARNING" in n for n in notes)
    assert journal.path.exists()
    (state / "quarantine").unlink()
    pending.finish_orphans(state, ws, lambda _m: None)  # retried: now it can
    assert not (ws / ".envrc").exists() and not journal.path.exists()


def test_a_vanished_workspace_owes_nothing(tmp_path: Path) -> None:
    state, ws = _world(tmp_path)
    journal = _orphan(state, ws)
    ws.rmdir()
    pending.finish_orphans(state, tmp_path, lambda _m: None)
    assert not journal.path.exists()
