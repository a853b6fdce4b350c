"""Red-team findings fixed in the data tables (report /tmp/rt-classifier/report.md: F6, F8, F9, F12-F18
and section C): each class of attack line has a minimum risk, the lines a person types every day
stay low, and each claim that a program writes a file or runs a command is checked against the real
program where it is installed."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pty
import select
import shutil
import signal
import struct
import subprocess
import termios
import time
from pathlib import Path

import pytest
from conftest import run_vsh

from vshell import tables
from vshell.classify import classify
from vshell.model import Risk

# (line, minimum risk): every line rated low (so allowed headless) before these fixes.
FIXED: list[tuple[str, str]] = [
    # F6: builtins that expand or evaluate their arguments
    ("compgen -W '$(rm -rf ~)' x", "high"),
    ("compgen -W '`rm -rf ~`' x", "high"),
    ("compgen -W'$(rm -rf ~)' x", "high"),
    ("compgen -W '${a[$(id)]}' x", "high"),
    ("compgen -A file -W '<(id)' x", "high"),
    ("compgen -o default -W'$(id)' x", "high"),
    ("compgen -W 'a' -W '$(id)' a", "high"),  # the last -W counts; every one is checked
    ("compgen -W \"$(cat words)\" x", "medium"),  # the output is expanded again
    ("compgen -W \"$list\" x", "medium"),
    ("complete -W '$(rm -rf ~)' ls", "high"),
    ("complete -o default -W '`id`' ls", "high"),
    ("sleep 0 & wait -n -p 'x[$(rm -rf ~)]'", "high"),
    ("wait -n -p 'a[`id`]'", "high"),
    ("wait -np 'a[`id`]'", "high"),
    ("wait -p \"$name\"", "medium"),
    ("read -a 'x[$(id)]'", "high"),
    ("printf -v 'x[$(id)]' 1", "high"),
    ("mapfile 'x[$(id)]'", "high"),
    ("jobs -x rm -rf ~", "high"),
    ("jobs -x touch pwn", "high"),
    ("bind -x '\"\\C-x\": rm -rf ~'", "medium"),
    # F8: the command hash and alias tables written as variables; pager and editor variables
    ("BASH_CMDS[ls]=/bin/rm; ls -rf ~", "high"),
    ("shopt -s expand_aliases\nBASH_ALIASES[ls]='rm -rf ~'\nls", "high"),
    ("BASH_CMDS[ls]=./evil; ls", "medium"),
    ("EXECIGNORE='/usr/bin/*'; ls", "medium"),
    ("SYSTEMD_PAGER='rm -rf ~' journalctl", "medium"),
    ("SYSTEMD_PAGERSECURE=0 journalctl", "medium"),
    ("SYSTEMD_LESS=x journalctl", "medium"),
    ("GH_PAGER='rm -rf ~' gh pr diff 1", "medium"),
    ("GH_BROWSER=./x gh pr view 1", "medium"),
    ("env MANROFFOPT=-U man ls", "medium"),
    ("export SUDO_EDITOR=./x; ls", "medium"),
    ("PS2='$(id)' ls", "medium"),
    # F9: set -k / set -a (and their -o and shopt -o spellings)
    ("set -k; bash -c : BASH_ENV=./evil.sh", "medium"),
    ("set -o keyword; bash -c : BASH_ENV=./evil.sh", "medium"),
    ("shopt -so keyword; bash -c : BASH_ENV=./evil.sh", "medium"),
    ("set -a; for BASH_ENV in ./evil.sh; do bash -c :; done", "medium"),
    ("set -o allexport", "medium"),
    ("set -eak", "medium"),
    # F12: less reading a lesskey file (LESSOPEN), and the z*less/z*more scripts passing options on
    ("less --lesskey-src=k f", "high"),
    ("less --lesskey-content=x f", "high"),
    ("less --lesskey-s=k f", "high"),
    ("less -k kbin f", "high"),
    ("zless '+!id' f.gz", "high"),
    ("zless --lesskey-src=k f.gz", "high"),
    ("bzless '+!id' f.bz2", "high"),
    ("zstdless '+!id' f.zst", "high"),
    ("zmore '+!id' f.gz", "high"),
    ("lzmore '+!id' f.lz", "high"),
    # F13: cargo configuration on every subcommand; tree and metadata write Cargo.lock and run rustc
    ("cargo tree --config 'build.rustc-wrapper=\"./w\"'", "medium"),
    ("cargo tree", "medium"),
    ("cargo metadata --format-version 1", "medium"),
    ("cargo version --config x=1", "medium"),
    ("cargo locate-project -Zunstable-options", "medium"),
    ("cargo --config 'build.rustc-wrapper=\"./w\"' version", "medium"),
    ("cargo -Zx search serde", "medium"),
    # F14: xargs/watch options with an optional (attached only) value do not consume the program
    ("echo x | xargs -i rm -rf {}", "high"),
    ("echo x | xargs -e rm -rf x", "high"),
    ("echo x | xargs -l rm -rf x", "high"),
    ("echo x | xargs --replace rm -rf {}", "high"),
    ("echo x | xargs --eof rm -rf x", "high"),
    ("echo x | xargs --max-lines rm -rf x", "high"),
    ("echo x | xargs -0 -i rm {}", "high"),
    # GNU env's signal options take an optional, attached value: the next word is the program
    ("env --ignore-signal rm -rf x", "high"),
    ("env --block-signal rm -rf x", "high"),
    ("env --default-signal rm -rf x", "high"),
    ("env --ignore-sig rm -rf x", "high"),
    ("env --block-signal=INT rm -rf x", "high"),
    ("watch -d rm -rf x", "high"),
    ("watch -g rm -rf x", "high"),
    # F15: git commands rated read-only that write files or refs
    ("git stash show --output=/tmp/x", "medium"),
    ("git stash list --output=x", "medium"),
    ("git whatchanged --output=x", "medium"),
    ("git reflog --output=x", "medium"),
    ("git rev-list --output=x HEAD", "medium"),
    ("git shortlog --output=x HEAD", "medium"),
    ("git diff-tree --output=x HEAD", "medium"),
    ("git diff-index --output=x HEAD", "medium"),
    ("git diff-files --output=x", "medium"),
    ("git blame --output=x f", "medium"),
    ("git diff-tree --ext-diff -p HEAD", "medium"),
    ("git cat-file --textconv HEAD:f", "medium"),
    ("git cat-file --filters HEAD:f", "medium"),
    ("git tag v1", "medium"),
    ("git tag v1 HEAD~1", "medium"),
    ("git branch evil", "medium"),
    ("git branch new HEAD", "medium"),
    ("git branch --track feature origin/feature", "medium"),
    ("git branch -M main", "medium"),
    ("git branch -C a b", "medium"),
    ("git fsck --lost-found", "medium"),
    ("git help -w log", "medium"),
    ("git help --web log", "medium"),
    # F16: `2`, `-`, `&1`, `5-` after `>`/`>>`/`&>` and as tee arguments are file names
    ("ls > 2", "medium"),
    ("ls > -", "medium"),
    ("ls > '&1'", "medium"),
    ("ls >> 5-", "medium"),
    ("ls &> 1", "medium"),
    ("ls 2> 1", "medium"),
    ("echo x | tee 1", "medium"),
    ("echo x | tee -", "medium"),
    ("echo x | tee -a -- -", "medium"),
    # F17: read-only programs' writing, deleting or executing options
    ("zstdcat -o out in.zst", "medium"),
    ("zstdcat --trace log in.zst", "medium"),
    ("zstdcat -o out --rm in.zst", "high"),
    ("lz4cat --rm in.lz4", "high"),
    ("info -o out ls", "medium"),
    ("info --output=out ls", "medium"),
    ("info --dribble=keys ls", "medium"),
    ("tree -R -L 1", "medium"),
    ("journalctl --update-catalog", "medium"),
    ("journalctl --cursor-file=c -n 5", "medium"),
    ("journalctl --smart-relinquish-var", "high"),
    ("ss -K dst 1.2.3.4", "high"),
    ("ss --kill dst 1.2.3.4", "high"),
    ("ss -D out", "medium"),
    ("man -C ./conf ls", "high"),
    ("man --config-file=./conf ls", "high"),
    ("hostname -F/tmp/n", "medium"),
    ("ack --ackrc=./rc foo", "high"),
    # F18: reading secrets and credentials; writing RBAC
    ("kubectl get -o yaml secrets", "medium"),
    ("kubectl get secrets/foo", "medium"),
    ("kubectl get all,secrets -A -o yaml", "medium"),
    ("kubectl get secret,configmap -o yaml", "medium"),
    ("kubectl get SECRETS", "medium"),
    ("kubectl get secrets.v1 -o json", "medium"),
    ("kubectl -n prod get -o json secret/db", "medium"),
    ("kubectl describe -n prod secrets", "medium"),
    ("kubectl get --raw /api/v1/namespaces/default/secrets", "medium"),
    ("kubectl auth reconcile -f x.yaml", "medium"),
    ("kubectl config view --raw", "medium"),
    ("kubectl config view --flatten --minify", "medium"),
    ("gh auth status -t", "medium"),
    ("gh auth status --show-token", "medium"),
    ("gh auth status -h github.com -t", "medium"),
    # Section C: browsers, go build tools, nohup.out
    ("npm docs --browser='sh -c id' x", "high"),
    ("npm home --browser=./x", "high"),
    ("npm bugs --browser ./x", "high"),
    ("npm repo --browser=./x", "high"),
    ("npm fund --browser=./x", "high"),
    ("npm help --viewer=browser install", "medium"),
    ("go list -toolexec ./x -export .", "high"),
    ("go list --toolexec=./x .", "high"),
    ("go vet -vettool=./x .", "high"),
    ("go test -exec ./x .", "high"),
    ("go build -toolexec='sh -c id' .", "high"),
    ("nohup ls", "medium"),
    # F11: global options before the subcommand (the subcommand's risk, and their own)
    ("pip --python ./evil list", "high"),
    ("pip --python=./evil list", "high"),
    ("pip --log out list", "medium"),
    ("kubectl --kubeconfig ./k get pods", "medium"),
    ("kubectl --profile-output=p get pods", "medium"),
    ("npm --userconfig ./rc ls", "medium"),
    ("git branch -- evil", "medium"),
]

# Lines that must keep (or already had) at least this risk; not all were low before.
GUARDS: list[tuple[str, str]] = [
    ("git symbolic-ref HEAD refs/heads/x", "medium"),
    ("git notes add -m x", "medium"),
    ("git update-ref refs/heads/x HEAD", "medium"),
    ("git format-patch -o /tmp/p -1", "medium"),
    ("complete -C ./c ls", "medium"),
    ("complete -F _f ls", "medium"),
    ("compgen -C ./c x", "high"),
    ("git branch -D x", "high"),
    ("git tag -d v1", "medium"),
    ("nohup rm x &", "high"),
    ("xzless -o out f.xz", "medium"),
    ("watch --differences rm -rf x", "high"),
    # Inside a cluster the rest is an optional-value option's value (the walker reads
    # `Wrapper.optional_value_opts`): `-iE` is -i with replace string E, not -i -E.
    ("echo x | xargs -iE rm -rf x", "high"),
    ("echo x | xargs -eE rm -rf x", "high"),
    ("watch -dn rm -rf x", "high"),
]

# Lines whose finding is about rules: some action must not be rule-eligible (a rule like `git log *`
# must not absorb a file write, `cargo tree *` must not absorb a configured program). Reading a
# secret (`kubectl get secrets`, `gh auth status -t`) stays eligible, as `gh auth token` is: a person
# may allow it by a rule.
INELIGIBLE: list[str] = [
    "git stash show --output=/tmp/x",
    "git rev-list --output=x HEAD",
    "git blame --output=x f",
    "git cat-file --textconv HEAD:f",
    "git fsck --lost-found",
    "git format-patch -o /tmp/p -1",
    "git help -w log",
    "cargo tree --config 'build.rustc-wrapper=\"./w\"'",
    "cargo -Zx build",
    "compgen -W '$(id)' x",
    "complete -C ./c ls",
    "jobs -x rm x",
    "less --lesskey-src=k f",
    "zless '+!id' f.gz",
    "zstdcat -o out in.zst",
    "tree -R",
    "set -o keyword",
    "ls > 2",
    "command time -o out ls",
    "pip --python ./evil list",
    "kubectl --kubeconfig ./k get pods",
    "npm --userconfig ./rc ls",
    "go -C sub run .",
]

# Everyday lines that must stay low (tolerance-allowed), including near neighbours of the fixes.
STAY_LOW: list[str] = [
    "git status", "git log --oneline -5", "git diff HEAD~1", "git show HEAD", "git log -p -- f",
    "git branch", "git branch -a", "git branch -r", "git branch -vv", "git branch --list",
    "git branch --list 'feat/*'", "git branch --show-current", "git branch --sort=-committerdate",
    "git tag", "git tag -l", "git tag -l 'v1.*'", "git tag --sort=-creatordate", "git tag -n",
    "git stash list", "git stash show -p", "git stash show stash@{1}", "git reflog", "git reflog -5",
    "git rev-list --count HEAD", "git shortlog -sn", "git blame f", "git cat-file -p HEAD", "git fsck",
    "git help log", "git help -a", "git diff-tree --no-commit-id --name-only -r HEAD", "git whatchanged -1",
    "kubectl get pods", "kubectl get pods -n kube-system -o wide", "kubectl get deploy,svc -o wide",
    "kubectl get configmaps", "kubectl describe pod secretary", "kubectl get pods -l app=secrets",
    "kubectl logs secret-rotator-1", "kubectl auth can-i list pods", "kubectl auth whoami", "kubectl config view",
    "gh auth status", "gh pr diff 1",
    "less README.md", "less -R log.txt", "zless f.gz", "more README.md", "zmore f.gz", "zcat f.gz",
    "zstdcat f.zst", "lz4cat f.lz4",
    "ls | xargs -I{} echo {}", "find . -name '*.py' | xargs grep -l foo", "ls | xargs -0 -n1 echo",
    "echo a,b | xargs -d , echo", "ls | xargs -i{} echo {}", "ls | xargs -r echo",
    "watch -n 1 ls", "watch -n 5 git status", "watch -d ls", "watch -d=permanent -n 5 git status",
    "cargo version", "cargo --version", "cargo -q version", "cargo help build", "cargo locate-project",
    "npm docs lodash", "npm help install", "npm ls",
    "go list ./...", "go version", "go env GOPATH",
    "compgen -c gi", "compgen -W 'start stop' s", "complete -W 'a b c' mycmd", "wait", "wait -n", "jobs",
    "compgen -W'start stop' s", "compgen -A file -W 'a b' x", "complete -o default -W 'x y' mycmd",
    "wait $pid", "wait $!", "wait %1", "wait -n -p pid", "sleep 1 & wait $!", "read -a arr", "mapfile -t lines",
    "env --ignore-signal=PIPE ls", "command time ls",
    "kubectl -v 9 get pods", "kubectl -v=6 get pods", "kubectl --v=9 get pods", "kubectl -v9 logs web-1",
    "kubectl --context prod get pods", "kubectl --server=https://k:6443 get pods", "kubectl -n kube-system get pods",
    "kubectl --namespace=prod describe pod web", "kubectl --insecure-skip-tls-verify get nodes",
    "docker --context x ps", "docker --tls ps", "docker --tlsverify images", "docker -H ssh://h ps",
    "docker --host tcp://h:2376 logs web", "docker --log-level debug ps", "docker -l warn version",
    "npm --loglevel silent ls", "npm --loglevel=warn outdated", "npm --silent view lodash version",
    "npm --force ls", "cargo -q version", "cargo --locked version", "cargo -q --locked search serde",
    "go -C sub list ./...", "go -C=sub version", "pip -qq list", "pip -q show requests", "pip --no-input list",
    "jobs -l", "set -euo pipefail", "set -x", "set +a", "shopt -s nullglob", "shopt -s globstar",
    "ls 2>&1", "ls >&2", "ls > /dev/null 2>&1", "ls 2>/dev/null", "ls 3>&1 1>&2 2>&3", "ls 2>&-",
    "ls &> /dev/null", "echo x | tee /dev/null", "echo x | tee /dev/stderr",
    "journalctl -u nginx -n 50", "journalctl -f", "journalctl --disk-usage", "ss -tlnp", "info ls",
    "man ls", "man -k printf", "tree -L 2", "hostname", "hostname -f", "date -u",
    "DEBUG=1 ls", "RUST_LOG=debug ls", "export NODE_ENV=production", "TZ=UTC date", "CI=true ls",
]

# List-mode filters whose operand is a commit, not a new ref name: the walker skips a flag whose
# `unless` options are present (`Flag.cancelled_by`).
LIST_MODES: list[tuple[str, str]] = [
    ("git branch --merged main", "low"),
    ("git branch --contains abc123", "low"),
    ("git branch -r --contains abc123", "low"),
    ("git tag --contains v1.0", "low"),
    ("git tag -l v1.0", "low"),
    ("git branch --no-merged=main", "low"),
    ("git branch -vv --sort=-committerdate --merged origin/main", "low"),
    ("git branch --list -- feat", "low"),  # the list mode comes before `--`: feat is a pattern
    ("git tag -n5 -l 'v1.*'", "low"),
    ("git tag --points-at HEAD", "low"),
    # ... but not when the list option comes after `--` (an operand then), or there is none
    ("git branch -- --list", "medium"),
    ("git branch -- evil", "medium"),
    ("git tag -- v9", "medium"),
    ("git branch -f evil --merged", "medium"),  # -f (force) is a change whatever the mode
]


def _ids(cases: list[tuple[str, str]]) -> list[str]:
    return [line for line, _ in cases]


@pytest.mark.parametrize(("line", "min_risk"), FIXED, ids=_ids(FIXED))
def test_fixed_lines_reach_their_minimum(line: str, min_risk: str) -> None:
    c = classify(line)
    assert c.risk >= Risk.parse(min_risk), [(a.key, a.risk.label, [r.text for r in a.reasons]) for a in c.actions]


@pytest.mark.parametrize(("line", "min_risk"), GUARDS, ids=_ids(GUARDS))
def test_guards(line: str, min_risk: str) -> None:
    assert classify(line).risk >= Risk.parse(min_risk)


@pytest.mark.parametrize("line", INELIGIBLE)
def test_rules_cannot_absorb(line: str) -> None:
    c = classify(line)
    assert c.risk > Risk.LOW
    assert any(not a.rule_eligible for a in c.actions), [(a.key, a.ineligible_reasons) for a in c.actions]


@pytest.mark.parametrize("line", STAY_LOW)
def test_everyday_lines_stay_low(line: str) -> None:
    c = classify(line)
    assert c.risk == Risk.LOW, [(a.key, a.risk.label, [r.text for r in a.reasons]) for a in c.actions]


@pytest.mark.parametrize(("line", "risk"), LIST_MODES, ids=_ids(LIST_MODES))
def test_list_modes_create_nothing(line: str, risk: str) -> None:
    assert classify(line).risk == Risk.parse(risk)


def test_flag_reason_names_what_the_flag_does() -> None:
    """The ineligibility text is the flag's own reason (not every flag writes a file)."""
    a = classify("git help -w log").actions[0]
    assert a.ineligible_reasons == ("-w: git help -w opens a web browser",)
    a = classify("jobs -x rm x").actions[0]
    assert "-x: jobs -x runs a command" in a.ineligible_reasons


