"""The macOS backend: a SandboxSpec rendered into an SBPL profile and a `sandbox-exec` argv.

The static policy lives in `templates/*.sb`; this module fills their `@@NAME@@` placeholders with
rule blocks built from the spec. Every path or string that reaches a profile goes through `quote`,
the one escaping function; a value it cannot represent safely raises ValueError, so a hostile name
gives an error, never a broken or widened profile. Rendered profiles are checked by
`vshell.sbpl.check.check_profile` before they are returned.

Paths are matched by the kernel after symlinks are resolved, so the spec's paths must already be
resolved (vshell.sandbox.build_spec does that); `/tmp`, `/var` and `/etc` spellings are doubled
with their `/private` targets, and non-ASCII paths with their NFC and NFD forms (APFS looks names
up normalisation-insensitively), so a rule cannot be sidestepped by spelling.
"""

from __future__ import annotations

import posixpath
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from pathlib import Path

from vshell.sbpl.check import check_profile

from vshell.sandbox_spec import CREDENTIAL_STORES, GIT_DIR_PROTECTED, SandboxSpec

# Only this binary: a `sandbox-exec` found on PATH could be anyone's.
SANDBOX_EXEC = "/usr/bin/sandbox-exec"

# Secrets under HOME that exist only on macOS, hidden besides CREDENTIAL_STORES.
MACOS_HOME_SECRETS: tuple[str, ...] = ("Library/Keychains", "Library/Cookies")

# Places under HOME where a write becomes code that the host runs later (at login, in the next
# shell, on the next `git` or editor start). HOME is read-only anyway; these stay denied even when
# a workspace chosen with --workspace contains them (a workspace of ~/Library or ~/.config), and so
# do the protected names at HOME's top level (~/.bashrc, ~/.claude/, ...).
HOME_NEVER_WRITABLE: tuple[str, ...] = (
    "Library/LaunchAgents",
    "Library/Application Support/com.apple.backgroundtaskmanagementagent",
    "Library/Preferences",
    "Library/Scripts",
    "Library/Services",
    "Library/Application Support/Code/User",
    ".gitconfig",
    ".config/git",
    ".config/fish",
    ".config/nvim",
    ".config/Code/User",
    ".local/bin",
    ".vimrc",
    ".vim",
    ".emacs",
    ".emacs.d",
    ".tmux.conf",
    ".codex",
)

# Symlinks at the root that point into /private: the kernel matches the /private spelling.
PRIVATE_LINKS: tuple[str, ...] = ("/etc", "/tmp", "/var")

# Where the run's private temporary directory may live, and how many components it must sit below
# that root at least (so TMPDIR=/tmp or TMPDIR=/var/folders never makes a shared tree writable).
TMP_ROOTS: tuple[tuple[str, int], ...] = (
    ("/private/tmp", 1),
    ("/tmp", 1),
    ("/private/var/folders", 4),  # /var/folders/xx/yyy/T is the user's shared temp: one more level
    ("/var/folders", 4),
)

# TMPDIR values that name the host's shared temporary directory: never made writable.
SHARED_TMP: frozenset[str] = frozenset({"/tmp", "/private/tmp"})

# What a hidden path refuses; what a protected one refuses (also the parent entries of a protected
# name: every `.git` itself for `.git/hooks/`, so it can be neither created, renamed, removed nor,
# when it is a `gitdir:` file, rewritten to point elsewhere); what ancestors of hidden paths refuse.
HIDDEN_OPERATIONS: tuple[str, ...] = ("file-read*", "file-write*", "file-link", "file-clone")
PROTECTED_OPERATIONS: tuple[str, ...] = ("file-write*", "file-link", "file-clone")
ANCESTOR_OPERATIONS: tuple[str, ...] = ("file-write-unlink",)

# Characters a protected name may use, and how each is written in a regex literal: letters match
# both cases, regex metacharacters and space go in a bracket, the rest stand for themselves.
# Refused: `/` inside a component, `"` and `\` (they would need escapes in a `#"` literal), `^`
# (no one-character bracket holds it), control and non-ASCII characters.
_NAME_BRACKETED = frozenset(".*+?(){}|$[] ")
_NAME_PLAIN = frozenset("0123456789!#%&',-:;<=>@_`~")
_PLACEHOLDER = re.compile(r"@@([A-Z_]+)@@")
_TEMPLATES = Path(__file__).resolve().parent / "templates"


# ---- the one escaping function -------------------------------------------------------------------


