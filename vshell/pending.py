"""The after-run check, made durable (Linux).

vsh moves the protected paths a run created out of the workspace once the run ends
(vshell.protected.quarantine_new_protected). The process that owes that check (vsh itself, or the
warm server) may be killed first: a harness's timeout sends SIGKILL, and --die-with-parent then ends
the sandbox with nothing checked. A `.git/hooks/pre-commit` the command planted would survive, and
the next run would take it for an old file and protect it.

So before the sandbox starts, the owner writes a journal, $VSH_HOME/run/pending/RUN_ID.json: the
workspace and everything the check compares against. It removes the journal once the check is done.
Before every run, journals whose owner is gone are finished first (`finish_orphans`); one whose paths
could not be moved is kept and refuses runs in its workspace until they are dealt with.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence

    from vshell.protected import Scan

ABANDONED = 0  # the owner field of a journal nobody is finishing
CLAIM = ".claim"  # .RUN_ID.json.PID.claim: being finished by process PID


@dataclass(frozen=True)
class Journal:
    path: Path
    run_id: str


def _dir(state_root: Path) -> Path:
    return state_root / "run" / "pending"


def _started(pid: int) -> str | None:
    """The start time of `pid` (clock ticks since boot), or None when there is no such process: with
    the pid it names one process, even after pids wrap around."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return None


def _write(path: Path, record: dict[str, object]) -> None:
    """Replace `path` atomically (a rename; no fsync: it must outlive a killed process, not the
    machine). Cheaper than vshell.state.atomic_write, whose tempfile import every run would pay."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, json.dumps(record).encode())  # ensure_ascii: undecodable names survive as \udcXX
    finally:
        os.close(fd)
    os.replace(tmp, path)


def begin(state_root: Path, workspace: Path, names: Sequence[str], before: Scan) -> Journal:
    """Record the check this process now owes; its run id also names the quarantine directory."""
    run_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:8]
    d = _dir(state_root)
    d.mkdir(mode=0o700, parents=True, exist_ok=True)
    pid = os.getpid()
    path = d / f"{run_id}.json"
    _write(path, {
        "owner": pid, "started": _started(pid), "run_id": run_id, "workspace": str(workspace),
        "names": list(names), "found": [str(p) for p in before.found],
        "pinned": [str(p) for p in before.pinned], "ids": sorted(before.ids),
        "git_dirs": [str(p) for p in before.git_dirs], "watched": [str(p) for p in before.watched],
    })
    return Journal(path, run_id)


def done(journal: Journal) -> None:
    """The check happened (or the sandbox never started): nothing is owed any more."""
    journal.path.unlink(missing_ok=True)


def abandon(journal: Journal) -> None:
    """The check ran but left paths it could not move: any later run finishes it (or refuses)."""
    try:
        record = json.loads(journal.path.read_bytes())
        record["owner"] = ABANDONED
        _write(journal.path, record)
    except (OSError, ValueError):
        pass


def _orphaned(record: dict[str, object]) -> bool:
    owner = record.get("owner")
    if not isinstance(owner, int) or owner == ABANDONED:
        return True
    return _started(owner) != record.get("started")


def _records(d: Path, names: Iterable[str]) -> Iterator[tuple[Path, dict[str, object]]]:
    """(path, record) of each journal among `names` in `d`; one that is gone meanwhile (finished,
    or claimed by another process) or unreadable is passed over."""
    for name in names:
        if not name.endswith(".json") or name.startswith("."):
            continue
        path = d / name
        try:
            record = json.loads(path.read_bytes())
        except (OSError, ValueError):
            continue
        if isinstance(record, dict):
            yield path, record


def live_baselines(state_root: Path, workspace: Path) -> list[tuple[Path, frozenset[tuple[int, int]]]]:
    """(workspace, identities at its start) of every run still going whose workspace overlaps
    `workspace`. A protected path under such a workspace that is not among its identities may be
    that run's plant: a run starting now must not take it for an old file (vshell.runner)."""
    from vshell.sandbox_spec import under

    d = _dir(state_root)
    try:
        names = os.listdir(d)
    except OSError:
        return []
    out: list[tuple[Path, frozenset[tuple[int, int]]]] = []
    for _path, record in _records(d, names):
        try:
            where = Path(str(record["workspace"]))
            if _orphaned(record) or not (under(where, workspace) or under(workspace, where)):
                continue
            out.append((where, frozenset(_pair(v) for v in _list(record["ids"]))))
        except (TypeError, ValueError, KeyError):
            continue  # not ours to read
    return out


