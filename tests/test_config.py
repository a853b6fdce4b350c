"""config.toml: strict validation, errors naming key and line, only a missing file means defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from vshell.config import Config, load_config, parse_config
from vshell.errors import ConfigError
from vshell.model import Risk


def test_missing_file_means_defaults(tmp_path: Path) -> None:
    cfg = load_config(tmp_path / "absent.toml")
    assert cfg == Config()
    assert cfg.tolerance.headless is Risk.LOW
    assert cfg.allowed_domains == ("*",)


def test_design_example_parses() -> None:
    cfg = parse_config(
        """
[approval]
auto_approve_up_to = "low"
[sandbox]
workspace = "~/projects/app"
[network]
allowed_domains = ["*"]
denied_domains = []
[proxy]
resolve = { "api.example.com" = "127.0.0.1:8443" }
extra_ca = []
"""
    )
    assert cfg.resolve == {"api.example.com": ("127.0.0.1", 8443)}
    assert cfg.workspace == Path("~/projects/app").expanduser()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('"none"', (None, None, None)),
        ('"high"', (Risk.HIGH, Risk.HIGH, Risk.HIGH)),
        ('{ conversation = "medium", headless = "none" }', (Risk.MEDIUM, Risk.LOW, None)),
    ],
)
def test_tolerance_forms(value: str, expected: tuple[Risk | None, ...]) -> None:
    t = parse_config(f"[approval]\nauto_approve_up_to = {value}\n").tolerance
    assert (t.conversation, t.background, t.headless) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[approval]\n\nbogus = 1\n", ":3: unknown key approval.bogus"),
        ("[nope]\nx = 1\n", ":1: unknown section [nope]"),
        ('[approval]\nauto_approve_up_to = "lots"\n', ":2: approval.auto_approve_up_to: 'lots'"),
        ('[approval]\nauto_approve_up_to = { daytime = "low" }\n', "unknown context 'daytime'"),
        ('[approval]\nmode = "yolo"\n', "approval.mode"),
        ('[network]\nallowed_domains = "*"\n', ":2: network.allowed_domains: expected a list"),
        ('[proxy]\nresolve = { "a.b" = "nowhere" }\n', 'expected "address:port"'),
        ('[proxy]\nresolve = { "a.b" = "127.0.0.1:70000" }\n', "proxy.resolve"),
        ("[approval\n", "not valid TOML"),
    ],
)
def test_invalid_config_names_key_and_line(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert fragment in err.value.message
    assert str(path) in err.value.message
    assert path.read_text() == text  # reported, never replaced


def test_unreadable_config_is_an_error_not_defaults(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b"\xff\xfe not utf-8")
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(path)


def test_state_root_and_its_missing_parents_are_private(tmp_path: Path) -> None:
    """A fresh $VSH_HOME (and any parent vsh creates for it) is 0700 whatever the umask."""
    import os

    from vshell.state import StatePaths, atomic_write

    old = os.umask(0o022)
    try:
        paths = StatePaths(tmp_path / "a" / "b" / "vsh")
        atomic_write(paths.run_dir / "probe", b"x")
    finally:
        os.umask(old)
    for d in (tmp_path / "a", tmp_path / "a" / "b", paths.root, paths.run_dir):
        assert (d.stat().st_mode & 0o777) == 0o700, d
    assert ((paths.run_dir / "probe").stat().st_mode & 0o777) == 0o600