# GNU time (not the bash keyword, which takes only -p) writes its report with -o: the walker
# matches `Wrapper.flags` against the wrapper's own options, skipping option values.
@pytest.mark.parametrize("line", ["command time -o out ls", "/usr/bin/time --output=out ls",
                                  "command time -oout ls", "command time --out out ls", "command time -vo out ls",
                                  "env time -o out ls", "command time -f %e -o out ls"])
def test_wrapper_flags(line: str) -> None:
    c = classify(line)
    assert c.risk >= Risk.MEDIUM
    t = next(a for a in c.actions if a.program == "time")
    assert t.risk == Risk.MEDIUM and not t.rule_eligible
    assert [a.key for a in c.actions][-1] == "ls"


@pytest.mark.parametrize("line", ["command time ls", "command time -f %e ls", "command time -f -o ls",
                                  "command time -vf%o ls", "command time --format -o ls", "command time -p ls"])
def test_wrapper_flag_values_are_not_flags(line: str) -> None:
    assert classify(line).risk == Risk.LOW


def test_wrapper_flags_keep_the_wrapped_programs_risk() -> None:
    c = classify("command time -o out rm -rf x")
    assert c.risk == Risk.HIGH and [a.key for a in c.actions] == ["command", "time", "rm"]


@pytest.mark.skipif(not os.access("/usr/bin/time", os.X_OK), reason="GNU time is not installed")
def test_gnu_time_output_writes(tmp_path: Path) -> None:
    _sh("/usr/bin/time -o out true", tmp_path)
    assert (tmp_path / "out").exists()


