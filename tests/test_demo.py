"""The README's demo command does vsh's main job end to end (real sandbox, real proxy, real TLS)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import needs_bwrap, stop_daemon, vsh_env


@needs_bwrap
def test_demo_runs_end_to_end(tmp_path: Path, vsh_home: Path) -> None:
    home = tmp_path / "demo-home"
    try:
        out = subprocess.run([sys.executable, "-m", "vshell", "demo", "--home", str(home)],
                             capture_output=True, text=True, env=vsh_env(vsh_home), timeout=240)
    finally:
        stop_daemon(home)
    text = out.stdout
    assert out.returncode == 0, out.stderr + text
    assert "[high] rm" in text  # classification
    assert "nobody can be asked in the headless context" in text  # headless refusal
    assert "hello from the sandbox" in text and "Read-only file system" in text
    assert "exists: False" in text  # the write outside the workspace left nothing on the host
    assert '"authenticated": true' in text and '"authenticated": false' in text
    assert "the secret appears inside the sandbox's environment: False" in text
    assert "proxy: injected GET api.demo.test:443/v1/whoami" in text
