"""Protected names in the workspace: found before a run (what bubblewrap binds read-only and pins)
and after it (what the run created, moved to quarantine). vshell.sandbox builds the spec from the
first; vshell.runner.end_spec calls the second. Which names are protected is a table in
vshell.sandbox_spec (PROTECTED_NAMES, GIT_DIR_PROTECTED).

Every walk goes through directory file descriptors, one name at a time (openat with O_NOFOLLOW):
no path length limit applies (a run can nest directories far beyond PATH_MAX), a symlink is never
followed (a planted `x/.git -> ~/other/.git` must not make vsh look at, let alone move, anything
outside the workspace), and an error on one entry never stops the walk.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import stat
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from vshell import gitconfig
from vshell.errors import SandboxUnavailable
from vshell.sandbox_spec import under

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
# How many directories of the current branch a walk keeps open. Deeper ones are closed and found
# again through ".." (checked by identity) on the way back up: no depth exhausts file descriptors.
FD_WINDOW = 64
# bubblewrap mounts at "/newroot" + path and PATH_MAX is 4096 bytes with its NUL: a protected path
# longer than this cannot be bound read-only.
MAX_MOUNT_PATH = 4000
MAX_GITFILE = 1 << 20  # git ignores a larger `.git` file ("too large to be a .git file")
MAX_SYMLINK_HOPS = 40  # as the kernel's ELOOP limit
# What a quarantined path is renamed to, beside itself, when $VSH_HOME is on another filesystem
# (NAME + ASIDE_MARK + run id): a name no shell, editor, git or direnv reads.
ASIDE_MARK = ".vsh-quarantined-"

Rel = tuple[str, ...]  # path components below the workspace


@dataclass(frozen=True)
class Scan:
    """Existing protected paths (`found`, with their (dev, ino) in `ids`), the directories bound onto
    themselves (`pinned`), the git directories not named `.git` (`git_dirs`) and the absent paths a
    repository's config names (`watched`): see SandboxSpec."""

    found: tuple[Path, ...]
    pinned: tuple[Path, ...]
    ids: frozenset[tuple[int, int]]
    git_dirs: tuple[Path, ...] = ()
    watched: tuple[Path, ...] = ()  # named by a repository's config, absent at the start (see SandboxSpec)


def _name_table(names: Sequence[str]) -> dict[str, tuple[tuple[str, ...], ...]]:
    """first component -> the remaining components to look for ( () = the entry itself )."""
    table: dict[str, list[tuple[str, ...]]] = {}
    for name in names:
        parts = tuple(p for p in name.strip("/").split("/") if p)
        if parts:
            table.setdefault(parts[0], []).append(parts[1:])
    # `.git` as a file is a gitdir pointer: rewriting it would hand git an attacker's hooks.
    table.setdefault(".git", []).append(())
    return {k: tuple(v) for k, v in table.items()}


def _git_rests(table: Mapping[str, tuple[tuple[str, ...], ...]]) -> list[tuple[str, ...]]:
    """The protected entries of every git directory: what the names say below `.git/`."""
    return [rest for rest in table[".git"] if rest]


def looks_like_git_dir(names: Iterable[str]) -> bool:
    """Whether a directory with these entries may be taken by git for a git directory (a bare
    repository, a separate git dir): git wants HEAD with objects/ and refs/, or a commondir naming
    where they are. A superset of git's own test: the entries' contents are not read."""
    present = set(names)
    return "HEAD" in present and ({"objects", "refs"} <= present or "commondir" in present)


@dataclass
class _Listing:
    """One directory of a walk. `fd` stays open until the walk moves on; `descend` (every
    subdirectory, symlinks excluded, to begin with) is where the walk goes next: remove names to skip."""

    fd: int
    rel: Rel
    names: list[str]
    descend: list[str]


@dataclass
class _Frame:
    fd: int  # -1 once closed by the window (FD_WINDOW)
    rel: Rel
    todo: list[str]
    ident: tuple[int, int] | None = None  # taken when the window closes it


def _ident(st: os.stat_result) -> tuple[int, int]:
    return (st.st_dev, st.st_ino)


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