def test_fixed_lines_through_the_cli(vsh_home: Path) -> None:
    """The same answers from `vsh classify --json` (a sample: one line a finding)."""
    sample = {"compgen -W '$(rm -rf ~)' x": "high", "BASH_CMDS[ls]=/bin/rm; ls -rf ~": "high",
              "set -k; bash -c : BASH_ENV=./evil.sh": "medium", "zless '+!id' f.gz": "high",
              "cargo tree": "medium", "echo x | xargs -i rm -rf {}": "high", "git branch evil": "medium",
              "ls > 2": "medium", "tree -R -L 1": "medium", "kubectl get -o yaml secrets": "medium",
              "go list -toolexec ./x .": "high", "git branch": "low"}
    for line, risk in sample.items():
        r = run_vsh(["classify", "--json", "--", line], vsh_home)
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["risk"] == risk, line


# -- behaviour variables ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", [
    "BASH_CMDS", "BASH_ALIASES", "EXECIGNORE", "SYSTEMD_PAGER", "SYSTEMD_PAGERSECURE", "SYSTEMD_LESS",
    "SYSTEMD_EDITOR", "GH_PAGER", "GH_BROWSER", "GH_EDITOR", "GIT_SSH", "GIT_SSH_COMMAND", "GIT_PAGER",
    "GIT_EDITOR", "GIT_EXTERNAL_DIFF", "GIT_ASKPASS", "GIT_PROXY_COMMAND", "GIT_CONFIG_COUNT",
    "GIT_CONFIG_KEY_0", "GIT_CONFIG_GLOBAL", "GIT_EXEC_PATH", "GIT_TEMPLATE_DIR", "MANPAGER", "MANOPT",
    "MANROFFOPT", "MAN_DISABLE_SECCOMP", "LESSOPEN", "LESSCLOSE", "LESSKEYIN", "LESSKEY", "LESSEDIT",
    "PAGER", "EDITOR", "VISUAL", "BROWSER", "FCEDIT", "SUDO_EDITOR", "PYTHONSTARTUP", "PYTHONPATH",
    "PERL5OPT", "PERL5LIB", "RUBYOPT", "NODE_OPTIONS", "NODE_PATH", "PROMPT_COMMAND", "PS0", "PS1", "PS2",
    "PS4", "ENV", "BASH_ENV", "SHELLOPTS", "BASHOPTS", "IFS", "CDPATH", "TMPDIR", "FZF_DEFAULT_COMMAND",
    "JAVA_TOOL_OPTIONS", "PYTEST_ADDOPTS", "PYTEST_PLUGINS", "CONFIG_SHELL", "XDG_CONFIG_HOME", "GOFLAGS",
    "GOTOOLCHAIN", "GOPROXY", "CFLAGS", "LDFLAGS", "MAKEFILES", "LUA_INIT", "RUSTC_WORKSPACE_WRAPPER",
    "RUSTUP_TOOLCHAIN", "OPENSSL_MODULES", "GNUPGHOME", "AWS_PAGER", "KUBECTL_EXTERNAL_DIFF",
])
def test_behaviour_variables(name: str) -> None:
    assert tables.behaviour_var(name)
    assert classify(f"{name}=x ls").risk >= Risk.MEDIUM