def finish_orphans(state_root: Path, workspace: Path, note: Callable[[str], None]) -> None:
    """Finish every after-run check whose owner is gone. Raises VshError (125) when one for
    `workspace` still cannot move what it found: that workspace is not safe to run in."""
    d = _dir(state_root)
    try:
        listing = os.listdir(d)
    except OSError:
        return  # no journal was ever written
    revived = []
    for n in listing:  # a claim whose claimant died while finishing it goes back to the queue
        base, _, pid = n[1:-len(CLAIM)].rpartition(".")
        if n.startswith(".") and n.endswith(CLAIM) and pid.isdigit() and _started(int(pid)) is None:
            with contextlib.suppress(OSError):
                os.rename(d / n, d / base)
                revived.append(base)
    for path, record in _records(d, [*listing, *revived]):
        if not _orphaned(record):
            continue
        claim = d / f".{path.name}.{os.getpid()}{CLAIM}"
        try:
            os.rename(path, claim)  # one process finishes a journal, never two
        except OSError:
            continue
        _finish(state_root, record, Journal(path, str(record.get("run_id", path.stem))), claim, workspace, note)


def _list(value: object) -> list[object]:
    if not isinstance(value, list):
        raise TypeError("not a list")
    return value


def _pair(value: object) -> tuple[int, int]:
    dev, ino = _list(value)
    if not isinstance(dev, int) or not isinstance(ino, int):
        raise TypeError("not a (dev, ino) pair")
    return dev, ino


def _strings(value: object) -> tuple[str, ...]:
    return tuple(str(v) for v in _list(value))


def _finish(state_root: Path, record: dict[str, object], journal: Journal, claim: Path, workspace: Path,
            note: Callable[[str], None]) -> None:
    from vshell.errors import VshError
    from vshell.protected import Scan, quarantine_new_protected

    try:
        where = Path(str(record["workspace"]))
        before = Scan(tuple(map(Path, _strings(record["found"]))), tuple(map(Path, _strings(record["pinned"]))),
                      frozenset(_pair(v) for v in _list(record["ids"])),
                      tuple(map(Path, _strings(record["git_dirs"]))), tuple(map(Path, _strings(record["watched"]))))
        names = _strings(record["names"])
    except (KeyError, TypeError, ValueError):
        note(f"WARNING: dropped an unreadable after-run journal {journal.path.name}")
        claim.unlink(missing_ok=True)
        return
    if not where.is_dir():  # the workspace is gone, and with it whatever the run left there
        claim.unlink(missing_ok=True)
        return
    moved = quarantine_new_protected(where, names, before, state_root, journal.run_id)
    for src, dst in moved:
        if dst is not None:
            note(f"an earlier run that was killed created protected path {src}; moved to {dst}")
    stuck = [src for src, dst in moved if dst is None]
    if not stuck:
        claim.unlink(missing_ok=True)
        return
    record["owner"] = ABANDONED
    _write(journal.path, record)
    claim.unlink(missing_ok=True)
    message = (f"an earlier run in {where} was killed and vsh could not check or move "
               f"{', '.join(map(str, stuck[:5]))}: they may hold protected files it created")
    if where == workspace:
        raise VshError(message, hint=f"inspect and remove them; the check is retried before each run "
                                     f"({journal.path})")
    note(f"WARNING: {message}")