def quote(value: str) -> str:
    """`value` as an SBPL string literal, or ValueError when it cannot be written safely.

    Only the two escapes every Scheme reader agrees on are used: backslash and double quote.
    Parentheses, `#"`, `;` and non-ASCII characters need none inside a string literal. Control
    characters (C0 including newline, DEL, C1) and lone surrogates (a file name that is not valid
    UTF-8, as os.fsdecode gives it) are refused: their escapes differ between readers, and a
    profile that means something else than what was checked is worse than no run.
    """
    if not isinstance(value, str):
        raise ValueError(f"not a string: {value!r}")
    for ch in value:
        code = ord(ch)
        if code < 0x20 or 0x7F <= code <= 0x9F or 0xD800 <= code <= 0xDFFF:
            raise ValueError(
                f"cannot be represented in a sandbox profile (control or undecodable byte): {value!r}"
            )
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


# ---- paths ----------------------------------------------------------------------------------------


def _absolute(path: Path | str, what: str) -> str:
    """`path` as text when it is absolute and normalised (no `.`, `..`, `//` or trailing `/`)."""
    text = str(path)
    if not text.startswith("/") or text.startswith("//") or posixpath.normpath(text) != text:
        raise ValueError(f"{what} must be an absolute, normalised path: {text!r}")
    quote(text)
    return text


def _is_under(path: str, root: str) -> bool:
    """True when `path` is `root` or below it (component-wise)."""
    return path == root or root == "/" or path.startswith(root + "/")


def _spellings(path: str) -> tuple[str, ...]:
    """Every spelling the kernel may match for `path`: as given, NFC, NFD, each with its /private twin."""
    out: list[str] = []
    for form in (path, unicodedata.normalize("NFC", path), unicodedata.normalize("NFD", path)):
        candidates = [form]
        candidates += ["/private" + form for link in PRIVATE_LINKS if _is_under(form, link)]
        out += [c for c in candidates if c not in out]
    return tuple(out)


def _ancestors(path: str) -> list[str]:
    """Proper ancestors of `path`, nearest first, without `/`."""
    out: list[str] = []
    parent = posixpath.dirname(path)
    while parent != "/":
        out.append(parent)
        parent = posixpath.dirname(parent)
    return out


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


# ---- rule blocks ----------------------------------------------------------------------------------


def _path_filters(kind: str, paths: Iterable[str]) -> list[str]:
    return _unique(f"({kind} {quote(s)})" for p in paths for s in _spellings(p))


def _rule(action: str, operations: Sequence[str], filters: Sequence[str]) -> str:
    """One rule, or "" when there is nothing to filter on (an unfiltered rule would be unbounded)."""
    if not filters:
        return ""
    body = "\n".join("  " + f for f in filters)
    return f"({action} {' '.join(operations)}\n{body})"


def _block(*rules: str) -> str:
    text = "\n".join(r for r in rules if r)
    return text or "; (none)"


def _name_body(component: str) -> str:
    """One path component as a case-insensitive regex from a closed alphabet (letters become `[aA]`,
    `.` becomes `[.]`, see _NAME_BRACKETED): the result never holds a quote or a backslash."""

    def piece(ch: str) -> str:
        if ch.isascii() and ch.isalpha():
            return f"[{ch.lower()}{ch.upper()}]"
        return f"[{ch}]" if ch in _NAME_BRACKETED else ch

    return "".join(piece(ch) for ch in component)


def _name_regex(components: Sequence[str], *, below: bool) -> str:
    """A case-insensitive regex literal for `/c1/c2` as path components, anchored at its end.

    Case-insensitive because APFS is by default: `.GIT/HOOKS` is `.git/hooks` on disk, and a file
    being created is matched by the spelling the caller used.
    """
    body = "/".join(_name_body(comp) for comp in components)
    return '#"/' + body + ("(/|$)" if below else "$") + '"'


def _either(*words: str) -> str:
    return "(" + "|".join(_name_body(w) for w in words) + ")"


def _git_entries() -> str:
    """The protected entries of a git directory (GIT_DIR_PROTECTED) as one regex group."""
    return _either(*(name.rstrip("/") for name in GIT_DIR_PROTECTED))


def _inner_git_regex() -> str:
    """The protected entries (GIT_DIR_PROTECTED: hooks, config, commondir, ...) of the git
    directories kept inside `.git` (vshell.protected.inner_git_dirs): submodules' (`.git/modules/NAME/`,
    NAME may hold slashes, nested `modules/` too) and linked worktrees' (`.git/worktrees/NAME/`).
    Over-blocks a module or branch path that merely contains such a component: never a gap."""
    return ('#"/' + _name_body(".git") + "/" + _either("modules", "worktrees") + "/.+/"
            + _git_entries() + '(/|$)"')


def _nested_git_regex() -> str:
    """The same below any directory: combined with the subpath of a git directory not named `.git`
    (a bare repository, the target of a `gitdir:` pointer), whose submodules live in its modules/."""
    return '#"/' + _either("modules", "worktrees") + "/.+/" + _git_entries() + '(/|$)"'


