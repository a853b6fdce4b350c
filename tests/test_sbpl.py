"""The macOS backend: SBPL profiles rendered from a SandboxSpec, checked as text.

There is no macOS here, so profiles are verified by golden files, by the structural check in
vshell.sbpl.check, by reading them back (hostile path names must come back exactly, or be refused),
and by driving the darwin code path with only the final `sandbox-exec` call stubbed.

Golden files live in tests/data/sbpl/*.sb. After an intended change to the templates or the
renderer, regenerate them and review the diff:

    VSH_UPDATE_GOLDEN=1 /work/venv311/bin/pytest tests/test_sbpl.py -k golden
"""

from __future__ import annotations

import importlib.util
import os
import sys
import unicodedata
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from vshell.sbpl.check import Regex, Symbol, check_profile, read_profile
from vshell.sbpl.render import SANDBOX_EXEC, build_argv, quote, render_profile

from vshell.sandbox_spec import PROTECTED_NAMES, NetworkPolicy, SandboxSpec

GOLDEN = Path(__file__).resolve().parent / "data" / "sbpl"
HOME = Path("/Users/alice")


def make_spec(**changes: Any) -> SandboxSpec:
    base = SandboxSpec(
        argv=("bash", "-c", "make test"),
        cwd=HOME / "src" / "app",
        workspace=HOME / "src" / "app",
        home=HOME,
        env={"PATH": "/usr/bin:/bin", "HOME": str(HOME), "TMPDIR": "/private/tmp/vsh-run-0001"},
        hidden=(HOME / "Library" / "Application Support" / "vsh",),
        state_root=HOME / "Library" / "Application Support" / "vsh",
        protected_paths=(HOME / ".zshrc", HOME / ".bash_profile"),
    )
    return replace(base, **changes)


def strings_in(form: Any) -> Iterator[str]:
    if isinstance(form, str):
        yield form
    elif isinstance(form, tuple):
        for item in form:
            yield from strings_in(item)


def rule_shapes(profile: str) -> list[tuple[str, ...]]:
    """Each top-level form reduced to its head and operation names: injection would change this."""
    shapes = []
    for form in read_profile(profile):
        assert isinstance(form, tuple)
        shapes.append(
            tuple(x.name if isinstance(x, Symbol) else repr(x) for x in form if not isinstance(x, tuple))
        )
    return shapes


def writable_roots(profile: str) -> list[str]:
    """The subpaths of the one `(allow file-read* file-write* ...)` rule."""
    for form in read_profile(profile):
        head = form[:3] if isinstance(form, tuple) else ()
        if head == (Symbol("allow"), Symbol("file-read*"), Symbol("file-write*")):
            return [f[1] for f in form[3:] if isinstance(f, tuple) and f[0] == Symbol("subpath")]
    raise AssertionError("no writable rule")


# ---- golden files -----------------------------------------------------------------------------

GOLDEN_SPECS: dict[str, SandboxSpec] = {
    "no_network": make_spec(),
    "proxy": make_spec(
        network=NetworkPolicy(
            mode="proxy",
            proxy_socket=HOME / "Library" / "Application Support" / "vsh" / "proxy" / "proxy.sock",
            inside_port=3128,
            ca_bundle=HOME / "Library" / "Application Support" / "vsh" / "proxy" / "ca-bundle.pem",
        )
    ),
    # The default layout: the workspace is $VSH_HOME/workspace, inside the hidden state root.
    "workspace_in_state_root": make_spec(
        workspace=HOME / ".local/share/vsh/workspace",
        cwd=HOME / ".local/share/vsh/workspace",
        hidden=(HOME / ".local/share/vsh", HOME / "secrets"),
        state_root=HOME / ".local/share/vsh",
        env={"TMPDIR": "/var/folders/x1/abc123/T/vsh-run-7/"},
    ),
    # /tmp is a symlink to /private/tmp, and a decomposed name has a composed twin on APFS.
    "tmp_and_unicode": make_spec(
        workspace=Path("/tmp/cafe\u0301"),
        cwd=Path("/tmp/cafe\u0301"),
        env={},
        protected_paths=(),
    ),
}


