"""The walker: every construct yields the actions bash would run, and every tree-sitter/bash
differential the issue lists is judged the way bash behaves.

`bash_argvs` is the oracle: it runs the line in real bash with every program replaced by a stub
that records its argv, so "exactly what bash runs" is checked against bash itself.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from vshell.classify import classify
from vshell.model import Risk
from vshell.shellparse import program_name

BASH = shutil.which("bash")
needs_bash = pytest.mark.skipif(BASH is None, reason="bash is not installed")
_DISABLE = "echo printf test [ true false pwd kill type command read"


def bash_argvs(line: str, programs: set[str], tmp: Path) -> list[list[str]]:
    """Run `line` in bash where each of `programs` is a stub recording its argv (builtins of the
    same name disabled); return the recorded argvs in order. Nothing else is on PATH."""
    stubs = tmp / "stubs"
    stubs.mkdir(exist_ok=True)
    log = tmp / "argv.log"
    for name in programs:
        stub = stubs / name
        # One write per record, so concurrent pipeline stages do not interleave.
        stub.write_text('#!/bin/sh\nrec=$(printf "%s\\037" "${0##*/}" "$@"; printf "\\036x")\n'
                        'printf "%s" "${rec%x}" >> "$ARGV_LOG"\n')
        stub.chmod(0o755)
    disable = " ".join(p for p in _DISABLE.split() if p in programs)
    script = (f"enable -n {disable}\n" if disable else "") + line
    env = {"PATH": str(stubs), "ARGV_LOG": str(log), "HOME": str(tmp)}
    subprocess.run([BASH or "bash", "--norc", "--noprofile", "-c", script], env=env, cwd=tmp,
                   capture_output=True, timeout=20)
    if not log.exists():
        return []
    records = log.read_bytes().decode("utf-8", "surrogateescape").split("\x1e")
    return [r.split("\x1f")[:-1] for r in records if r]


def model_argvs(line: str) -> list[list[str]]:
    c = classify(line)
    return [[program_name(a.argv[0]), *a.argv[1:]] for a in c.actions]


# Lines whose actions are all literal: the model must list exactly what bash runs, in order.
ORACLE_LINES = [
    'echo "\\"; touch pwn; echo \\""',
    "git status && ls -la",
    "git status; ls",
    "ls | grep foo | wc -l",
    "r\\\nm -rf x",
    "ec\\\nho hi",
    "echo 'a b' \"c d\" e\\ f",
    "echo $'\\x72m' $'a\\tb'",
    "r''m -rf x",
    "\\rm -rf x",
    "'rm' x",
    "echo a\\;b",
    "if true; then ls; else cat x; fi",
    "false || echo y",
    "echo 'a\\\nb'",
    'echo "a\\\nb"',
    "echo \"it's\" 'say \"hi\"'",
    "echo ~nope/x",
    "git -C sub status",
    "echo x > /dev/null",
    "echo '$(id)' '`id`'",
    "echo \\$HOME",
]


@needs_bash
@pytest.mark.parametrize("line", ORACLE_LINES)
def test_actions_are_what_bash_runs(line: str, tmp_path: Path) -> None:
    ours = model_argvs(line)
    progs = {a[0] for a in ours} | {"touch", "rm", "cat", "ls", "grep", "wc", "git", "echo", "true", "false"}
    theirs = bash_argvs(line, progs, tmp_path)
    # bash may skip a branch (if/else, ||) and runs pipeline stages concurrently: every action bash
    # ran must be one the model listed (as a multiset).
    remaining = [tuple(a) for a in ours]
    for argv in theirs:
        assert tuple(argv) in remaining, f"bash ran {argv}, the model has {ours}"
        remaining.remove(tuple(argv))
    assert theirs, "bash ran nothing"
    assert not (tmp_path / "pwn").exists()


# -- constructs ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("line", "keys"), [
    ("git status && rm -rf x", ["git status", "rm"]),
    ("a || b; c & d\ne", ["a", "b", "c", "d", "e"]),
    ("ls | sort | uniq -c", ["ls", "sort", "uniq"]),
    ("ls $(id -u) `whoami`", ["id", "whoami", "ls"]),
    ('echo "x $(id) y"', ["id", "echo"]),
    ("a=$(touch f) ls", ["touch", "ls"]),
    ("cat <(ls) >(wc)", ["ls", "wc", "cat"]),
    ("ls > $(mktemp)", ["ls", "mktemp"]),
    ("cat <<< $(id)", ["id", "cat"]),
    ("cat <<EOF\n$(id)\nEOF", ["cat", "id"]),
    ("cat <<EOF\n`id`\nEOF", ["cat", "id"]),
    ("cat <<-EOF\n\t$(id)\n\tEOF", ["cat", "id"]),
    ("cat <<EOF && ls\n$(id)\nEOF", ["cat", "ls", "id"]),
    ("(cd x && ls)", ["cd", "ls"]),
    ("{ ls; pwd; }", ["ls", "pwd"]),
    ("for f in *.c; do gcc $f; done", ["gcc"]),
    ("while read l; do echo $l; done < f", ["read", "echo"]),
    ("case $x in a) ls;; *) pwd;; esac", ["ls", "pwd"]),
    ("for ((i=0;i<3;i++)); do ls; done", ["ls"]),
    ("f() { rm -rf x; }; f", ["rm", "f"]),
    ("bash -c 'ls; rm x'", ["bash", "ls", "rm"]),
    ("sh -c 'sh -c \"rm x\"'", ["sh", "sh", "rm"]),
    ("eval 'ls && rm x'", ["eval", "ls", "rm"]),
    ("env -i FOO=1 rm x", ["env", "rm"]),
    ("env -S 'rm -rf x'", ["env", "rm"]),
    ("xargs -n1 -I{} rm {}", ["xargs", "rm"]),
    ("nice -n 5 nohup timeout -s KILL 5 stdbuf -o0 time ls", ["nice", "nohup", "timeout", "stdbuf", "time", "ls"]),
    ("command rm x", ["command", "rm"]),
    ("builtin cd x", ["builtin", "cd"]),
    ("exec rm x", ["exec", "rm"]),
    ("setsid flock /tmp/l ionice -c3 chrt 5 taskset 1 unbuffer rm x",
     ["setsid", "flock", "ionice", "chrt", "taskset", "unbuffer", "rm"]),
    ("coproc rm x", ["coproc", "rm"]),
    ("busybox rm x", ["busybox", "rm"]),
    ("sudo -u root rm x", ["sudo", "rm"]),
    ("doas rm x", ["doas", "rm"]),
    ("su -c 'rm x' root", ["su", "rm"]),
    ("flock /tmp/l -c 'rm x'", ["flock", "rm"]),
    ("watch -n 1 'rm x'", ["watch", "rm"]),
    ("find . -name '*.o' -exec rm {} \\;", ["find", "rm"]),
    ("find . -execdir rm {} + -ok ls \\;", ["find", "rm", "ls"]),
    ("trap 'rm x' EXIT", ["trap", "rm"]),
    ("alias ll='rm -rf x'", ["alias", "rm"]),
    ("! ls", ["ls"]),
    ("x=(a $(id))", ["id"]),
    ("echo ${x:-$(id)} ${a[$(whoami)]}", ["id", "whoami", "echo"]),
    ("[[ -f $(id) ]] && ls", ["id", "ls"]),
    ("(( x = $(id) ))", ["id"]),
    ("declare -x A=$(id)", ["id", "declare"]),
])
def test_every_program_is_an_action(line: str, keys: list[str]) -> None:
    c = classify(line)
    assert [a.key.split(" ")[0] for a in c.actions] == [k.split(" ")[0] for k in keys], c.actions
    assert c.parse_ok, c.reasons


@pytest.mark.parametrize(("line", "program"), [
    ("/bin/rm x", "rm"),
    ("/usr/bin/git status", "git"),
    ("\\rm x", "rm"),
    ("r''m x", "rm"),
    ("\"rm\" x", "rm"),
    ("$'\\x72m' x", "rm"),
    ("./cat f", "./cat"),
    ("/tmp/evil/cat f", "/tmp/evil/cat"),
    ("../bin/ls", "../bin/ls"),
])
def test_program_normalisation(line: str, program: str) -> None:
    assert classify(line).actions[-1].program == program


def test_relative_path_program_is_not_trusted() -> None:
    assert classify("./cat f").risk == Risk.MEDIUM
    assert classify("/tmp/x/cat f").risk == Risk.MEDIUM


# -- differentials tree-sitter vs bash --------------------------------------------------------------

@pytest.mark.parametrize(("line", "risk"), [
    ("r\\\nm -rf x", Risk.HIGH),  # bash joins backslash-newline: rm
    ('echo "$\\\n(rm -rf x)"', Risk.HIGH),  # and "$\<nl>(" is a substitution
    ("cat <<EOF\n$\\\n(rm -rf x)\nEOF", Risk.HIGH),
    ("echo a\rrm -rf x", Risk.HIGH),  # tree-sitter splits on CR, bash does not
    ("ls\u00a0-la", Risk.HIGH),
    ("r\u200bm -rf x", Risk.HIGH),
    ("ｒｍ -rf x", Risk.HIGH),  # fullwidth: not rm to bash, and never trusted
    ("coproc rm x", Risk.HIGH),
    ("coproc X { rm x; }", Risk.HIGH),
    ("time rm x", Risk.HIGH),
    ("[[ 'a[$(rm -rf x)]' -eq 0 ]]", Risk.HIGH),
    ("declare -i n='a[$(rm -rf x)]'", Risk.HIGH),
    ("printf -v 'a[$(rm -rf x)]' %s 1", Risk.HIGH),
    ("let 'x=a[$(rm -rf x)]'", Risk.HIGH),
    ("read 'a[$(rm -rf x)]' < f", Risk.HIGH),
    ("{rm,-rf,x}", Risk.HIGH),  # brace expansion in the command position
    ("r? -rf x", Risk.HIGH),  # a glob in the command position
    ("/bin/r[m] -rf x", Risk.HIGH),
    ("echo $\"x\"", Risk.LOW),
    ("ls;;", Risk.HIGH),
    ("} ; ls", Risk.HIGH),
    ("ls \"unterminated", Risk.HIGH),
])
def test_differentials_follow_bash(line: str, risk: Risk) -> None:
    c = classify(line)
    assert c.risk == risk, (c.reasons, c.actions)


def test_differential_lines_are_exact_only() -> None:
    for line in ("echo a\rrm -rf x", "ls;;", "ls \"unterminated", "r\u200bm x"):
        c = classify(line)
        assert len(c.suggestions) == 1
        assert not c.parse_ok


@needs_bash
def test_backslash_newline_oracle(tmp_path: Path) -> None:
    line = "ec\\\nho hi; r\\\nm x"
    assert bash_argvs(line, {"echo", "rm"}, tmp_path) == [["echo", "hi"], ["rm", "x"]]
    assert model_argvs(line) == [["echo", "hi"], ["rm", "x"]]


@needs_bash
def test_carriage_return_is_part_of_a_word_in_bash(tmp_path: Path) -> None:
    theirs = bash_argvs("echo a\rrm -rf x", {"echo", "rm"}, tmp_path)
    assert theirs == [["echo", "a\rrm", "-rf", "x"]]


@needs_bash
def test_quoted_heredoc_does_not_expand(tmp_path: Path) -> None:
    line = "cat <<'EOF'\n$(touch pwn)\nEOF"
    bash_argvs(line, {"cat", "touch"}, tmp_path)
    assert not (tmp_path / "pwn").exists()
    assert [a.key for a in classify(line).actions] == ["cat"]


# -- rule eligibility, cwd, shell state -------------------------------------------------------------

@pytest.mark.parametrize(("line", "index", "eligible"), [
    ("ls", 0, True),
    ("FOO=1 ls", 0, False),
    ("ls $x", 0, False),
    ("ls $(id)", 1, False),
    ("ls $(id)", 0, False),
    ("ls > out", 0, False),
    ("git -c core.pager=x log", 0, False),
    ("f() { :; }; ls", 1, False),
    ("PATH=/tmp; ls", 0, False),
    ("export LD_PRELOAD=x; ls", 1, False),
    ("hash -p /tmp/x ls; ls", 1, False),
    ("cd $d && ls", 1, False),
    ("cd x && ls", 1, True),
    ("xargs rm", 1, False),
    ("sort -o out in", 0, False),
])
def test_rule_eligibility(line: str, index: int, eligible: bool) -> None:
    a = classify(line).actions[index]
    assert a.rule_eligible is eligible, a.ineligible_reasons
    if not eligible:
        assert a.ineligible_reasons


@pytest.mark.parametrize(("line", "cwd"), [
    ("ls", ""),
    ("cd /repo && ls", "/repo"),
    ("cd a && cd b && ls", "a/b"),
    ("cd a; ls", None),  # cd may have failed
    ("cd $x && ls", None),
    ("cd && ls", None),
    ("cd ~/x && ls", None),
    ("(cd a && pwd); ls", ""),
    ("cd a | ls", ""),
])
def test_cwd_tracking(line: str, cwd: str | None) -> None:
    assert classify(line).actions[-1].cwd == cwd


def test_mutates_shell_state() -> None:
    assert classify("f() { ls; }").mutates_shell_state
    assert classify("alias x=ls").mutates_shell_state
    assert classify("export PAGER=x").mutates_shell_state
    assert not classify("export A=1").mutates_shell_state
    assert not classify("ls").mutates_shell_state
    # exporting a function changes what every later child shell runs; printing one does not
    assert classify("export -f g").mutates_shell_state
    assert classify("declare -fx g").mutates_shell_state
    assert classify("typeset -xf g").mutates_shell_state
    assert not classify("declare -f g").mutates_shell_state


def test_keys_ignore_meaning_neutral_spelling() -> None:
    a = classify("/usr/bin/git -C x -c k=v push origin").actions[0]
    assert a.key == "git push"
    assert a.words == ("git", "push", "origin")
    assert not a.rule_eligible
    assert classify("gh pr view 5525 --json title").actions[0].key == "gh pr view"
    assert classify("npm run build").actions[0].key == "npm run build"
    assert classify("npm install x").actions[0].key == "npm install"
    assert classify("docker compose up -d").actions[0].key == "docker compose up"
    assert classify("make test").actions[0].key == "make"


def test_unknown_and_parse_errors_never_low() -> None:
    assert classify("frobnicate").risk == Risk.MEDIUM
    for line in ("ls &&", "ls |", "if then", "echo $(", "cat <<E\"O\"F\nx\nEOF", "ls <> f"):
        c = classify(line)
        assert c.risk == Risk.HIGH and not c.parse_ok, line


# -- limits ----------------------------------------------------------------------------------------

def test_deep_substitution_nesting_is_fast_and_high() -> None:
    line = "echo " + "$(" * 10_000 + "x" + ")" * 10_000
    t = time.perf_counter()
    c = classify(line)
    assert time.perf_counter() - t < 1.0
    assert c.risk == Risk.HIGH and not c.parse_ok


@pytest.mark.parametrize("opener", ["(", "{ ", "\"$(", "`", "bash -c '", "if true; then "])
def test_other_deep_nesting(opener: str) -> None:
    closer = {"(": ")", "{ ": "; }", "\"$(": ")\"", "`": "`", "bash -c '": "'", "if true; then ": "; fi"}[opener]
    line = opener * 2000 + "ls" + closer * 2000
    t = time.perf_counter()
    c = classify(line)
    assert time.perf_counter() - t < 2.0
    assert c.risk >= Risk.LOW  # answered, no exception


def test_one_megabyte_argument() -> None:
    line = "echo " + "a" * 1_000_000
    t = time.perf_counter()
    c = classify(line)
    assert time.perf_counter() - t < 1.0
    assert c.risk == Risk.LOW


def test_many_commands() -> None:
    c = classify("ls; " * 3000)
    assert c.risk >= Risk.LOW


def test_classify_never_raises_on_odd_bytes() -> None:
    for line in ("\x00", "\udcff", "$'\\", "<<", "))))", "`", "\\", "'" * 3, "#!/bin/sh\n", os.sep):
        classify(line)


# -- classes of attack beyond the public cases --------------------------------------------------------

@pytest.mark.parametrize(("line", "risk"), [
    ("/usr/bin/../bin/rm x", Risk.HIGH),
    ("//bin/rm x", Risk.HIGH),
    ("cd /bin && ./rm -rf x", Risk.HIGH),  # a path program named like a risky one keeps its risk
    ("~/bin/rm x", Risk.HIGH),
    ("./bash -c 'ls'", Risk.HIGH),
    ("sudo -iu root ls", Risk.HIGH),
    ("env -iu HOME rm x", Risk.HIGH),
    ("xargs -rn1 rm", Risk.HIGH),
    ("xargs -I{} sh -c 'rm {}'", Risk.HIGH),
    ("timeout --signal=KILL 5 rm x", Risk.HIGH),
    ("env --split-string='rm -rf x'", Risk.HIGH),
    ("env -S'rm -rf x'", Risk.HIGH),
    ("valgrind rm x", Risk.HIGH),
    ("parallel rm ::: a b", Risk.HIGH),
    ("echo 'rm -rf x' | sh", Risk.HIGH),
    ("printf '%s\\n' 'rm -rf x' | bash", Risk.HIGH),
    ("bash <<< 'rm -rf x'", Risk.HIGH),
    ("sh <<'EOF'\nrm -rf x\nEOF", Risk.HIGH),
    ("echo ls | sh", Risk.MEDIUM),  # piping into a shell is at least medium
    ("x='a[$(rm -rf y)]'; echo ${!x}", Risk.HIGH),
    ("echo ${x@P}", Risk.HIGH),
    ("[ -v 'a[$(rm -rf x)]' ]", Risk.HIGH),
    ("declare -n r='a[$(rm -rf x)]'", Risk.HIGH),
    ("PROMPT_COMMAND='rm -rf x'", Risk.HIGH),
    ("export PROMPT_COMMAND='rm -rf x'", Risk.HIGH),
    ("less '+!rm -rf x' f", Risk.HIGH),
    ("ssh -o ProxyCommand='rm -rf x' h", Risk.HIGH),
    ("git -c core.sshCommand='rm -rf x' fetch", Risk.MEDIUM),
    ("GIT_SSH_COMMAND='rm -rf x' git fetch", Risk.MEDIUM),
    ("rm${IFS}-rf${IFS}x", Risk.HIGH),
    ("$'ls\\nrm' x", Risk.HIGH),
    ("\u0441at /etc/passwd", Risk.HIGH),  # Cyrillic es
    ("ls # ; rm -rf x", Risk.LOW),
    ("ls a#b", Risk.LOW),
])
def test_attack_classes(line: str, risk: Risk) -> None:
    c = classify(line)
    assert c.risk == risk, (c.reasons, c.actions)


def test_hash_p_redirects_later_calls() -> None:
    c = classify("hash -p /bin/rm ls; ls -rf x")
    assert c.risk == Risk.HIGH and c.actions[-1].program == "rm"
    assert classify("hash -p $x ls; ls").risk == Risk.HIGH


@pytest.mark.parametrize(("line", "key", "risk"), [
    # The parser sees an ASCII shadow of the line (non-ASCII bytes become `x`): a function named
    # `fé` must not be taken for `fxx`, which bash runs as a program of its own.
    ("fé(){ :; }; fxx -rf /", "fxx", Risk.MEDIUM),
    ("é(){ :; }; xx", "xx", Risk.MEDIUM),
    ("é(){ rm -rf /; }; é", "rm", Risk.HIGH),
])
def test_non_ascii_function_names_are_their_own(line: str, key: str, risk: Risk) -> None:
    c = classify(line)
    assert c.risk == risk
    assert key in [a.key for a in c.actions]
    called = [a for a in c.actions if a.key == key]
    assert all("calls shell function" not in r.text for a in called for r in a.reasons)