def _name_components(name: str) -> list[str]:
    components = name.rstrip("/").split("/")
    for comp in components:
        usable = all(
            (ch.isascii() and ch.isalpha()) or ch in _NAME_BRACKETED or ch in _NAME_PLAIN for ch in comp
        )
        if not comp or not usable or comp in (".", ".."):
            raise ValueError(f"protected name {name!r} cannot be matched safely (see _NAME_PLAIN)")
    return components


def _protected_names_block(names: Sequence[str], workspace: str) -> str:
    """Denies for protected names at any depth of the workspace, existing or not.

    The regex is constant (no user data); the workspace enters only through a `subpath` string,
    combined with `require-all`. A workspace whose own path contains a protected name is wholly
    protected: over-blocking, never a gap.
    """
    full: list[str] = []
    parents: list[str] = []
    for name in names:
        components = _name_components(name)
        full.append(_name_regex(components, below=True))
        parents += [_name_regex(components[:k], below=False) for k in range(1, len(components))]
    full.append(_inner_git_regex())
    roots = [f"(subpath {quote(s)})" for s in _spellings(workspace)]
    name_filters = [f"(require-all {root} (regex {rx}))" for rx in _unique(full) for root in roots]
    parent_filters = [f"(require-all {root} (regex {rx}))" for rx in _unique(parents) for root in roots]
    return _block(
        _rule("deny", PROTECTED_OPERATIONS, name_filters),
        _rule("deny", PROTECTED_OPERATIONS, parent_filters),
    )


def _git_dirs_block(git_dirs: Sequence[str]) -> str:
    """Denies for the submodules' and worktrees' git directories inside git directories not named
    `.git` (their own protected entries are denied by path with the other protected paths)."""
    rx = _nested_git_regex()
    filters = [f"(require-all (subpath {quote(s)}) (regex {rx}))" for d in git_dirs for s in _spellings(d)]
    return _block(_rule("deny", PROTECTED_OPERATIONS, _unique(filters)))


def _hidden_paths(spec: SandboxSpec, home: str) -> list[str]:
    listed = [*spec.hidden, *([spec.state_root] if spec.state_root is not None else [])]
    paths = [_absolute(p, "hidden path") for p in listed]
    paths += [posixpath.join(home, rel) for rel in (*CREDENTIAL_STORES, *MACOS_HOME_SECRETS)]
    return _unique(paths)


def _hidden_block(hidden: Sequence[str], writable: Sequence[str]) -> str:
    """Deny reads and writes of hidden trees, minus writable trees nested inside them.

    The default workspace is `$VSH_HOME/workspace`: the state root is hidden, the workspace inside
    it is not. A writable tree equal to a hidden one is refused outright.
    """
    filters: list[str] = []
    for path in hidden:
        if path in writable:
            raise ValueError(f"a writable tree is also hidden: {path!r}")
        inner = [w for w in writable if _is_under(w, path)]
        carve = [f"(require-not (subpath {quote(s)}))" for w in inner for s in _spellings(w)]
        for spelling in _spellings(path):
            subpath = f"(subpath {quote(spelling)})"
            filters.append(f"(require-all {subpath} {' '.join(carve)})" if carve else subpath)
    ancestors = _unique(a for p in hidden for a in _ancestors(p))
    return _block(
        _rule("deny", HIDDEN_OPERATIONS, _unique(filters)),
        _rule("deny", ANCESTOR_OPERATIONS, _path_filters("literal", ancestors)),
    )


def _protected_paths_block(paths: Sequence[str], pinned: Sequence[str]) -> str:
    ancestors = _unique([*pinned, *(a for p in paths for a in _ancestors(p))])
    return _block(
        _rule("deny", PROTECTED_OPERATIONS, _path_filters("subpath", paths)),
        _rule("deny", ANCESTOR_OPERATIONS, _path_filters("literal", ancestors)),
    )


def _private_tmp(env: Mapping[str, str]) -> str | None:
    """The run's private temporary directory: TMPDIR, which the runner points at a fresh directory.

    None when TMPDIR is unset or is the shared /tmp (the Linux convention, where /tmp is private):
    then nothing but the workspace is writable. Any other TMPDIR outside the temporary roots, or a
    root itself, is refused rather than made writable.
    """
    raw = env.get("TMPDIR")
    if raw is None:
        return None
    text = raw.rstrip("/") or "/"
    if text in SHARED_TMP:
        return None
    path = _absolute(text, "TMPDIR")
    for root, depth in TMP_ROOTS:
        if path != root and _is_under(path, root) and len(path[len(root) :].strip("/").split("/")) >= depth:
            return path
    raise ValueError(f"TMPDIR must be a per-run directory under {[r for r, _ in TMP_ROOTS]}: {raw!r}")


