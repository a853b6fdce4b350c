"""The CLI spine: help imports nothing heavy, errors become one line and the documented status."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import run_vsh


def test_help_lists_every_subcommand(vsh_home: Path) -> None:
    out = run_vsh(["--help"], vsh_home)
    assert out.returncode == 0
    for name in ("run", "classify", "check", "explain", "rules", "cred", "proxy", "doctor", "log"):
        assert name in out.stdout


def test_unknown_subcommand_is_a_usage_error(vsh_home: Path) -> None:
    out = run_vsh(["frobnicate"], vsh_home)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr


def test_help_does_not_import_heavy_modules() -> None:
    code = (
        "import sys\n"
        "from vshell.cli import main\n"
        "try:\n    main(['--help'])\n"
        "except SystemExit:\n    pass\n"
        "heavy = [m for m in ('mitmproxy', 'keyring', 'tldextract', 'cryptography', 'sqlite3') if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "HEAVY="