def _unlock(fd: int) -> None:
    """Give the owner (us: the run's files are ours) read, write and search on the directory open at
    `fd`: the run may have closed a directory to us (chmod 000, 555) to hide what it planted in it."""
    os.chmod(fd, stat.S_IMODE(os.fstat(fd).st_mode) | 0o700)


def _open_dir(parent: int, name: str, *, unlock: bool = False) -> int:
    """The directory `name` in `parent`, opened without following a symlink. unlock: when
    permissions refuse, give the owner access (to `parent`, then to it) and try again."""
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=parent)
    except PermissionError:
        if not unlock:
            raise
    _unlock(parent)
    st = os.stat(name, dir_fd=parent, follow_symlinks=False)
    if not stat.S_ISDIR(st.st_mode):
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), name)
    # By name, following: checked just above to be a directory, and nothing of the run is left to
    # swap it (Linux has no fchmodat that refuses symlinks).
    os.chmod(name, stat.S_IMODE(st.st_mode) | 0o700, dir_fd=parent)
    return os.open(name, _DIR_FLAGS, dir_fd=parent)


def _open_rel(fd: int, rel: Rel) -> int | None:
    """The directory `rel` below `fd`, one component at a time, no symlink followed; None when any
    component is missing, not a directory, a symlink or unreadable."""
    cur = fd
    try:
        for comp in rel:
            nxt = os.open(comp, _DIR_FLAGS, dir_fd=cur)
            if cur != fd:
                os.close(cur)
            cur = nxt
    except OSError:
        if cur != fd:
            os.close(cur)
        return None
    return os.dup(fd) if cur == fd else cur


def _list(fd: int, rel: Rel) -> _Listing:
    names: list[str] = []
    dirs: list[str] = []
    with os.scandir(fd) as it:
        for e in it:
            names.append(e.name)
            if _is_dir(e):
                dirs.append(e.name)
    return _Listing(fd, rel, names, dirs)


def _refind(stack: list[_Frame], child_fd: int) -> bool:
    """Open the directory of stack[-1] again (the window closed it): ".." of its child when that
    is the same directory, else name by name from the nearest open ancestor (stack[0] always is)."""
    frame = stack[-1]
    if child_fd >= 0:
        try:
            fd = os.open("..", _DIR_FLAGS, dir_fd=child_fd)
        except OSError:
            pass
        else:
            if frame.ident is not None and _ident(os.fstat(fd)) == frame.ident:
                frame.fd = fd
                return True
            os.close(fd)
    i = len(stack) - 2
    while stack[i].fd < 0:
        i -= 1
    again = _open_rel(stack[i].fd, frame.rel[len(stack[i].rel):])
    if again is None:
        return False
    if frame.ident is not None and _ident(os.fstat(again)) != frame.ident:
        os.close(again)
        return False
    frame.fd = again
    return True


def _walk(root: int, failed: Callable[[Rel, OSError], None], *, unlock: bool = False) -> Iterator[_Listing]:
    """Every directory below the one open at `root` (which stays open: it is the caller's), itself
    first, depth first, symlinks never followed. A directory that cannot be opened or listed goes to
    `failed` and the walk goes on. unlock: see _open_dir."""
    try:
        top = _list(root, ())
        stack = [_Frame(root, (), top.descend)]
    except OSError as e:
        failed((), e)
        return
    yield top
    try:
        while stack:
            frame = stack[-1]
            if not frame.todo:
                stack.pop()
                if stack and stack[-1].fd < 0 and not _refind(stack, frame.fd):
                    lost = stack[-1]
                    failed(lost.rel, OSError(errno.ESTALE, "the directory moved during the check"))
                    lost.todo.clear()
                if frame.fd >= 0 and frame.fd != root:
                    os.close(frame.fd)
                continue
            name = frame.todo.pop()
            rel = (*frame.rel, name)
            try:
                fd = _open_dir(frame.fd, name, unlock=unlock)
            except OSError as e:
                failed(rel, e)
                continue
            try:
                listing = _list(fd, rel)
            except OSError as e:
                os.close(fd)
                failed(rel, e)
                continue
            yield listing
            stack.append(_Frame(fd, rel, listing.descend))
            if len(stack) > FD_WINDOW + 1:
                old = stack[-FD_WINDOW - 2]
                if old.fd >= 0 and old.fd != root:
                    try:
                        old.ident = _ident(os.fstat(old.fd))
                    finally:
                        os.close(old.fd)
                        old.fd = -1
    finally:
        for f in stack:
            if f.fd >= 0 and f.fd != root:
                os.close(f.fd)