def _network_block(spec: SandboxSpec) -> tuple[str, list[str]]:
    """The network section and the files it needs readable again at the end (the CA bundle)."""
    policy = spec.network
    if policy.mode == "none":
        return _template("network_none.sb"), []
    if policy.mode != "proxy":
        raise ValueError(f"unknown network mode {policy.mode!r}")
    port = policy.inside_port
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ValueError(f"proxy port must be 1..65535: {port!r}")
    # proxy_socket is not used on macOS: the Linux forwarder needs it because the sandbox has a
    # loopback of its own there; here `inside_port` is the daemon's port on the host's loopback.
    text = _fill(_template("network_proxy.sb"), {"PROXY_ENDPOINT": quote(f"localhost:{port}")})
    reallow = [_absolute(policy.ca_bundle, "CA bundle")] if policy.ca_bundle is not None else []
    return text, reallow


# ---- templates ------------------------------------------------------------------------------------


@cache
def _template(name: str) -> str:
    # Beside this module (package data `vshell.sbpl: templates/*.sb`); no importlib.resources on the
    # hot path: it costs more to import than rendering a profile.
    return (_TEMPLATES / name).read_text(encoding="utf-8")


def _fill(template: str, values: Mapping[str, str]) -> str:
    """Replace every `@@NAME@@` in one pass (inserted text is never rescanned); all must be used."""
    seen: set[str] = set()

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise ValueError(f"template placeholder @@{name}@@ has no value")
        seen.add(name)
        return values[name]

    text = _PLACEHOLDER.sub(replace, template)
    unused = sorted(set(values) - seen)
    if unused:
        raise ValueError(f"template has no placeholder for {unused}")
    return text


# ---- public interface -----------------------------------------------------------------------------


def render_profile(spec: SandboxSpec) -> str:
    """The SBPL profile for `spec`. Raises ValueError when the spec cannot be expressed safely."""
    home = _absolute(spec.home, "home")
    workspace = _absolute(spec.workspace, "workspace")
    if home == "/":
        raise ValueError("home cannot be / (it is readable inside the sandbox)")
    if _is_under(home, workspace):
        raise ValueError(f"workspace {workspace!r} would make the home directory writable")
    tmp = _private_tmp(spec.env)
    writable = [workspace, *([tmp] if tmp else [])]
    hidden = _hidden_paths(spec, home)
    # Existing protected entries the workspace scan found are denied by path too, on top of the
    # name regexes; pinned directories (on the way to them or to a state root) cannot be renamed.
    git_dirs = _unique(_absolute(p, "git directory") for p in spec.git_dirs)
    protected = _unique(
        [
            *(_absolute(p, "protected path") for p in (*spec.protected_paths, *spec.protected_found, *spec.watched)),
            # a git directory not named `.git`: its entries are denied by path, existing or not
            *(posixpath.join(d, name.rstrip("/")) for d in git_dirs for name in GIT_DIR_PROTECTED),
            *(posixpath.join(home, rel) for rel in HOME_NEVER_WRITABLE),
            *(posixpath.join(home, *_name_components(name)) for name in spec.protected_names),
        ]
    )
    pinned = _unique([*(_absolute(p, "pinned path") for p in spec.pinned), *git_dirs])
    network, reallow = _network_block(spec)
    profile = _fill(
        _template("base.sb"),
        {
            "HOME_READ": _rule("allow", ("file-read*",), _path_filters("subpath", [home])),
            "WRITABLE": _rule("allow", ("file-read*", "file-write*"), _path_filters("subpath", writable)),
            "NETWORK": network.rstrip("\n"),
            "HIDDEN": _hidden_block(hidden, writable),
            "PROTECTED_NAMES": _protected_names_block(spec.protected_names, workspace)
            + ("\n" + _git_dirs_block(git_dirs) if git_dirs else ""),
            "PROTECTED_PATHS": _protected_paths_block(protected, pinned),
            "REALLOW": _block(_rule("allow", ("file-read*",), _path_filters("literal", reallow))),
        },
    )
    check_profile(profile)
    return profile


def build_argv(spec: SandboxSpec) -> list[str]:
    """`["/usr/bin/sandbox-exec", "-p", PROFILE, *spec.argv]`; cwd and env are the runner's job."""
    if not spec.argv:
        raise ValueError("nothing to run: empty argv")
    if spec.argv[0].startswith("-"):
        raise ValueError(f"program name {spec.argv[0]!r} would be read as a sandbox-exec option")
    if any("\0" in arg for arg in spec.argv):
        raise ValueError("an argument contains a NUL byte")
    return [SANDBOX_EXEC, "-p", render_profile(spec), *spec.argv]