# PS3 is printed by `select` without expansion; the others change nothing a later program runs.
@pytest.mark.parametrize("name", ["PS3", "FOO", "DEBUG", "CI", "NODE_ENV", "RUST_LOG", "RUST_BACKTRACE", "TZ",
                                  "PORT", "COLUMNS", "NO_COLOR", "LANG", "LC_ALL", "TERM"])
def test_ordinary_variables(name: str) -> None:
    assert not tables.behaviour_var(name)


def test_code_variables_are_behaviour_variables() -> None:
    for name in tables.CODE_VARS:
        assert tables.behaviour_var(name), name


# -- table structure ---------------------------------------------------------------------------------

def test_optional_value_options_never_consume_the_next_word() -> None:
    for name, w in tables.WRAPPERS.items():
        assert not (w.optional_value_opts & w.value_opts), name


def test_operand_flags_match_whole_words() -> None:
    get = tables.PROGRAMS["kubectl"].subs["get"]  # type: ignore[index]
    for word in ("secrets", "secret/x", "all,secrets", "Secrets.v1", "pods,secret"):
        assert get.flag_index.match(word, "gnu") is not None, word
    for word in ("secretary", "my-secrets", "app=secrets", "pods"):
        assert get.flag_index.match(word, "gnu") is None, word