@pytest.mark.parametrize("name", sorted(GOLDEN_SPECS))
def test_golden_profiles(name: str) -> None:
    profile = render_profile(GOLDEN_SPECS[name])
    check_profile(profile)
    path = GOLDEN / f"{name}.sb"
    if os.environ.get("VSH_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(profile, encoding="utf-8")
    assert path.exists(), f"missing golden file {path}; run with VSH_UPDATE_GOLDEN=1"
    assert profile == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("path", sorted(GOLDEN.glob("*.sb")), ids=lambda p: p.name)
def test_every_golden_file_passes_the_structural_check(path: Path) -> None:
    check_profile(path.read_text(encoding="utf-8"))


# ---- what the profile says ----------------------------------------------------------------------


def test_profile_starts_closed_and_ends_with_the_carve_outs() -> None:
    forms = read_profile(render_profile(make_spec()))
    assert forms[0] == (Symbol("version"), 1)
    assert forms[1] == (Symbol("deny"), Symbol("default"))
    denies = [i for i, f in enumerate(forms) if isinstance(f, tuple) and f[0] == Symbol("deny")]
    allows = [i for i, f in enumerate(forms) if isinstance(f, tuple) and f[0] == Symbol("allow")]
    # Seatbelt: the last matching rule wins. Every file deny must follow the allows it narrows
    # (the CA bundle re-allow, a literal read of one public file, is the one exception).
    hidden_deny = next(i for i in denies if Symbol("file-link") in forms[i])
    assert all(i < hidden_deny for i in allows[:-1])


def test_credential_stores_and_state_are_hidden() -> None:
    profile = render_profile(make_spec())
    hidden_rule = next(
        f
        for f in read_profile(profile)
        if isinstance(f, tuple) and f[:3] == (Symbol("deny"), Symbol("file-read*"), Symbol("file-write*"))
    )
    hidden = set(strings_in(hidden_rule))
    for rel in (
        ".ssh",
        ".aws",
        ".gnupg",
        ".netrc",
        ".git-credentials",
        ".config/gh",
        ".docker/config.json",
        ".kube",
    ):
        assert f"{HOME}/{rel}" in hidden
    assert f"{HOME}/Library/Application Support/vsh" in hidden
    assert f"{HOME}/Library/Keychains" in hidden


def test_workspace_and_private_tmp_are_the_only_writable_trees() -> None:
    assert writable_roots(render_profile(make_spec())) == [f"{HOME}/src/app", "/private/tmp/vsh-run-0001"]
    assert writable_roots(render_profile(make_spec(env={}))) == [f"{HOME}/src/app"]


def test_tmp_workspace_is_also_written_under_private() -> None:
    roots = writable_roots(render_profile(make_spec(workspace=Path("/tmp/ws"), env={})))
    assert roots == ["/tmp/ws", "/private/tmp/ws"]


def test_unicode_paths_get_both_normal_forms() -> None:
    decomposed = "/Users/jose\u0301"
    profile = render_profile(make_spec(home=Path(decomposed), workspace=Path(decomposed + "/w"), env={}))
    strings = set(strings_in(read_profile(profile)))
    assert decomposed + "/.ssh" in strings
    assert unicodedata.normalize("NFC", decomposed) + "/.ssh" in strings


def test_every_protected_name_is_denied_at_any_depth() -> None:
    profile = render_profile(make_spec())
    patterns = {f.pattern for f in _atoms(read_profile(profile)) if isinstance(f, Regex)}
    for name in PROTECTED_NAMES:
        first = name.rstrip("/").split("/")[0]
        expected = "/" + "".join(
            f"[{c.lower()}{c.upper()}]" if c.isalpha() else ("[.]" if c == "." else c) for c in first
        )
        assert any(p.startswith(expected) for p in patterns), name
    # .git itself can be neither created nor renamed away (mv .git .g / mv .g .git).
    assert "/[.][gG][iI][tT]$" in patterns


def _atoms(form: Any) -> Iterator[Any]:
    if isinstance(form, tuple):
        for item in form:
            yield from _atoms(item)
    else:
        yield form


def test_hidden_ancestors_cannot_be_renamed_when_state_is_inside_the_workspace() -> None:
    ws = HOME / "src" / "app"
    profile = render_profile(make_spec(state_root=ws / "sub" / ".vsh", hidden=()))
    unlink_rule = next(
        f
        for f in read_profile(profile)
        if isinstance(f, tuple) and f[:2] == (Symbol("deny"), Symbol("file-write-unlink"))
    )
    assert f"{ws}/sub" in set(strings_in(unlink_rule))


def test_network_none_has_no_network_allow() -> None:
    for form in read_profile(render_profile(make_spec())):
        assert isinstance(form, tuple)
        if form[0] == Symbol("allow"):
            assert not any(isinstance(x, Symbol) and x.name.startswith("network") for x in form)
            assert Symbol("system-socket") not in form


def test_proxy_mode_allows_only_the_proxy_port_on_loopback() -> None:
    spec = GOLDEN_SPECS["proxy"]
    network_allows = [
        f
        for f in read_profile(render_profile(spec))
        if isinstance(f, tuple)
        and f[0] == Symbol("allow")
        and any(isinstance(x, Symbol) and x.name.startswith("network") for x in f)
    ]
    endpoints = {s for f in network_allows for s in strings_in(f)}
    assert endpoints == {"localhost:3128"}
    assert [f[:2] for f in network_allows] == [(Symbol("allow"), Symbol("network-outbound"))]


def test_build_argv_is_a_list_with_the_exact_program_argv() -> None:
    spec = make_spec(argv=("printf", "%s\n", "a b", "$(id)", ""))
    argv = build_argv(spec)
    assert argv[:2] == [SANDBOX_EXEC, "-p"]
    assert argv[2] == render_profile(spec)
    assert argv[3:] == ["printf", "%s\n", "a b", "$(id)", ""]


# ---- refusals -----------------------------------------------------------------------------------

REFUSED: dict[str, dict[str, Any]] = {
    "workspace is /": {"workspace": Path("/")},
    "workspace is home": {"workspace": HOME},
    "workspace above home": {"workspace": Path("/Users")},
    "relative workspace": {"workspace": Path("src/app")},
    "workspace with ..": {"workspace": Path("/Users/alice/src/../app")},
    "home is /": {"home": Path("/")},
    "workspace is hidden": {"hidden": (HOME / "src" / "app",)},
    "unknown network mode": {"network": NetworkPolicy(mode="host")},
    "port 0": {"network": NetworkPolicy(mode="proxy", proxy_socket=Path("/s"), inside_port=0)},
    "port too big": {"network": NetworkPolicy(mode="proxy", proxy_socket=Path("/s"), inside_port=70000)},
    "port bool": {"network": NetworkPolicy(mode="proxy", proxy_socket=Path("/s"), inside_port=True)},
    "relative CA bundle": {"network": NetworkPolicy(mode="proxy", ca_bundle=Path("ca.pem"))},
    "TMPDIR is /var/tmp": {"env": {"TMPDIR": "/var/tmp"}},
    "TMPDIR in home": {"env": {"TMPDIR": "/Users/alice/tmp"}},
    "TMPDIR shared folders root": {"env": {"TMPDIR": "/var/folders/x1"}},
    "TMPDIR is the shared user temp": {"env": {"TMPDIR": "/var/folders/x1/abc123/T/"}},
    "TMPDIR relative": {"env": {"TMPDIR": "tmp"}},
    "protected name with caret": {"protected_names": ("a^b",)},
    "protected name non-ascii": {"protected_names": ("caf\u00e9",)},
    "protected name with backslash": {"protected_names": ("a\\b",)},
    "empty protected name": {"protected_names": ("",)},
    "protected name with ..": {"protected_names": ("../x",)},
    "protected name with quote": {"protected_names": ('.a"b',)},
    "empty argv": {"argv": ()},
    "argv looks like an option": {"argv": ("-p", "(allow default)")},
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_unsafe_specs_are_refused(case: str) -> None:
    with pytest.raises(ValueError):
        build_argv(make_spec(**REFUSED[case]))


# ---- hostile names --------------------------------------------------------------------------------

ESCAPED = [
    'quote"d',
    "back\\slash",
    "paren)(s",
    '#"regex',
    '"))(allow file-write* (subpath "/"))(deny default ("',
    "semi;colon",
    "caf\u00e9",
    "\u65e5\u672c",
    "rtl\u202eoverride",
    "emoji\U0001f600",
    "at@@HIDDEN@@",
    '\\"',
]
REJECTED = ["new\nline", "cr\rreturn", "nul\x00", "del\x7f", "c1\x85", "tab\tbed", "bad\udcffbyte"]


@pytest.mark.parametrize("name", ESCAPED)
def test_hostile_names_round_trip_exactly(name: str) -> None:
    benign = render_profile(make_spec(workspace=HOME / "w" / "X", hidden=(HOME / "h" / "X",)))
    workspace, hidden = f"{HOME}/w/{name}", f"{HOME}/h/{name}"
    profile = render_profile(make_spec(workspace=Path(workspace), hidden=(Path(hidden),)))
    check_profile(profile)
    strings = set(strings_in(read_profile(profile)))
    assert workspace in strings and hidden in strings
    assert writable_roots(profile)[0] == workspace
    # Same rules, same operations, same regexes: the name changed strings, never the structure.
    assert rule_shapes(profile) == rule_shapes(benign)
    assert regexes(profile) == regexes(benign)


def regexes(profile: str) -> set[str]:
    return {a.pattern for a in _atoms(read_profile(profile)) if isinstance(a, Regex)}


def test_configured_protected_names_are_used() -> None:
    profile = render_profile(make_spec(protected_names=(".git/hooks/", "Makefile.local", "my (notes)+1.txt")))
    assert "/[mM][aA][kK][eE][fF][iI][lL][eE][.][lL][oO][cC][aA][lL](/|$)" in regexes(profile)
    assert "/[mM][yY][ ][(][nN][oO][tT][eE][sS][)][+]1[.][tT][xX][tT](/|$)" in regexes(profile)
    assert not any("[vV][sS][cC]" in r for r in regexes(profile))


def test_found_protected_entries_and_pinned_directories_are_denied_by_path() -> None:
    ws = HOME / "src" / "app"
    spec = make_spec(protected_found=(ws / "sub" / ".git",), pinned=(ws / "sub",))
    forms = read_profile(render_profile(spec))
    denied_writes = {
        s for f in forms if f[:2] == (Symbol("deny"), Symbol("file-write*")) for s in strings_in(f)
    }
    no_rename = {
        s for f in forms if f[:2] == (Symbol("deny"), Symbol("file-write-unlink")) for s in strings_in(f)
    }
    assert f"{ws}/sub/.git" in denied_writes
    assert f"{ws}/sub" in no_rename


def test_tmpdir_slash_tmp_means_no_writable_tmp() -> None:
    for shared in ("/tmp", "/tmp/", "/private/tmp"):
        assert writable_roots(render_profile(make_spec(env={"TMPDIR": shared}))) == [f"{HOME}/src/app"]


@pytest.mark.parametrize("name", REJECTED, ids=repr)
def test_unrepresentable_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError):
        render_profile(make_spec(workspace=HOME / name))
    with pytest.raises(ValueError):
        render_profile(make_spec(hidden=(HOME / name,)))
    with pytest.raises(ValueError):
        quote(name)


def test_quote_escapes_only_backslash_and_quote() -> None:
    assert quote('a"b\\c(d)#"e') == '"a\\"b\\\\c(d)#\\"e"'
    assert read_profile(f"(x {quote(chr(92) * 3 + chr(34))})") == ((Symbol("x"), '\\\\\\"'),)


HOSTILE_CHARS = st.sampled_from([*'"\\()#;@ \n\r\t\x00\x7f\x85é\u0301\u202e\udcff/.', "\U0001f600"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(min_size=1, max_size=24), st.text(HOSTILE_CHARS, min_size=1, max_size=24)))
def test_any_name_is_refused_or_round_trips(name: str) -> None:
    workspace = str(Path(f"{HOME}/w/{name}"))  # what a Path makes of it ("a//" is "a")
    try:
        profile = render_profile(make_spec(workspace=Path(workspace), env={}))
    except ValueError:
        return
    check_profile(profile)
    roots = writable_roots(profile)
    assert roots[0] == workspace
    assert set(roots) <= {
        workspace,
        unicodedata.normalize("NFC", workspace),
        unicodedata.normalize("NFD", workspace),
    }
    assert rule_shapes(profile) == rule_shapes(render_profile(make_spec(workspace=HOME / "w" / "X", env={})))


# ---- the structural check -------------------------------------------------------------------------

GOOD = '(version 1)\n(deny default)\n(allow file-read* (subpath "/usr"))\n'
BAD_PROFILES: dict[str, str] = {
    "empty": "",
    "no version": '(deny default)\n(allow file-read* (subpath "/usr"))',
    "version 2": "(version 2)\n(deny default)",
    "deny default not first": '(version 1)\n(allow file-read* (subpath "/usr"))\n(deny default)',
    "allow default": "(version 1)\n(deny default)\n(allow default)",
    "unbalanced open": GOOD + '(allow file-read* (subpath "/x")',
    "unbalanced close": GOOD + ")",
    "unknown operation": GOOD + '(allow file-everything (subpath "/x"))',
    "unknown filter": GOOD + '(allow file-read* (prefix "/x"))',
    "unfiltered file-write": GOOD + "(allow file-write*)",
    "unfiltered network": GOOD + "(allow network*)",
    "unfiltered mach-lookup": GOOD + "(allow mach-lookup)",
    "subpath root": GOOD + '(allow file-write* (subpath "/"))',
    "relative path": GOOD + '(allow file-read* (subpath "usr"))',
    "newline escape": GOOD + '(allow file-read* (subpath "/a\\nb"))',
    "raw newline in string": GOOD + '(allow file-read* (subpath "/a\nb"))',
    "unterminated string": GOOD + '(allow file-read* (subpath "/a))',
    "regex with backslash": GOOD + '(allow file-read* (regex #"^/a\\.b"))',
    "unterminated regex": GOOD + '(allow file-read* (regex #"^/a',
    "regex given a string": GOOD + '(allow file-read* (regex "^/a"))',
    "bare atom": GOOD + "allow",
    "hash token": GOOD + "(allow file-read* #t)",
    "remote host": GOOD + '(allow network-outbound (remote ip "example.com:443"))',
    "remote port range": GOOD + '(allow network-outbound (remote ip "localhost:99999"))',
    "unix socket subpath": GOOD + '(allow network-outbound (remote unix-socket (subpath "/")))',
    "filter before operation": GOOD + '(allow (subpath "/x") file-read*)',
    "require-not two": GOOD + '(deny file-read* (require-not (subpath "/a") (subpath "/b")))',
    "too deep": GOOD + "(deny file-read* " + "(require-not " * 20 + '(subpath "/a")' + ")" * 21,
    "allow file-link": GOOD + '(allow file-link (subpath "/x"))',
    "allow file-clone": GOOD + '(allow file-read* file-clone (subpath "/x"))',
    "lambda": GOOD + '(define (f) (allow file-write* (subpath "/")))',
}


@pytest.mark.parametrize("case", sorted(BAD_PROFILES))
def test_check_rejects_malformed_or_widening_profiles(case: str) -> None:
    with pytest.raises(ValueError):
        check_profile(BAD_PROFILES[case])


def test_check_accepts_comments_and_strings_with_syntax_inside() -> None:
    check_profile(GOOD + '; a comment with ( and "\n(deny file-read* (subpath "/x;(\\")#\\"y"))\n')


# ---- the darwin code path -------------------------------------------------------------------------

HAS_SANDBOX = importlib.util.find_spec("vshell.sandbox") is not None
HAS_RUNNER = importlib.util.find_spec("vshell.runner") is not None


@pytest.mark.skipif(not HAS_SANDBOX, reason="vshell.sandbox (H-sandbox) not available yet")
def test_backend_argv_dispatches_to_sbpl_on_darwin(monkeypatch: pytest.MonkeyPatch) -> None:
    import vshell.sandbox as sandbox

    monkeypatch.setattr(sys, "platform", "darwin")
    spec = make_spec()
    assert sandbox.backend_argv(spec) == build_argv(spec)


FAKE_SANDBOX_EXEC = """#!{python}
# Stands in for /usr/bin/sandbox-exec: checks the profile, records it, runs the command unsandboxed.
import os, sys
from vshell.sbpl.check import check_profile
assert sys.argv[1] == "-p", sys.argv
check_profile(sys.argv[2])
with open({record!r}, "w", encoding="utf-8") as f:
    f.write(sys.argv[2])
with open({record!r} + ".session", "w", encoding="utf-8") as f:
    f.write("new" if os.getsid(0) == os.getpid() else "inherited")
os.execvp(sys.argv[3], sys.argv[3:])
"""


@pytest.fixture
def fake_sandbox_exec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Replace only the final sandbox-exec binary; everything before it runs for real."""
    import vshell.sbpl.render as render

    record = tmp_path / "profile-used.sb"
    script = tmp_path / "fake-sandbox-exec"
    script.write_text(FAKE_SANDBOX_EXEC.format(python=sys.executable, record=str(record)), encoding="utf-8")
    script.chmod(0o755)
    monkeypatch.setattr(render, "SANDBOX_EXEC", str(script))
    monkeypatch.setattr(sys, "platform", "darwin")
    return record


@pytest.mark.skipif(not HAS_RUNNER, reason="vshell.runner (H-sandbox) not available yet")
def test_run_spec_on_darwin_with_only_sandbox_exec_stubbed(
    tmp_path: Path, vsh_home: Path, fake_sandbox_exec: Path
) -> None:
    from vshell.runner import run_spec

    workspace = tmp_path / "ws"
    home = tmp_path / "home"
    workspace.mkdir()
    home.mkdir()
    spec = SandboxSpec(
        argv=("sh", "-c", 'printf "%s" "$PWD" > out.txt; exit 3'),
        cwd=workspace,
        workspace=workspace,
        home=home,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home)},
        state_root=vsh_home,
    )
    assert run_spec(spec) == 3
    assert (workspace / "out.txt").read_text() == str(workspace)
    used = fake_sandbox_exec.read_text(encoding="utf-8")
    check_profile(used)
    assert str(workspace) in set(strings_in(read_profile(used)))


def test_build_argv_runs_the_exact_argv_through_sandbox_exec(tmp_path: Path, fake_sandbox_exec: Path) -> None:
    import subprocess

    args = ("a b", "$(id)", "'q'", '"dq"', "", "--", "-p", "\\", "é")
    spec = make_spec(argv=("printf", "%s|", *args), workspace=tmp_path, cwd=tmp_path, env={})
    done = subprocess.run(build_argv(spec), capture_output=True, text=True, cwd=tmp_path, check=True)
    assert done.stdout == "".join(f"{a}|" for a in args)
    assert fake_sandbox_exec.read_text(encoding="utf-8") == render_profile(spec)


@pytest.mark.skipif(not HAS_RUNNER, reason="vshell.runner (H-sandbox) not available yet")
def test_build_spec_and_run_spec_on_darwin(tmp_path: Path, vsh_home: Path, fake_sandbox_exec: Path) -> None:
    """The spec H-sandbox builds for real (environment, hidden paths, scan) renders and runs."""
    from vshell.environment import Environment
    from vshell.runner import run_spec
    from vshell.sandbox import build_spec

    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    workspace = tmp_path / "ws"
    (workspace / ".git" / "hooks").mkdir(parents=True)
    environ = {"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "VSH_HOME": str(vsh_home)}
    env = Environment(environ=environ)
    spec = build_spec(
        env,
        env.config(),
        argv=("sh", "-c", "echo ok > made.txt"),
        workspace=workspace,
        cwd=workspace,
        network=NetworkPolicy(),
    )
    assert run_spec(spec) == 0
    assert (workspace / "made.txt").read_text() == "ok\n"
    forms = read_profile(fake_sandbox_exec.read_text(encoding="utf-8"))
    strings = set(strings_in(forms))
    assert str(home / ".ssh") in strings and str(vsh_home) in strings
    assert str(workspace / ".git") in strings  # found by the scan, denied by path too


@pytest.mark.skipif(not HAS_RUNNER, reason="vshell.runner (H-sandbox) not available yet")
def test_darwin_runner_starts_sandbox_exec_in_a_new_session(
    tmp_path: Path, vsh_home: Path, fake_sandbox_exec: Path
) -> None:
    from vshell.runner import run_spec

    (tmp_path / "ws").mkdir()
    spec = make_spec(
        argv=("true",),
        workspace=tmp_path / "ws",
        cwd=tmp_path / "ws",
        home=tmp_path,
        env={},
        state_root=vsh_home,
    )
    assert run_spec(spec) == 0
    assert Path(str(fake_sandbox_exec) + ".session").read_text() == "new"


def test_home_persistence_points_stay_denied_even_inside_a_workspace() -> None:
    forms = read_profile(render_profile(make_spec(workspace=HOME / "Library", env={})))
    allow_ws = next(
        i
        for i, f in enumerate(forms)
        if f[:3] == (Symbol("allow"), Symbol("file-read*"), Symbol("file-write*"))
    )
    denies = [
        (i, set(strings_in(f)))
        for i, f in enumerate(forms)
        if f[:2] == (Symbol("deny"), Symbol("file-write*"))
    ]
    for path in (HOME / "Library/LaunchAgents", HOME / ".gitconfig", HOME / ".bashrc", HOME / ".claude"):
        assert any(i > allow_ws and str(path) in found for i, found in denies), path


@pytest.mark.parametrize(("path", "denied"), [
    ("/ws/.git/modules/sub/hooks/post-checkout", True),
    ("/ws/.git/modules/libs/foo/hooks", True),
    ("/ws/.git/modules/outer/modules/inner/config", True),
    ("/ws/.GIT/Modules/sub/Config", True),
    ("/ws/.git/worktrees/wt/config.worktree", True),
    ("/ws/.git/worktrees/wt/commondir", True),
    ("/ws/.git/worktrees/wt/gitdir", True),
    ("/ws/.git/modules/sub/CommonDir", True),
    ("/ws/.git/modules/sub/objects/ab/cdef", False),
    ("/ws/.git/modules/sub/HEAD", False),
    ("/ws/src/modules/x/hooks/y", False),
    ("/ws/.git/modulesx/sub/hooks", False),
])
def test_submodule_and_worktree_git_dirs_are_protected_by_name(path: str, denied: bool) -> None:
    """git runs a submodule's hooks and reads its config from .git/modules/NAME: on macOS the
    profile denies writes there by name, existing or not (Python's re reads these literals alike)."""
    import re

    from vshell.sbpl.render import _inner_git_regex

    pattern = _inner_git_regex()[2:-1]
    assert bool(re.search(pattern, path)) is denied
    profile = render_profile(make_spec(workspace=Path("/ws"), env={}))
    assert _inner_git_regex() in profile


def test_git_dirs_not_named_git_are_protected_by_path() -> None:
    """A separate git dir (`gitdir:` pointer target) or a bare repository: its hooks, config,
    commondir... are denied by path, existing or not; it cannot be renamed; its submodules' git
    directories are denied by name below it."""
    import re

    from vshell.sbpl.render import _nested_git_regex

    ws = HOME / "src" / "app"
    forms = read_profile(render_profile(make_spec(git_dirs=(ws / ".gitdata",))))
    denied_writes = {
        s for f in forms if f[:2] == (Symbol("deny"), Symbol("file-write*")) for s in strings_in(f)
    }
    no_rename = {
        s for f in forms if f[:2] == (Symbol("deny"), Symbol("file-write-unlink")) for s in strings_in(f)
    }
    for name in ("hooks", "config", "config.worktree", "commondir", "gitdir"):
        assert f"{ws}/.gitdata/{name}" in denied_writes, name
    assert f"{ws}/.gitdata" in no_rename
    pattern = _nested_git_regex()[2:-1]
    assert pattern in regexes(render_profile(make_spec(git_dirs=(ws / ".gitdata",))))
    assert pattern not in regexes(render_profile(make_spec()))
    assert re.search(pattern, f"{ws}/.gitdata/modules/sub/hooks/post-checkout")
    assert not re.search(pattern, f"{ws}/.gitdata/objects/ab/cd")


def test_every_startup_file_is_a_protected_name() -> None:
    from vshell.sandbox_spec import GIT_DIR_PROTECTED, SHELL_STARTUP

    for name in (*SHELL_STARTUP, *(f".git/{n}" for n in GIT_DIR_PROTECTED)):
        assert name in PROTECTED_NAMES, name
    for name in (".bash_aliases", ".kshrc", ".cshrc", ".tcshrc", ".zlogout", ".xonshrc", ".config/fish/",
                 ".config/nushell/", ".login", ".logout", ".mkshrc"):
        assert name in SHELL_STARTUP, name