MAX_MODULE_DEPTH = 16  # nested submodules and slash-separated module names, within reason


def _inner_git_dirs_at(gitdir: int) -> list[Rel]:
    """The git directories kept inside the git directory open at `gitdir`, as components below it:
    submodules' (`modules/NAME`, NAME may contain slashes, and nested `modules/` inside those) and
    linked worktrees' (`worktrees/NAME`). A directory holding HEAD is one; others are looked into."""
    out: list[Rel] = []
    stack: list[tuple[Rel, int]] = [(("modules",), 0), (("worktrees",), 0)]
    while stack:
        rel, depth = stack.pop()
        if depth > MAX_MODULE_DEPTH:
            continue
        fd = _open_rel(gitdir, rel)
        if fd is None:
            continue
        try:
            with os.scandir(fd) as it:
                subs = [e.name for e in it if _is_dir(e)]
            for name in subs:
                sub = (*rel, name)
                try:
                    os.stat(f"{name}/HEAD", dir_fd=fd, follow_symlinks=False)
                except OSError:
                    stack.append((sub, depth + 1))
                    continue
                out.append(sub)
                stack.append(((*sub, "modules"), depth + 1))
        except OSError:
            continue
        finally:
            os.close(fd)
    return out


def _git_dir_and_inner(fd: int, rel: Rel, failed: Callable[[Rel], None] | None) -> Iterator[tuple[int, Rel]]:
    """The git directory open at `fd` (at `rel`), then each inner one (submodules, worktrees),
    opened in turn and closed after its turn; one that cannot be opened goes to `failed`."""
    yield fd, rel
    for inner in _inner_git_dirs_at(fd):
        sub = _open_rel(fd, inner)
        if sub is None:
            if failed is not None:
                failed((*rel, *inner))
            continue
        try:
            yield sub, (*rel, *inner)
        finally:
            os.close(sub)


def inner_git_dirs(gitdir: Path) -> list[Path]:
    """The git directories kept inside the `.git` directory `gitdir` (see _inner_git_dirs_at)."""
    try:
        fd = os.open(gitdir, _DIR_FLAGS)
    except OSError:
        return []
    try:
        return [gitdir.joinpath(*rel) for rel in _inner_git_dirs_at(fd)]
    finally:
        os.close(fd)