def test_unless_options_are_matched_as_options() -> None:
    branch = tables.PROGRAMS["git"].subs["branch"]  # type: ignore[index]
    creates = branch.flag_index.match("feature", "gnu")
    assert creates is not None
    assert creates.cancelled_by(["--merged", "main"])
    assert creates.cancelled_by(["--contains=abc"])
    assert creates.cancelled_by(["-vr"])
    assert not creates.cancelled_by(["-f", "feature"])
    assert not creates.cancelled_by(["--", "--list"])


# -- the claims, checked against the real programs ---------------------------------------------------

BASH = shutil.which("bash")


def _sh(line: str, cwd: Path) -> None:
    assert BASH is not None
    subprocess.run([BASH, "-c", line], cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, timeout=30,
                   check=False)


def _until_made(argv: list[str], cwd: Path, made: Path, *, seconds: float = 15.0) -> bytes:
    """Run argv on a fresh 24x80 pseudo-terminal of its own until `made` exists (or `seconds` pass),
    then kill its whole session; returns what it drew. Nothing of the caller's terminal, window size,
    signal mask or ignored signals reaches it (CI differs from a desk in all of these: `script` plus
    `timeout` once hung there for 30 s)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("LINES", "COLUMNS")} | {"TERM": "xterm"}

    def child() -> None:
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGCHLD, signal.SIGHUP,
                    signal.SIGTTOU, signal.SIGTTIN, signal.SIGTSTP, signal.SIGWINCH):
            signal.signal(sig, signal.SIG_DFL)
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=slave, stdout=slave, stderr=slave,
                            start_new_session=True, preexec_fn=child)
    os.close(slave)
    drawn = b""
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline and not made.exists():
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    drawn += os.read(master, 65536)
                except OSError:  # the terminal closed: everything on it has gone
                    break
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        os.close(master)
    return drawn


@pytest.mark.skipif(BASH is None, reason="bash is not installed")
@pytest.mark.parametrize("line", [
    "compgen -W '$(touch pwn)' x",
    "compgen -W '`touch pwn`' x",
    "sleep 0 & wait -n -p 'a[$(touch pwn)]'",
    "sleep 0 & wait -n -p 'x[$(touch pwn)]'",
    "compgen -o default -W'$(touch pwn)' x",
    "compgen -W 'a' -W '$(touch pwn)' a",
    "jobs -x touch pwn",
    "set -o keyword; bash -c : BASH_ENV=./evil.sh",
    "shopt -so keyword; bash -c : BASH_ENV=./evil.sh",
    "set -a; BASH_ENV=./evil.sh; bash -c :",
    "BASH_CMDS[ls]=/usr/bin/touch; ls pwn",
])
def test_bash_runs_it(line: str, tmp_path: Path) -> None:
    (tmp_path / "evil.sh").write_text("touch pwn\n")
    _sh(line, tmp_path)
    assert (tmp_path / "pwn").exists()


@pytest.mark.skipif(BASH is None, reason="bash is not installed")
@pytest.mark.parametrize("line", ["compgen x -W '$(touch pwn)'", "complete ls -W '$(touch pwn)'",
                                  "compgen -oW '$(touch pwn)' x"])
def test_bash_reads_no_word_list_here(line: str, tmp_path: Path) -> None:
    """Options end at the first operand, and `-oW` is -o with the value W: no -W list, and the
    word-list check sees none either."""
    _sh(line, tmp_path)
    assert not (tmp_path / "pwn").exists()
    assert classify(line).risk == Risk.LOW


@pytest.mark.parametrize(("line", "risk", "text"), [
    ("compgen -W '$(id)' x", Risk.HIGH, "compgen -W expands its word list as shell words, which runs the code in "
                                        "'$(id)'"),
    ("complete -W '`id`' ls", Risk.HIGH, "complete -W expands its word list as shell words, which runs the code "
                                         "in '`id`'"),
    ("compgen -W \"$words\" x", Risk.MEDIUM, "compgen -W word list is not literal"),
])
def test_word_list_reasons(line: str, risk: Risk, text: str) -> None:
    a = classify(line).actions[-1]
    assert a.risk == risk
    assert text in [r.text for r in a.reasons]
    assert not any("arithmetic" in r.text for r in a.reasons)
    assert (text in a.ineligible_reasons) == (risk == Risk.HIGH)


def test_plain_word_list_has_no_reason() -> None:
    a = classify("compgen -W 'start stop' s").actions[0]
    assert [r.text for r in a.reasons] == ["compgen: reads or prints without changing anything"]


def test_subscript_code_in_a_name_is_one_reason() -> None:
    """read and printf -v have an argument check and the variable-assigning builtins' own: the same
    finding once."""
    for line in ("read 'x[$(id)]'", "printf -v 'x[$(id)]' 1"):
        texts = [r.text for r in classify(line).actions[0].reasons if r.risk == Risk.HIGH]
        assert len(texts) == 1, texts


@pytest.mark.skipif(BASH is None or shutil.which("env") is None, reason="bash or env is not installed")
@pytest.mark.parametrize("opt", ["--ignore-signal", "--block-signal", "--default-signal"])
def test_env_signal_options_do_not_take_the_next_word(opt: str, tmp_path: Path) -> None:
    _sh(f"env {opt} touch pwn", tmp_path)
    assert (tmp_path / "pwn").exists()


@pytest.mark.skipif(BASH is None or shutil.which("pip") is None, reason="bash or pip is not installed")
def test_pip_python_runs_the_program(tmp_path: Path) -> None:
    evil = tmp_path / "evil"
    evil.write_text("#!/bin/sh\ntouch pwn\n")
    evil.chmod(0o755)
    _sh("pip --python ./evil list", tmp_path)
    assert (tmp_path / "pwn").exists()


@pytest.mark.skipif(BASH is None, reason="bash is not installed")
def test_bash_does_not_expand_ps3(tmp_path: Path) -> None:
    _sh("PS3='$(touch pwn)> '; select x in a; do break; done <<< 1", tmp_path)
    assert not (tmp_path / "pwn").exists()


@pytest.mark.skipif(BASH is None, reason="bash is not installed")
@pytest.mark.parametrize(("line", "made"), [
    ("ls > 2", "2"), ("ls > -", "-"), ("ls > '&1'", "&1"), ("ls >> 5-", "5-"), ("echo x | tee 1 - >/dev/null", "-"),
])
def test_fd_looking_targets_are_files(line: str, made: str, tmp_path: Path) -> None:
    _sh(line, tmp_path)
    assert (tmp_path / made).exists()


@pytest.mark.skipif(shutil.which("xargs") is None, reason="xargs is not installed")
@pytest.mark.parametrize(("line", "made"), [
    ("echo pwn | xargs -i touch {}", "pwn"), ("echo x | xargs -e touch pwn", "pwn"),
    ("echo x | xargs -l touch pwn", "pwn"), ("echo pwn | xargs --replace touch {}", "pwn"),
    ("echo pwn | xargs -iE touch E", "pwn"), ("echo x | xargs -eE touch pwn", "pwn"),
])
def test_xargs_optional_values_are_attached(line: str, made: str, tmp_path: Path) -> None:
    _sh(line, tmp_path)
    assert (tmp_path / made).exists()


@pytest.mark.skipif(shutil.which("watch") is None, reason="watch is not installed")
@pytest.mark.parametrize("opts", ["-d", "-g", "-dn"])
def test_watch_optional_values(opts: str, tmp_path: Path) -> None:
    watch = shutil.which("watch")
    assert watch is not None
    drawn = _until_made([watch, *opts.split(), "touch pwn"], tmp_path, tmp_path / "pwn")
    assert (tmp_path / "pwn").exists(), drawn[-400:]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    env = {**os.environ, "GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@b", "GIT_COMMITTER_NAME": "a",
           "GIT_COMMITTER_EMAIL": "a@b", "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(tmp_path)}
    for argv in (["init", "-q"], ["commit", "-q", "--allow-empty", "-m", "1"]):
        subprocess.run(["git", *argv], cwd=tmp_path, env=env, check=True, capture_output=True)
    (tmp_path / "f").write_text("a\n")
    subprocess.run(["git", "add", "f"], cwd=tmp_path, env=env, check=True)
    subprocess.run(["git", "commit", "-q", "-m", "2"], cwd=tmp_path, env=env, check=True)
    (tmp_path / "f").write_text("b\n")
    subprocess.run(["git", "stash", "-q"], cwd=tmp_path, env=env, check=True)
    return tmp_path


@pytest.mark.parametrize("sub", ["whatchanged", "reflog", "rev-list HEAD", "shortlog HEAD", "diff-tree -p HEAD",
                                 "diff-index -p HEAD", "diff-files -p", "stash show -p", "stash list", "blame f"])
def test_git_output_writes(sub: str, repo: Path) -> None:
    _sh(f"git {sub} --output=out </dev/null", repo)
    assert (repo / "out").exists()
    assert classify(f"git {sub} --output=out").risk >= Risk.MEDIUM


@pytest.mark.parametrize(("line", "ref"), [
    ("git branch evil", "refs/heads/evil"), ("git tag v9", "refs/tags/v9"),
    ("git branch -a also", "refs/heads/also"), ("git branch --sort=refname sorted", "refs/heads/sorted"),
])
def test_git_names_create_refs(line: str, ref: str, repo: Path) -> None:
    _sh(line, repo)
    r = subprocess.run(["git", "show-ref", "--verify", "-q", ref], cwd=repo, check=False)
    if line == "git branch -a also":
        assert r.returncode != 0  # list mode: nothing created (what `unless` models)
    else:
        assert r.returncode == 0
        assert classify(line).risk >= Risk.MEDIUM


def test_git_fsck_lost_found_writes(repo: Path) -> None:
    _sh("echo dangling | git hash-object -w --stdin && git fsck --lost-found", repo)
    assert (repo / ".git" / "lost-found").exists()


@pytest.mark.skipif(shutil.which("zstd") is None, reason="zstd is not installed")
def test_zstdcat_output_writes(tmp_path: Path) -> None:
    _sh("echo hi > a && zstd -q a -o a.zst && zstdcat -o out a.zst && zstdcat --trace log a.zst", tmp_path)
    assert (tmp_path / "out").exists() and (tmp_path / "log").exists()


@pytest.mark.skipif(shutil.which("lz4") is None, reason="lz4 is not installed")
def test_lz4cat_rm_deletes(tmp_path: Path) -> None:
    _sh("echo hi > a && lz4 -q a a.lz4 && lz4cat --rm a.lz4 >/dev/null", tmp_path)
    assert not (tmp_path / "a.lz4").exists()


@pytest.mark.skipif(shutil.which("less") is None, reason="less is not installed")
@pytest.mark.parametrize("line", ["less --lesskey-src=k f", "zless --lesskey-src=k f"])
def test_lesskey_source_runs_lessopen(line: str, tmp_path: Path) -> None:
    if line.startswith("zless") and shutil.which("zless") is None:
        pytest.skip("zless is not installed")
    (tmp_path / "k").write_text(f"#env\nLESSOPEN=|touch {tmp_path}/pwn; cat %s\n")
    (tmp_path / "f").write_text("hi\n")
    _sh(f"{line} >/dev/null", tmp_path)
    assert (tmp_path / "pwn").exists()


@pytest.mark.skipif(shutil.which("cargo") is None, reason="cargo is not installed")
@pytest.mark.parametrize("sub", ["tree", "metadata --format-version 1"])
def test_cargo_resolving_writes_the_lockfile_and_runs_the_wrapper(sub: str, tmp_path: Path) -> None:
    (tmp_path / "Cargo.toml").write_text('[package]\nname = "x"\nversion = "0.1.0"\nedition = "2021"\n')
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "main.rs").write_text("fn main() {}\n")
    wrapper = tmp_path / "w.sh"
    wrapper.write_text(f'#!/bin/sh\ntouch {tmp_path}/ran\nexec "$@"\n')
    wrapper.chmod(0o755)
    env = {**os.environ, "CARGO_NET_OFFLINE": "true"}
    subprocess.run(["cargo", *sub.split(), "--config", f'build.rustc-wrapper="{wrapper}"'], cwd=tmp_path, env=env,
                   capture_output=True, timeout=120, check=False)
    assert (tmp_path / "Cargo.lock").exists()
    assert (tmp_path / "ran").exists()
