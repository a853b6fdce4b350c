"""config.toml: parsed once at the boundary into a frozen `Config`, validated strictly.

Only a missing file means defaults. An unknown key or a bad value is a `ConfigError` that names the
file, the key and its line. Policy is loosened only here: no flag or variable widens a run.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vshell.errors import ConfigError
from vshell.model import Risk
from vshell.options import CONTEXTS

MODES = ("sandboxed", "locked", "unrestricted")


@dataclass(frozen=True)
class Tolerance:
    """The highest risk auto-approved per context; None means nothing is auto-approved ("none")."""

    conversation: Risk | None = Risk.LOW
    background: Risk | None = Risk.LOW
    headless: Risk | None = Risk.LOW

    def for_context(self, context: str) -> Risk | None:
        return getattr(self, context)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Config:
    tolerance: Tolerance = Tolerance()
    mode: str = "sandboxed"
    # runs per minute per context; None means unlimited
    rate_limit: Mapping[str, int | None] = field(default_factory=lambda: dict.fromkeys(CONTEXTS))
    workspace: Path | None = None  # None: $VSH_HOME/workspace
    env_allow: tuple[str, ...] = ()  # extra environment variable names passed into the sandbox
    hidden_paths: tuple[Path, ...] = ()  # extra paths unreadable inside the sandbox
    readonly_paths: tuple[str, ...] = ()  # extra workspace-relative names protected from writes
    allowed_domains: tuple[str, ...] = ("*",)
    denied_domains: tuple[str, ...] = ()
    resolve: Mapping[str, tuple[str, int]] = field(default_factory=dict)  # host -> (address, port)
    extra_ca: tuple[Path, ...] = ()
    warm_server: bool = True  # `vsh run` may be decided by the warm server (vshell.server)
    source: Path | None = None  # the file this came from, None for defaults


def _bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise ValueError("expected true or false")
    return v


def _tolerance_value(v: Any) -> Risk | None:
    if not isinstance(v, str):
        raise ValueError("expected one of none, low, medium, high")
    if v == "none":
        return None
    try:
        return Risk.parse(v)
    except ValueError:
        raise ValueError(f"{v!r} is not one of none, low, medium, high") from None


def _str_list(v: Any) -> tuple[str, ...]:
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise ValueError("expected a list of strings")
    return tuple(v)


def _resolve_map(v: Any) -> dict[str, tuple[str, int]]:
    if not isinstance(v, dict):
        raise ValueError('expected a table of "host" = "address:port"')
    out: dict[str, tuple[str, int]] = {}
    for host, target in v.items():
        m = re.fullmatch(r"\[?([0-9A-Fa-f:.]+)\]?:(\d{1,5})", str(target))
        if not isinstance(target, str) or not m or not 0 < int(m.group(2)) < 65536:
            raise ValueError(f'{host!r}: expected "address:port", got {target!r}')
        out[host.lower().rstrip(".")] = (m.group(1), int(m.group(2)))
    return out


def _line_of(text: str, section: str, key: str) -> int | None:
    """The line where `key` is set inside `[section]` (best effort: TOML parsers give no positions)."""
    current = ""
    for no, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        header = re.fullmatch(r"\[\s*([A-Za-z0-9_.-]+)\s*\]", line)
        if header:
            current = header.group(1)
            if current == section and not key:
                return no
            continue
        if current == section and re.match(rf"{re.escape(key)}\s*=", line):
            return no
    return None


_Schema = dict[str, dict[str, Callable[[Any], Any]]]


def _schema() -> _Schema:
    def tolerance(v: Any) -> Tolerance:
        if isinstance(v, str):
            r = _tolerance_value(v)
            return Tolerance(r, r, r)
        if isinstance(v, dict):
            unknown = set(v) - set(CONTEXTS)
            if unknown:
                raise ValueError(f"unknown context {sorted(unknown)[0]!r} (expected {', '.join(CONTEXTS)})")
            base = Tolerance()
            return Tolerance(
                **{c: _tolerance_value(v[c]) if c in v else base.for_context(c) for c in CONTEXTS}
            )
        raise ValueError("expected a risk name or a table per context")

    def mode(v: Any) -> str:
        if v not in MODES:
            raise ValueError(f"{v!r} is not one of {', '.join(MODES)}")
        return str(v)

    def rate(v: Any) -> dict[str, int | None]:
        if isinstance(v, int) and not isinstance(v, bool) and v > 0:
            return dict.fromkeys(CONTEXTS, v)
        if (isinstance(v, dict) and set(v) <= set(CONTEXTS)
                and all(isinstance(x, int) and not isinstance(x, bool) and x > 0 for x in v.values())):
            return {c: v.get(c) for c in CONTEXTS}
        raise ValueError("expected a positive number of runs per minute, or a table per context")

    def path(v: Any) -> Path:
        if not isinstance(v, str) or not v:
            raise ValueError("expected a path")
        return Path(v).expanduser()

    return {
        "approval": {"auto_approve_up_to": tolerance, "mode": mode, "rate_limit": rate},
        "sandbox": {
            "workspace": path,
            "env_allow": _str_list,
            "hidden_paths": lambda v: tuple(Path(p).expanduser() for p in _str_list(v)),
            "readonly_paths": _str_list,
            "warm_server": _bool,
        },
        "network": {"allowed_domains": _str_list, "denied_domains": _str_list},
        "proxy": {
            "resolve": _resolve_map,
            "extra_ca": lambda v: tuple(Path(p).expanduser() for p in _str_list(v)),
        },
    }


_FIELD: dict[tuple[str, str], str] = {
    ("approval", "auto_approve_up_to"): "tolerance",
    ("approval", "mode"): "mode",
    ("approval", "rate_limit"): "rate_limit",
}


def parse_config(text: str, source: Path | None = None) -> Config:
    """Parse and validate config text. Raises ConfigError naming the key and line."""
    import tomllib

    where = str(source) if source else "config"
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{where}: not valid TOML: {e}") from None
    schema = _schema()
    values: dict[str, Any] = {}
    for section, body in raw.items():
        if section not in schema:
            line = _line_of(text, section, "")
            raise ConfigError(f"{where}:{line or '?'}: unknown section [{section}]",
                              hint=f"known sections: {', '.join(schema)}")
        if not isinstance(body, dict):
            raise ConfigError(f"{where}: [{section}] must be a table")
        for key, value in body.items():
            line = _line_of(text, section, key)
            if key not in schema[section]:
                raise ConfigError(f"{where}:{line or '?'}: unknown key {section}.{key}",
                                  hint=f"known keys in [{section}]: {', '.join(schema[section])}")
            try:
                name = _FIELD.get((section, str(key))) or str(key)
                values[name] = schema[section][key](value)
            except ValueError as e:
                raise ConfigError(f"{where}:{line or '?'}: {section}.{key}: {e}") from None
    return Config(source=source, **values)


def load_config(path: Path) -> Config:
    """Load config.toml. Only a missing file means defaults; an unreadable one is an error."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Config()
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read config: {e}") from None
    return parse_config(text, path)