def _read_regular(dir_fd: int, name: str, limit: int) -> bytes | None:
    """The first `limit` + 1 bytes at most of regular file `name` in `dir_fd` (symlinks not
    followed); None when it is not a regular file or unreadable."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=dir_fd)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        data = b""
        while len(data) <= limit:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            data += chunk
        return data
    except OSError:
        return None
    finally:
        os.close(fd)


def read_gitfile(dir_fd: int, name: str = ".git") -> str | None:
    """The pointer of the `gitdir: POINTER` file `name` in `dir_fd`, read as git reads it (trailing
    CR/LF dropped, up to a NUL); None when it is not a regular file, unreadable or not a pointer."""
    data = _read_regular(dir_fd, name, MAX_GITFILE)
    if data is None or len(data) > MAX_GITFILE or not data.startswith(b"gitdir: "):
        return None
    pointer = data.rstrip(b"\r\n")[8:].split(b"\0", 1)[0]
    return os.fsdecode(pointer) if pointer else None


MAX_CONFIG = 1 << 20
MAX_INCLUDE_DEPTH = 10  # as git's own limit
SPECIAL_GIT = ".git"
HUSKY_DIR = "_"  # husky 9 sets core.hooksPath to .husky/_, whose hooks run the scripts in .husky/


def _pointer_target(workspace: Path, rel: Rel, pointer: str, what: str = "") -> Rel | None:
    """Where `gitdir: POINTER` in the `.git` file of WORKSPACE/REL leads (relative to that
    directory, as git resolves it), as components below the workspace; None when outside it (where
    nothing is writable) or unresolvable. Resolved a component at a time as the kernel would; a
    symlink inside the workspace on the way raises ProtectedSymlink: the run could repoint it. What
    does not exist yet is taken literally (a git directory made there is still one by its entries)."""
    text = pointer if pointer.startswith("/") else f"{workspace.joinpath(*rel)}/{pointer}"
    todo = deque(text.split("/"))
    cur = Path("/")
    hops = 0
    while todo:
        comp = todo.popleft()
        if comp in ("", "."):
            continue
        if comp == "..":
            cur = cur.parent
            continue
        nxt = cur / comp
        try:
            st = os.lstat(nxt)
        except FileNotFoundError:
            for rest in (comp, *todo):
                cur = cur.parent if rest == ".." else (cur if rest in ("", ".") else cur / rest)
            break
        except OSError:
            return None
        if stat.S_ISLNK(st.st_mode):
            if under(nxt, workspace):
                raise ProtectedSymlink(
                    f"refusing to start: {nxt} is a symlink on the way to "
                    f"{what or f'the git directory that {workspace.joinpath(*rel, SPECIAL_GIT)} points to'}",
                    hint="replace the symlink with the real directory (a symlink cannot be protected)")
            hops += 1
            if hops > MAX_SYMLINK_HOPS:
                return None
            try:
                link = os.readlink(nxt)
            except OSError:
                return None
            todo.extendleft(reversed(link.split("/")))
            if link.startswith("/"):
                cur = Path("/")
            continue
        cur = nxt
    return cur.relative_to(workspace).parts if under(cur, workspace) else None


def _rel(workspace: Path, p: Path) -> Rel | None:
    return p.relative_to(workspace).parts if under(p, workspace) else None


def _relunder(rel: Rel, root: Rel) -> bool:
    return rel[: len(root)] == root


class Unprotectable(SandboxUnavailable):
    """Part of the workspace cannot be protected: the run does not start."""


class ProtectedSymlink(Unprotectable):
    """A protected path is a symlink: it cannot be mounted over safely, so the run does not start."""


def scan_workspace(workspace: Path, names: Sequence[str], *, skip: Iterable[Path] = (), home: Path | None = None,
                   global_configs: Sequence[Path] = ()) -> Scan:
    """Walk the workspace for protected names at any depth (see the walk's notes above).

    Git directories (`.git` directories, bare repositories, the targets of the `gitdir:` pointers of
    `.git` files) are pinned (bound onto themselves) and their protected entries collected, with
    those of the submodules' and worktrees' git directories inside them; a `.git` file is protected
    itself. What each repository's config names in the workspace (see vshell.gitconfig), and what
    `global_configs` (the host's global and system git config) name there, is protected too:
    existing paths found, absent ones `watched`; `home` expands `~/` in them. `skip`: trees not
    walked (the state root, hidden paths). A protected path, or a
    directory on the way to one, that is a symlink raises ProtectedSymlink. What cannot be read is
    passed over: it is not in `ids`, so the end of the run takes it for new.
    """
    table = _name_table(names)
    git_rests = _git_rests(table)
    skipped = [r for r in (_rel(workspace, p) for p in skip) if r is not None]
    found: dict[Rel, None] = {}
    pinned: dict[Rel, None] = {}
    git_dirs: dict[Rel, None] = {}
    ids: set[tuple[int, int]] = set()
    pointers: list[tuple[Rel, str]] = []

    def take(fd: int, rel: Rel, parts: Rel) -> None:
        opened: list[int] = []
        try:
            cur = fd
            for i, comp in enumerate(parts):
                try:
                    st = os.stat(comp, dir_fd=cur, follow_symlinks=False)
                except OSError:
                    return
                if stat.S_ISLNK(st.st_mode):
                    p = workspace.joinpath(*rel, *parts[:i + 1])
                    what = "" if i == len(parts) - 1 else f", on the way to {workspace.joinpath(*rel, *parts)},"
                    raise ProtectedSymlink(
                        f"refusing to start: protected path {p}{what} is a symlink",
                        hint="replace the symlink with the file it points to (a symlink cannot be protected)")
                if i == len(parts) - 1:
                    found[(*rel, *parts)] = None
                    ids.add(_ident(st))
                    return
                if not stat.S_ISDIR(st.st_mode):
                    return
                try:
                    cur = os.open(comp, _DIR_FLAGS, dir_fd=cur)
                except OSError:
                    return
                opened.append(cur)
        finally:
            for o in opened:
                os.close(o)

    # What the repositories' config names: (kind, value, directory of the config file (None:
    # outside the workspace, value already absolute), the worktree tops it applies to, depth).
    named_by_config: list[tuple[str, str, Rel | None, tuple[Rel, ...], int]] = []
    all_tops: dict[Rel, None] = {}

    def parsed(data: bytes | None, where: Path) -> list[tuple[str, str]]:
        if data is None:
            return []
        if len(data) > MAX_CONFIG:
            raise Unprotectable(f"refusing to start: git config {where} is over {MAX_CONFIG} bytes")
        try:
            return gitconfig.named(data)
        except gitconfig.GitConfigError as e:
            raise Unprotectable(f"refusing to start: cannot read git config {where} ({e})",
                                hint="fix it (`git config --list` shows git's own complaint): vsh must read "
                                     "it to protect the hooks and programs it names") from None

    def protect_git_dir(fd: int, rel: Rel) -> None:
        if rel:
            pinned[rel] = None
        tops: dict[Rel, None] = {}
        configs: list[tuple[list[tuple[str, str]], Rel]] = []
        for git_fd, git_rel in _git_dir_and_inner(fd, rel, None):
            for rest in git_rests:
                take(git_fd, git_rel, rest)
            tops[git_rel[:-1] if git_rel and git_rel[-1] == SPECIAL_GIT else git_rel] = None
            # a linked worktree's git directory names the worktree's `.git` file in `gitdir`
            pointer = _read_regular(git_fd, "gitdir", MAX_GITFILE)
            if pointer is not None and len(pointer) <= MAX_GITFILE:
                top = _rel(workspace, Path(os.fsdecode(pointer.strip())).parent)
                if top is not None:
                    tops[top] = None
            for name in ("config", "config.worktree"):
                items = parsed(_read_regular(git_fd, name, MAX_CONFIG), workspace.joinpath(*git_rel, name))
                configs.append((items, git_rel))
                for kind, value in items:  # a submodule's worktree, relative to its git directory
                    if kind == "worktree" and (top := _pointer_target(workspace, git_rel, value)) is not None:
                        tops[top] = None
        all_tops.update(tops)
        for items, config_dir in configs:  # a repository's config applies in all its worktrees
            named_by_config.extend((kind, value, config_dir, tuple(tops), 0) for kind, value in items)

    def protect_config_named(root: int) -> list[Rel]:
        """Paths in the workspace that the repositories' config (and the global and system config)
        names: hook directories, included config files (followed), programs git runs. Existing ones
        are protected like `.git/hooks`; all are returned (the absent ones are watched: moved away if
        the run makes them)."""
        for path in global_configs:
            try:
                data = path.read_bytes()
            except OSError:
                continue  # absent: git reads nothing there either
            for kind, value in parsed(data, path):
                if kind == "include" and not value.startswith(("/", "~")):
                    value = str(path.parent / value)
                named_by_config.append((kind, value, None, tuple(all_tops), 0))
        targets: dict[Rel, None] = {}

        def resolve(value: str, base: Rel | None, what: str) -> Rel | None:
            if value.startswith("~/") and home is not None:
                value = str(home / value[2:])
            if not value or value.startswith("~") or (base is None and not value.startswith("/")):
                return None  # another user's home, or outside the workspace: read-only there
            target = _pointer_target(workspace, base or (), value, what)
            if not target or any(_relunder(target, s) for s in skipped):
                return None
            return target

        while named_by_config:
            kind, value, config_dir, tops, depth = named_by_config.pop()
            what = f"{value!r}, named by git config in {workspace.joinpath(*config_dir) if config_dir else 'the home'}"
            if kind == "include":
                target = resolve(value, config_dir, what)
                if target is None or target in targets:
                    continue
                targets[target] = None
                parent = _open_rel(root, target[:-1]) if depth < MAX_INCLUDE_DEPTH else None
                if parent is not None:
                    try:
                        items = parsed(_read_regular(parent, target[-1], MAX_CONFIG), workspace.joinpath(*target))
                    finally:
                        os.close(parent)
                    named_by_config.extend((k, v, target[:-1], tops, depth + 1) for k, v in items)
                continue
            words = [value] if kind == "hooks" else gitconfig.program_paths(value) if kind == "program" else []
            for word in words:  # relative ones run from the top of whichever worktree git is in
                for base in (tops if not word.startswith(("/", "~")) else (None,)):
                    target = resolve(word, base, what)
                    if target is not None:
                        targets[target] = None
                        if kind == "hooks" and target[-1] == HUSKY_DIR:
                            targets[target[:-1]] = None
        for target in targets:
            take(root, (), target)
        return list(targets)

    skip_at: dict[Rel, set[str]] = {}
    for r in skipped:
        if r:
            skip_at.setdefault(r[:-1], set()).add(r[-1])
    root = os.open(workspace, _DIR_FLAGS)
    try:
        for d in _walk(root, lambda rel, e: None):
            if d.rel in skip_at:
                d.descend[:] = [n for n in d.descend if n not in skip_at[d.rel]]
            hits = [name for name in d.names if name in table or name == "HEAD"]
            if "HEAD" in hits and looks_like_git_dir(d.names):
                if d.rel:
                    git_dirs[d.rel] = None
                protect_git_dir(d.fd, d.rel)
            for name in hits:
                rests = table.get(name)
                if rests is None:
                    continue
                if name == ".git" and name in d.descend:
                    d.descend.remove(name)  # nothing else inside .git is protected by name
                    sub = _open_rel(d.fd, (name,))
                    if sub is not None:
                        try:
                            protect_git_dir(sub, (*d.rel, name))
                        finally:
                            os.close(sub)
                    continue
                if name == ".git":
                    pointer = read_gitfile(d.fd)
                    if pointer is not None:
                        pointers.append((d.rel, pointer))
                for rest in rests:
                    take(d.fd, d.rel, (name, *rest))
                if () in rests and name in d.descend:
                    d.descend.remove(name)  # protected as a whole: its inside cannot change
        for rel, pointer in pointers:
            target = _pointer_target(workspace, rel, pointer)
            if target is None or any(_relunder(target, s) for s in skipped):
                continue
            if target:
                git_dirs[target] = None
            fd = _open_rel(root, target)
            if fd is not None:
                try:
                    protect_git_dir(fd, target)
                finally:
                    os.close(fd)
        watched = {t: None for t in protect_config_named(root) if t not in found}
    finally:
        os.close(root)

    def paths(rels: Iterable[Rel]) -> tuple[Path, ...]:
        return tuple(workspace.joinpath(*r) for r in rels)

    return Scan(paths(found), paths(pinned), frozenset(ids), paths(git_dirs), paths(watched))


def quarantine_new_protected(workspace: Path, names: Sequence[str], before: Scan, state_root: Path,
                             run_id: str) -> list[tuple[Path, Path | None]]:
    """After a run: move every protected path that appeared during it out of the workspace.

    Existing protected paths were mounted read-only, so they kept their (dev, ino); anything with a
    protected name and a new identity was created inside the sandbox (a fresh `.envrc`, a
    `.vscode/tasks.json` in a new directory, a `.git/hooks` after `mv .git .g`, a `config` in a
    directory made to look like a git directory). Host tools must never see it, so it goes to
    $VSH_HOME/quarantine/RUN_ID/ (kept for the person to inspect; renamed beside itself, NAME +
    ASIDE_MARK + RUN_ID, when $VSH_HOME is on another filesystem). A symlink standing where a
    protected name's directory belongs (`x/.git -> elsewhere`, `.config -> elsewhere`) is moved
    itself: nothing outside the workspace is ever looked into or moved. The git directories of
    `before.git_dirs` and the paths of `before.watched` are checked even where the walk does not
    reach them.

    Returns (from, to) pairs; `to` is None when a path could not be checked or moved (the caller must
    say so loudly). Errors are per entry: the walk always goes to the end.
    """
    table = _name_table(names)
    git_rests = _git_rests(table)
    moved: list[tuple[Path, Path | None]] = []
    target_root = state_root / "quarantine" / run_id
    state_rel = _rel(workspace, state_root)

    def failed(rel: Rel, e: OSError | None = None) -> None:
        moved.append((workspace.joinpath(*rel), None))

    def move(parent: int, rel: Rel, name: str) -> None:
        try:
            dest = _dest_dir(target_root, rel)
        except OSError:
            failed((*rel, name))
            return
        try:
            try:
                os.rename(name, name, src_dir_fd=parent, dst_dir_fd=dest)
            except PermissionError:
                # the run may have made the directory read-only; moving a directory rewrites its ".."
                _unlock(parent)
                st = os.stat(name, dir_fd=parent, follow_symlinks=False)
                if stat.S_ISDIR(st.st_mode):
                    os.chmod(name, stat.S_IMODE(st.st_mode) | 0o700, dir_fd=parent)
                os.rename(name, name, src_dir_fd=parent, dst_dir_fd=dest)
            except OSError as e:
                if e.errno != errno.EXDEV:
                    raise
                # $VSH_HOME is on another filesystem. Never copy (a FIFO, a socket or a full disk
                # would stop a copy half-way, leaving the original in place): a rename in the same
                # directory cannot cross filesystems, and no host tool reads the name it gets.
                aside = f"{name}{ASIDE_MARK}{run_id}"
                os.rename(name, aside, src_dir_fd=parent, dst_dir_fd=parent)
                moved.append((workspace.joinpath(*rel, name), workspace.joinpath(*rel, aside)))
                return
        except OSError:
            failed((*rel, name))
            return
        finally:
            os.close(dest)
        moved.append((workspace.joinpath(*rel, name), target_root.joinpath(*rel, name)))

    def check(fd: int, rel: Rel, parts: Rel) -> None:
        opened: list[int] = []
        cur = fd
        try:
            for i, comp in enumerate(parts):
                here = (*rel, *parts[:i])
                try:
                    st = os.stat(comp, dir_fd=cur, follow_symlinks=False)
                except (FileNotFoundError, NotADirectoryError):
                    return
                except PermissionError:
                    _unlock(cur)
                    st = os.stat(comp, dir_fd=cur, follow_symlinks=False)
                if i == len(parts) - 1 or stat.S_ISLNK(st.st_mode):
                    if _ident(st) not in before.ids:
                        move(cur, here, comp)
                    return
                if not stat.S_ISDIR(st.st_mode):
                    return
                cur = _open_dir(cur, comp, unlock=True)
                opened.append(cur)
        except FileNotFoundError:
            return
        except OSError:
            failed((*rel, *parts))
        finally:
            for o in opened:
                os.close(o)

    def check_git_dir(fd: int, rel: Rel) -> None:
        for git_fd, git_rel in _git_dir_and_inner(fd, rel, failed):
            for rest in git_rests:
                check(git_fd, git_rel, rest)

    def check_chain(root: int, rel: Rel) -> None:
        """The git directory at `rel`, reached one directory at a time; a symlink on the way (one
        made by the run: the scan refused old ones) is moved itself."""
        if state_rel is not None and _relunder(rel, state_rel):
            return
        opened: list[int] = []
        cur = root
        try:
            for i, comp in enumerate(rel):
                try:
                    st = os.stat(comp, dir_fd=cur, follow_symlinks=False)
                except (FileNotFoundError, NotADirectoryError):
                    return
                if stat.S_ISLNK(st.st_mode):
                    if _ident(st) not in before.ids:
                        move(cur, rel[:i], comp)
                    return
                if not stat.S_ISDIR(st.st_mode):
                    return
                cur = _open_dir(cur, comp, unlock=True)
                opened.append(cur)
            check_git_dir(cur, rel)
        except OSError:
            failed(rel)
        finally:
            for o in opened:
                os.close(o)

    try:
        root = os.open(workspace, _DIR_FLAGS)
    except OSError:
        failed(())
        return moved
    try:
        for d in _walk(root, failed, unlock=True):
            if state_rel and d.rel == state_rel[:-1] and state_rel[-1] in d.descend:
                d.descend.remove(state_rel[-1])
            hits = [name for name in d.names if name in table or name == "HEAD"]
            if "HEAD" in hits and looks_like_git_dir(d.names):
                check_git_dir(d.fd, d.rel)
            for name in hits:
                rests = table.get(name)
                if rests is None:
                    continue
                if name == ".git" and name in d.descend:
                    d.descend.remove(name)
                    try:
                        sub = _open_dir(d.fd, name, unlock=True)
                    except OSError:
                        failed((*d.rel, name))
                        continue
                    try:
                        check_git_dir(sub, (*d.rel, name))
                    finally:
                        os.close(sub)
                    continue
                for rest in rests:
                    check(d.fd, d.rel, (name, *rest))
                if () in rests and name in d.descend:
                    d.descend.remove(name)  # read-only all along, or just moved away
        for p in before.git_dirs:
            rel = _rel(workspace, p)
            if rel is not None:
                check_chain(root, rel)
        for p in before.watched:  # absent at the start, named by a repository's config
            rel = _rel(workspace, p)
            if rel:
                check(root, (), rel)
    finally:
        os.close(root)
    return moved


def _dest_dir(root: Path, rel: Rel) -> int:
    """ROOT/REL (made, 0700, as needed), open; by descriptors, as deep as the workspace went."""
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(root, _DIR_FLAGS)
    try:
        for comp in rel:
            with contextlib.suppress(FileExistsError):
                os.mkdir(comp, 0o700, dir_fd=fd)
            nxt = os.open(comp, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = nxt
    except BaseException:
        os.close(fd)
        raise
    return fd


@functools.lru_cache(maxsize=8)
def _split_names(names: tuple[str, ...], fold: bool) -> tuple[frozenset[str], tuple[Rel, ...]]:
    """`.git` and `names` split into components (casefolded when `fold`): the one-component ones as
    a set, the others as tuples. Cached: the warm server judges every run's workspace."""
    wanted = [tuple(c.casefold() if fold else c for c in name.split("/") if c) for name in (".git/", *names)]
    return frozenset(w[0] for w in wanted if len(w) == 1), tuple(w for w in wanted if len(w) > 1)


def protected_refusal(workspace: Path, names: Sequence[str]) -> str | None:
    """Why `workspace` may not be one because it is, or is inside, a protected directory (the
    whole tree would be writable): a `.git` directory, a directory with a protected name (`.vscode`,
    `.git/hooks`, `.config/fish`, ...), or any git directory, whether recognised by its entries (a
    bare repository, a separate git dir) or as the target of a `gitdir:` pointer in a `.git` file
    beside one of its ancestors. None when it may: a workspace below a repository's working tree is
    fine. A few stat calls per ancestor; nothing is walked."""
    fold = str.casefold if sys.platform == "darwin" else str  # APFS matches names regardless of case
    parts = [fold(p) for p in workspace.parts[1:]]
    singles, longer = _split_names(tuple(names), sys.platform == "darwin")
    for i, part in enumerate(parts):
        hit = 1 if part in singles else next((len(w) for w in longer if tuple(parts[i:i + len(w)]) == w), 0)
        if hit:
            where = Path("/", *workspace.parts[1:i + hit + 1])
            inside = "is" if where == workspace else "is inside"
            return f"it {inside} {where}, which is protected (host tools run what it holds)"
    ancestors: list[str] = []  # the workspace and its parents, as text: Path costs more than the stat calls
    d = str(workspace)
    while d != "/":
        ancestors.append(d)
        d = os.path.dirname(d)
    for d in ancestors:
        if not os.path.lexists(f"{d}/HEAD"):
            continue
        entries = ["HEAD", *(n for n in ("objects", "refs", "commondir") if os.path.lexists(f"{d}/{n}"))]
        if looks_like_git_dir(entries):
            inside = "is" if d == ancestors[0] else "is inside"
            return f"it {inside} the git directory {d}, whose hooks and config host git runs"
    for d in ancestors[1:]:
        try:
            if not stat.S_ISREG(os.lstat(f"{d}/.git").st_mode):
                continue
            fd = os.open(d, _DIR_FLAGS)
        except OSError:
            continue
        try:
            pointer = read_gitfile(fd)
        finally:
            os.close(fd)
        if pointer is None:
            continue
        target = Path(os.path.realpath(os.path.join(d, pointer)))
        if under(workspace, target):
            return f"it is or is inside the git directory {target}, which {d}/.git points to"
    return None
