"""`vsh cred` through the real CLI (subprocess, no tty), with the encrypted-file vault."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run_vsh, vsh_env

from vshell.secret import Secret
from vshell.state import StatePaths
from vshell.vault import open_vault

SECRET = "fal-SECRET-9f8e7d6c5b4a3210"


def env_for(home: Path, **extra: str) -> dict[str, str]:
    return vsh_env(home, VSH_VAULT_BACKEND="file", **extra)


def vsh(home: Path, *args: str, input: str | None = None, **extra: str) -> subprocess.CompletedProcess[str]:
    return run_vsh(list(args), home, input=input, env=env_for(home, **extra))


def assert_never_leaked(home: Path, *results: subprocess.CompletedProcess[str], secret: str = SECRET) -> None:
    for r in results:
        assert secret not in r.stdout and secret not in r.stderr
    for p in home.rglob("*"):
        if p.is_file():
            assert secret.encode() not in p.read_bytes(), p


def test_add_list_show_rm_roundtrip(vsh_home: Path) -> None:
    r1 = vsh(vsh_home, "cred", "add", "fal/api_key", "--host", "*.fal.run", "--prefix", "Key ", "--value-stdin",
             input=SECRET + "\n")
    assert r1.returncode == 0, r1.stderr
    assert "fal/api_key" in r1.stdout
    r2 = vsh(vsh_home, "cred", "list")
    r3 = vsh(vsh_home, "cred", "list", "--json")
    r4 = vsh(vsh_home, "cred", "show", "fal/api_key", "--json")
    assert r2.returncode == r3.returncode == r4.returncode == 0
    listed = json.loads(r3.stdout)
    assert [c["ref"] for c in listed] == ["fal/api_key"]
    shown = json.loads(r4.stdout)
    assert shown["templates"][0] == {"host": "*.fal.run", "header": "Authorization", "prefix": "Key ",
                                     "query_param": None, "path": None, "methods": []}
    # the value (one trailing newline stripped) is in the vault, retrievable only through it
    value = open_vault(StatePaths(vsh_home), {"VSH_VAULT_BACKEND": "file"}).get(shown["id"])
    assert value == Secret(SECRET)
    r5 = vsh(vsh_home, "cred", "show", shown["id"])
    assert r5.returncode == 0 and "*.fal.run" in r5.stdout
    assert_never_leaked(vsh_home, r1, r2, r3, r4, r5)
    r6 = vsh(vsh_home, "cred", "rm", "fal/api_key")
    assert r6.returncode == 0
    assert json.loads(vsh(vsh_home, "cred", "list", "--json").stdout) == []
    r7 = vsh(vsh_home, "cred", "show", "fal/api_key")
    assert r7.returncode == 125 and "fal/api_key" in r7.stderr


def test_write_once_and_replace(vsh_home: Path) -> None:
    assert vsh(vsh_home, "cred", "add", "a/b", "--host", "api.example.com", "--value-stdin", input="first-value").returncode == 0
    r = vsh(vsh_home, "cred", "add", "a/b", "--host", "api.example.com", "--value-stdin", input="second-value")
    assert r.returncode == 125 and "already exists" in r.stderr and "--replace" in r.stderr
    r = vsh(vsh_home, "cred", "add", "a/b", "--host", "api2.example.com", "--value-stdin", "--replace", input="second-value")
    assert r.returncode == 0, r.stderr
    cid = json.loads(vsh(vsh_home, "cred", "show", "a/b", "--json").stdout)["id"]
    assert open_vault(StatePaths(vsh_home), {"VSH_VAULT_BACKEND": "file"}).get(cid).reveal() == "second-value"


@pytest.mark.parametrize(
    ("args", "stdin", "fragment", "code"),
    [
        (["--host", "*.com"], "v4lue-xyz", "public suffix", 125),
        (["--host", "*.co.uk"], "v4lue-xyz", "public suffix", 125),
        (["--host", "evil..com"], "v4lue-xyz", "invalid host pattern", 125),
        (["--host", "a.example.com", "--header", "Host"], "v4lue-xyz", "cannot carry", 125),
        (["--host", "a.example.com", "--header", "X", "--query-param", "k"], "v4lue-xyz", "not both", 2),
        (["--host", "a.example.com"], "", "empty", 2),
        (["--host", "a.example.com"], "two\nlines\n", "line break", 2),
        ([], "v4lue-xyz", "--host", 2),
    ],
)
def test_add_rejections(vsh_home: Path, args: list[str], stdin: str, fragment: str, code: int) -> None:
    r = vsh(vsh_home, "cred", "add", "x/y", *args, "--value-stdin", input=stdin)
    assert r.returncode == code, (r.stdout, r.stderr)
    assert fragment in r.stderr
    assert "Traceback" not in r.stderr
    assert not (vsh_home / "credentials.json").exists() or json.loads(
        (vsh_home / "credentials.json").read_text())["credentials"] == []


@pytest.mark.parametrize("ref", ["noslash", "a/b/c", "a b/c"])
def test_bad_refs(vsh_home: Path, ref: str) -> None:
    r = vsh(vsh_home, "cred", "add", ref, "--host", "a.example.com", "--value-stdin", input="v4lue-xyz")
    assert r.returncode == 125 and "invalid credential reference" in r.stderr


def test_no_tty_prompt_refuses(vsh_home: Path) -> None:
    r = subprocess.run(
        ["setsid", "-w", sys.executable, "-m", "vshell", "cred", "add", "a/b", "--host",
         "a.example.com"],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env_for(vsh_home), timeout=60,
    )
    assert r.returncode == 2
    assert "--value-stdin" in r.stderr


def test_value_never_accepted_as_argument(vsh_home: Path) -> None:
    r = vsh(vsh_home, "cred", "add", "a/b", SECRET, "--host", "a.example.com", "--value-stdin", input="x" * 10)
    assert r.returncode == 2
    assert_never_leaked(vsh_home, secret=SECRET)


def test_templates_add_and_remove(vsh_home: Path) -> None:
    vsh(vsh_home, "cred", "add", "gh/token", "--host", "api.github.com", "--prefix", "Bearer ", "--value-stdin",
        input=SECRET)
    r = vsh(vsh_home, "cred", "template", "add", "gh/token", "--host", "uploads.github.com", "--header",
            "X-Token", "--path", "/repos/**", "--method", "post")
    assert r.returncode == 0, r.stderr
    t = json.loads(vsh(vsh_home, "cred", "show", "gh/token", "--json").stdout)["templates"]
    assert [x["host"] for x in t] == ["api.github.com", "uploads.github.com"]
    assert t[1]["methods"] == ["POST"] and t[1]["path"] == "/repos/**"
    r = vsh(vsh_home, "cred", "template", "add", "gh/token", "--host", "*.io")
    assert r.returncode == 125 and "public suffix" in r.stderr
    assert vsh(vsh_home, "cred", "template", "rm", "gh/token", "0").returncode == 0
    r = vsh(vsh_home, "cred", "template", "rm", "gh/token", "0")
    assert r.returncode == 125 and "only template" in r.stderr
    r = vsh(vsh_home, "cred", "template", "add", "gh/nope", "--host", "a.example.com")
    assert r.returncode == 125 and "gh/nope" in r.stderr
    assert_never_leaked(vsh_home)


def test_corrupt_vault_is_reported_and_untouched(vsh_home: Path) -> None:
    vsh(vsh_home, "cred", "add", "a/b", "--host", "a.example.com", "--value-stdin", input=SECRET)
    vault = vsh_home / "vault.enc"
    damaged = vault.read_bytes()[:-30] + b"garbage-garbage-garbage-xx\"}\n"
    vault.write_bytes(damaged)
    meta_before = (vsh_home / "credentials.json").read_bytes()
    r = vsh(vsh_home, "cred", "add", "c/d", "--host", "c.example.com", "--value-stdin", input="another-value")
    assert r.returncode == 125
    assert str(vault) in r.stderr and "Traceback" not in r.stderr
    assert vault.read_bytes() == damaged
    assert (vsh_home / "credentials.json").read_bytes() == meta_before  # rolled back
    r = vsh(vsh_home, "cred", "rm", "a/b")
    assert r.returncode == 125 and vault.read_bytes() == damaged
    assert (vsh_home / "credentials.json").read_bytes() == meta_before


def test_corrupt_metadata_is_reported(vsh_home: Path) -> None:
    (vsh_home / "credentials.json").write_text("{oops")
    r = vsh(vsh_home, "cred", "list")
    assert r.returncode == 125 and "credentials.json" in r.stderr and "Traceback" not in r.stderr
    assert (vsh_home / "credentials.json").read_text() == "{oops"


def test_passphrase_vault_via_cli(vsh_home: Path) -> None:
    r = vsh(vsh_home, "cred", "add", "a/b", "--host", "a.example.com", "--value-stdin", input=SECRET,
            VSH_VAULT_PASSPHRASE="pw-123")
    assert r.returncode == 0, r.stderr
    assert "passphrase" in r.stdout
    assert not (vsh_home / "vault.key").exists()
    r = vsh(vsh_home, "cred", "add", "c/d", "--host", "c.example.com", "--value-stdin", input="other-value",
            VSH_VAULT_PASSPHRASE="wrong")
    assert r.returncode == 125 and "cannot decrypt" in r.stderr
    assert_never_leaked(vsh_home, r)


def test_hidden_prompt_on_terminal(vsh_home: Path) -> None:
    pexpect = pytest.importorskip("pexpect")
    child = pexpect.spawn(sys.executable, ["-m", "vshell", "cred", "add", "t/tty", "--host", "t.example.com"],
                          env=env_for(vsh_home), encoding="utf-8", timeout=30)
    seen = io.StringIO()
    child.logfile_read = seen
    child.expect("Value")
    child.sendline(SECRET)
    child.expect("(?i)repeat")
    child.sendline(SECRET)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    assert SECRET not in seen.getvalue()  # hidden: never echoed
    assert "stored t/tty" in seen.getvalue()
    cid = json.loads(vsh(vsh_home, "cred", "show", "t/tty", "--json").stdout)["id"]
    assert open_vault(StatePaths(vsh_home), {"VSH_VAULT_BACKEND": "file"}).get(cid).reveal() == SECRET
    assert_never_leaked(vsh_home)
