"""A reader and structural check for the SBPL subset vsh emits.

SBPL (the sandbox profile language of macOS `sandbox-exec`) is a Scheme dialect. vsh writes a small,
fixed subset of it; this module reads exactly that subset and rejects everything else, so a profile
that passes `check_profile` is balanced, uses only string escapes every Scheme reader agrees on, names
only operations and filters vsh knows, starts with `(version 1)` and `(deny default)`, and contains no
allow that would widen the sandbox to everything (an unfiltered `(allow file-write*)`, `(allow
network*)`, a `(subpath "/")` allow, ...).

There is no macOS here to compile profiles, so this check is what stands between a renderer bug or a
hostile path name and a broken or widened profile. `read_profile` is public so that tests can recover
the exact strings a profile carries.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Symbol:
    """A bare word: an operation (`file-read*`), a filter name (`subpath`) or a constant (`AF_UNIX`)."""

    name: str


@dataclass(frozen=True)
class Regex:
    """A regex literal `#"..."`; `pattern` is its text exactly as written (no escapes are processed)."""

    pattern: str


# A string atom is a plain `str` (escapes decoded); integers are `int`.
Atom = str | int | Symbol | Regex
Form = Atom | tuple["Form", ...]

# Operations vsh may name in a rule. Adding one here is a decision: say why next to it.
KNOWN_OPERATIONS: frozenset[str] = frozenset(
    {
        "file*",
        "file-read*",
        "file-read-data",
        "file-read-metadata",
        "file-read-xattr",
        "file-write*",
        "file-write-create",
        "file-write-data",
        "file-write-unlink",
        "file-write-mode",
        "file-write-xattr",
        "file-ioctl",
        "file-link",  # hard links: a link to a hidden or protected file would be a second name for it
        "file-clone",  # APFS clonefile(2): a copy of a hidden file under a readable name
        "process-exec",
        "process-fork",
        "process-info*",
        "signal",
        "sysctl-read",
        "mach-lookup",
        "ipc-posix-sem",
        "ipc-posix-shm",
        "pseudo-tty",
        "system-socket",
        "network*",
        "network-outbound",
        "network-inbound",
        "network-bind",
    }
)

# Operations that may be allowed without a filter: none of them reaches a file, a socket or a service.
UNFILTERED_ALLOW_OK: frozenset[str] = frozenset(
    {"process-exec", "process-fork", "sysctl-read", "ipc-posix-sem", "pseudo-tty"}
)

# Operations vsh profiles only ever deny: a hard link or an APFS clone gives a hidden or protected
# file a second name, and which of the two names Seatbelt checks is not something to bet on.
NEVER_ALLOWED: frozenset[str] = frozenset({"file-link", "file-clone"})

_SYMBOL = re.compile(r"[A-Za-z0-9*_.:+-]+")
_IP_ENDPOINT = re.compile(r"(localhost|\*):([0-9]{1,5}|\*)")
_MAX_DEPTH = 12
_DELIMITERS = frozenset(' \t\r\n()";')


def _is_control(ch: str) -> bool:
    code = ord(ch)
    return code < 0x20 or 0x7F <= code <= 0x9F or 0xD800 <= code <= 0xDFFF


def _tokens(text: str) -> list[tuple[str, Atom | None, int]]:
    """Split `text` into ("(", None), (")", None) and ("atom", value) tokens with their offsets."""
    out: list[tuple[str, Atom | None, int]] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in " \t\r\n":
            i += 1
        elif ch == ";":
            end = text.find("\n", i)
            i = n if end < 0 else end + 1
        elif ch in "()":
            out.append((ch, None, i))
            i += 1
        elif ch == '"':
            value, i = _read_string(text, i)
            out.append(("atom", value, i))
        elif text.startswith('#"', i):
            end = text.find('"', i + 2)
            if end < 0:
                raise ValueError(f"unterminated regex literal at offset {i}")
            pattern = text[i + 2 : end]
            if "\\" in pattern or any(_is_control(c) for c in pattern):
                raise ValueError(f"regex literal at offset {i} has a backslash or control character")
            out.append(("atom", Regex(pattern), i))
            i = end + 1
        else:
            j = i
            while j < n and text[j] not in _DELIMITERS:
                j += 1
            word = text[i:j]
            if not _SYMBOL.fullmatch(word):
                raise ValueError(f"unexpected token {word!r} at offset {i}")
            out.append(("atom", int(word) if word.isdigit() else Symbol(word), i))
            i = j
    return out


def _read_string(text: str, start: int) -> tuple[str, int]:
    """Decode the string literal opening at `start`; only `\\\\` and `\\"` escapes are accepted."""
    chars: list[str] = []
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == '"':
            return "".join(chars), i + 1
        if ch == "\\":
            nxt = text[i + 1 : i + 2]
            if nxt not in ('"', "\\"):
                raise ValueError(f"unsupported escape {text[i : i + 2]!r} at offset {i}")
            chars.append(nxt)
            i += 2
            continue
        if _is_control(ch):
            raise ValueError(f"control character {ch!r} in a string at offset {i}")
        chars.append(ch)
        i += 1
    raise ValueError(f"unterminated string at offset {start}")


def read_profile(text: str) -> tuple[Form, ...]:
    """Read `text` into its top-level forms (nested tuples of atoms). Raises ValueError."""
    stack: list[list[Form]] = [[]]
    for kind, value, offset in _tokens(text):
        if kind == "(":
            if len(stack) > _MAX_DEPTH:
                raise ValueError(f"nesting deeper than {_MAX_DEPTH} at offset {offset}")
            stack.append([])
        elif kind == ")":
            if len(stack) == 1:
                raise ValueError(f"unbalanced ')' at offset {offset}")
            done = tuple(stack.pop())
            stack[-1].append(done)
        else:
            assert value is not None
            if len(stack) == 1:
                raise ValueError(f"bare atom {value!r} at top level (offset {offset})")
            stack[-1].append(value)
    if len(stack) != 1:
        raise ValueError("unbalanced '(': the profile ends inside a form")
    return tuple(stack[0])


# ---- filters ----------------------------------------------------------------------------------


def _one_string(args: tuple[Form, ...], name: str) -> str:
    if len(args) != 1 or not isinstance(args[0], str):
        raise ValueError(f"({name} ...) takes one string")
    return args[0]


def _path(args: tuple[Form, ...], name: str) -> None:
    value = _one_string(args, name)
    if not value.startswith("/"):
        raise ValueError(f"({name} {value!r}): not an absolute path")


def _regex(args: tuple[Form, ...], name: str) -> None:
    if len(args) != 1 or not isinstance(args[0], Regex) or not args[0].pattern:
        raise ValueError(f"({name} ...) takes one non-empty regex literal")


def _string(args: tuple[Form, ...], name: str) -> None:
    _one_string(args, name)


def _symbol_of(choices: frozenset[str]) -> Callable[[tuple[Form, ...], str], None]:
    def check(args: tuple[Form, ...], name: str) -> None:
        if len(args) != 1 or not isinstance(args[0], Symbol) or args[0].name not in choices:
            raise ValueError(f"({name} ...) takes one of {sorted(choices)}")

    return check


def _filters_all(args: tuple[Form, ...], name: str) -> None:
    if not args:
        raise ValueError(f"({name}) needs at least one filter")
    for arg in args:
        _check_filter(arg)


def _filter_one(args: tuple[Form, ...], name: str) -> None:
    if len(args) != 1:
        raise ValueError(f"({name} ...) takes exactly one filter")
    _check_filter(args[0])


def _endpoint(args: tuple[Form, ...], name: str) -> None:
    """(remote ip "localhost:3128") or (remote unix-socket (path-literal "/x"))."""
    if len(args) != 2 or not isinstance(args[0], Symbol):
        raise ValueError(f'({name} ...) takes `ip "HOST:PORT"` or `unix-socket FILTER`')
    kind, value = args[0].name, args[1]
    if kind == "ip":
        if not isinstance(value, str) or not (m := _IP_ENDPOINT.fullmatch(value)):
            raise ValueError(f'({name} ip {value!r}): expected "localhost:PORT"')
        if m.group(2) != "*" and not 0 < int(m.group(2)) < 65536:
            raise ValueError(f"({name} ip {value!r}): port out of range")
    elif kind == "unix-socket":
        if not isinstance(value, tuple) or not value or value[0] != Symbol("path-literal"):
            raise ValueError(f'({name} unix-socket ...) takes (path-literal "/path")')
        _check_filter(value)
    else:
        raise ValueError(f"({name} {kind} ...): unknown endpoint kind")


FILTERS: Mapping[str, Callable[[tuple[Form, ...], str], None]] = {
    "literal": _path,
    "subpath": _path,
    "path-literal": _path,
    "regex": _regex,
    "global-name": _string,
    "sysctl-name": _string,
    "vnode-type": _symbol_of(frozenset({"DIRECTORY", "REGULAR-FILE", "CHARACTER-DEVICE", "SYMLINK"})),
    "target": _symbol_of(frozenset({"same-sandbox", "self"})),
    "socket-domain": _symbol_of(frozenset({"AF_UNIX", "AF_SYSTEM"})),
    "require-all": _filters_all,
    "require-any": _filters_all,
    "require-not": _filter_one,
    "remote": _endpoint,
    "local": _endpoint,
}


def _check_filter(form: Form) -> None:
    if not isinstance(form, tuple) or not form or not isinstance(form[0], Symbol):
        raise ValueError(f"expected a filter, got {form!r}")
    name = form[0].name
    checker = FILTERS.get(name)
    if checker is None:
        raise ValueError(f"unknown filter {name!r}")
    checker(form[1:], name)


def _widens_to_root(form: Form) -> bool:
    """A (subpath "/") or (literal "/") directly in an allow (not under require-not)."""
    return isinstance(form, tuple) and len(form) == 2 and form[0] == Symbol("subpath") and form[1] == "/"


def _check_rule(form: Form, index: int) -> None:
    if not isinstance(form, tuple) or not form or form[0] not in (Symbol("allow"), Symbol("deny")):
        raise ValueError(f"form {index}: expected (allow ...) or (deny ...), got {form!r}")
    action = form[0]
    assert isinstance(action, Symbol)
    split = next((i for i, x in enumerate(form[1:], start=1) if not isinstance(x, Symbol)), len(form))
    operations = [x.name for x in form[1:split] if isinstance(x, Symbol)]
    rest = form[split:]
    if not operations:
        raise ValueError(f"form {index}: ({action.name}) names no operation")
    for op in operations:
        if op == "default":
            if action.name == "allow" or len(operations) > 1 or rest:
                raise ValueError(f"form {index}: only a bare (deny default) may name `default`")
        elif op not in KNOWN_OPERATIONS:
            raise ValueError(f"form {index}: unknown operation {op!r}")
        elif action.name == "allow" and op in NEVER_ALLOWED:
            raise ValueError(f"form {index}: {op} is never allowed in a vsh profile")
    for filt in rest:
        _check_filter(filt)
        if action.name == "allow" and _widens_to_root(filt):
            raise ValueError(f'form {index}: an allow of (subpath "/") would expose everything')
    if action.name == "allow" and not rest:
        broad = sorted(set(operations) - UNFILTERED_ALLOW_OK)
        if broad:
            raise ValueError(f"form {index}: unfiltered (allow {' '.join(broad)}) is too broad")


def check_profile(text: str) -> None:
    """Raise ValueError unless `text` is a well-formed profile in vsh's SBPL subset.

    Checks: balanced parentheses; well-formed string literals (only \\\\ and \\" escapes, no control
    characters) and regex literals (no backslash, quote or control character); `(version 1)` first
    and `(deny default)` as the first rule; every other form an allow or deny of known operations with
    known, well-typed filters; no allow that reaches everything.
    """
    forms = read_profile(text)
    if len(forms) < 2 or forms[0] != (Symbol("version"), 1):
        raise ValueError("the profile must start with (version 1)")
    if forms[1] != (Symbol("deny"), Symbol("default")):
        raise ValueError("the first rule must be (deny default)")
    for index, form in enumerate(forms[2:], start=2):
        _check_rule(form, index)
