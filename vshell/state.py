"""Where vsh keeps its state, and the one way to write it (atomically).

Everything lives under one root: `$VSH_HOME` when set (tests always set it), else the platform's user
data directory. The sandbox hides this whole root; keeping it in one tree is what makes that simple.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class StatePaths:
    """The files under the state root. Nothing here touches the disk."""

    root: Path

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> StatePaths:
        from vshell.runfast import state_root  # one definition, shared with the thin client

        return cls(Path(state_root(os.environ if environ is None else environ)))

    @property
    def config(self) -> Path:
        return self.root / "config.toml"

    @property
    def rules_db(self) -> Path:
        return self.root / "rules.db"

    @property
    def audit_log(self) -> Path:
        return self.root / "audit.jsonl"

    @property
    def history(self) -> Path:
        return self.root / "history"

    @property
    def workspace(self) -> Path:
        return self.root / "workspace"

    @property
    def credentials(self) -> Path:
        """Credential metadata (references, templates, policy): never values."""
        return self.root / "credentials.json"

    @property
    def vault(self) -> Path:
        """The AES-256-GCM encrypted secrets file, used when the keyring has no usable backend."""
        return self.root / "vault.enc"

    @property
    def vault_key(self) -> Path:
        return self.root / "vault.key"

    @property
    def proxy_dir(self) -> Path:
        return self.root / "proxy"

    @property
    def run_dir(self) -> Path:
        """Per-boot runtime files (probe cache, per-run sockets)."""
        return self.root / "run"

    def ensure(self) -> Path:
        """Create the root (0700, and any missing parent too) if missing and return it."""
        make_private_dirs(self.root)
        return self.root


def make_private_dirs(directory: Path) -> None:
    """Create `directory` and every missing parent with mode 0700 (`mkdir(parents=True)` would give
    the parents the umask's mode, leaving a fresh $VSH_HOME readable by others)."""
    missing = []
    d = directory
    while not d.exists():
        missing.append(d)
        d = d.parent
    for d in reversed(missing):
        try:
            d.mkdir(mode=0o700)
        except FileExistsError:
            continue


def atomic_write(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace `path` with `data` atomically: a crash leaves the old file or the new one, never half."""
    import tempfile  # not at module level: every command imports this module, few write state

    make_private_dirs(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
