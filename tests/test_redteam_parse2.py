"""Red-team findings on the walker (second round): code that bash runs but the parse tree hides.

Each case is a line and the least risk it may get. Most are written with a `CMD` placeholder: the
classifier sees `rm -rf x` there, and real bash (when installed) is shown to run it, with
`touch pwn` in its place, in a scratch directory. The other direction is kept too: everyday agent
lines keep their risk (LEGIT).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from vshell.classify import classify
from vshell.config import Tolerance
from vshell.decide import decide
from vshell.model import Risk
from vshell.rules import TrustRule

BASH = shutil.which("bash")
needs_bash = pytest.mark.skipif(BASH is None, reason="bash is not installed")
L, M, H = Risk.LOW, Risk.MEDIUM, Risk.HIGH
CMD = "CMD"


def code(template: str, risk: Risk = H, *, runs: bool = True) -> tuple[str, Risk, str | None]:
    """(line as classified, least risk, line bash runs to show that CMD is executed or None)."""
    return template.replace(CMD, "rm -rf x"), risk, template.replace(CMD, "touch pwn") if runs else None


# F1: substitutions inside ${...} operands (patterns, case modification, defaults, replacements).
F1 = [
    code("echo ${HOME#$(CMD)}"),
    code("echo ${HOME##$(CMD)}"),
    code("echo ${HOME%`CMD`}"),
    code("ls ${PWD%%`CMD`}"),
    code("echo ${HOME#`CMD`}"),
    code("echo ${x:-`CMD`}"),
    code("echo ${x-`CMD`}"),
    code("echo ${x:=`CMD`}"),
    code("echo ${x=`CMD`}"),
    code("echo ${HOME:+`CMD`}"),
    code("echo ${HOME+`CMD`}"),
    code("echo ${x:?`CMD`}"),
    code("echo ${x:-<(CMD)}"),
    code("echo ${HOME//?/`CMD`}"),
    code("echo ${HOME/`CMD`/y}"),
    code("echo ${PATH,,$(CMD)}"),
    code("echo ${PATH^^$(CMD)}"),
    code("echo ${PATH^`CMD`}"),
    code("echo ${PATH,`CMD`}"),
    code("a=${x:-`CMD`}"),
    code("for i in ${x:-`CMD`}; do :; done"),
    code("case ${x:-`CMD`} in *) ;; esac"),
    code("cat <<EOF\n${x:-`CMD`}\nEOF"),
    code("cat <<EOF\n${HOME#$(CMD)}\nEOF", runs=False),  # bash 5.2 fails to parse this body
    code('echo "${x:-`CMD`}"'),
    code("echo \"${x:-'$(CMD)'}\""),  # inside "...", single quotes in the operand are literal
    code("cat <<EOF\n${x:-'$(CMD)'}\nEOF"),
    code("echo ${x:-${y:-`CMD`}}"),
    code("echo ${x:-a `CMD` b}"),
    code("[[ -n ${x:-`CMD`} ]]"),
]

# F2: escaped backticks inside a backtick substitution are a nested substitution.
F2 = [
    code("echo `echo \\`CMD\\``"),
    code('echo "`echo \\"\\`CMD\\`\\"`"'),
    code("echo $(echo `echo \\`CMD\\``)"),
    code("echo `echo \\$(CMD)`"),
    code("cat <<EOF\n`echo \\`CMD\\``\nEOF"),
    # directly inside "...", \" is unescaped too, so the single quotes below are quoted
    code("echo \"`echo \\\"'\\\"; CMD; echo \\\"'\\\"`\""),
    # but not inside a ${...} operand, an unquoted backtick or a here-document
    code("echo \"${x:-`echo \\\"; CMD; echo \\\"`}\""),
    code("echo `echo \\\"; CMD; echo \\\"`"),
    code("cat <<EOF\n`echo \\\"; CMD; echo \\\"`\nEOF"),
]

# F3: here-document delimiters bash reads after quote removal, where tree-sitter matches literally.
F3 = [
    code("cat <<$'EOF'\nx\nEOF\nCMD\n$'EOF'"),
    code('cat <<$"EOF"\nx\nEOF\nCMD\n$"EOF"'),
    code("cat <<-$'EOF'\nx\n\tEOF\nCMD\n$'EOF'"),
    code("cat <<E$''OF\nx\nEOF\nCMD\nE$''OF"),
    code("cat <<$'E\\x4fF'\nx\nEOF\nCMD\n$'E\\x4fF'"),
    code('cat <<"E"OF\nx\nEOF\nCMD\n"E"OF'),
    code("cat <<'E'\"O\"F\nx\nEOF\nCMD\n'E'\"O\"F"),
    code("cat <<E''OF\nx\nEOF\nCMD\nE''OF"),
]
# ... and where tree-sitter ends the body before bash does (bash does not run CMD: fail closed).
F3_EARLY = [
    "cat <<-EOF\nx\n \tEOF\nrm -rf x\n\tEOF",
    "cat <<EOF\nx\n EOF\nrm -rf x\nEOF",
]

# F4: a `"` inside $( ) in a here-document body is a real quote.
F4 = [
    code('cat <<EOF\n$(echo ")"; CMD)\nEOF'),
    code('cat <<-EOF\n\t$(echo ")"; CMD)\n\tEOF'),
    code('cat <<EOF\n"$(echo ")"; CMD)"\nEOF'),
    code("cat <<EOF\n$(echo '\")'; CMD)\nEOF"),
    code('cat <<EOF\na "b" $(echo "x" ")" ; CMD) "c\nEOF'),
    code('cat <<EOF\n`echo ")"; CMD`\nEOF'),
    code("cat <<EOF\n$(case x in x) CMD;; esac)\nEOF"),
    code("cat <<EOF\n$((1 + $(CMD) ))\nEOF"),
]

# F5: arithmetic evaluation of a name whose value (from the line's own text) has a subscript with code.
F5 = [
    code("for x in 'a[$(CMD)]'; do echo $((x)); done"),
    code("for x in 'a[$(CMD)]'; do let x; done"),
    code("for x in 'a[$(CMD)]'; do a[x]=1; done"),
    code("for x in 'a[$(CMD)]'; do (( x )); done"),
    code("for x in 'a[$(CMD)]'; do [[ x -eq 0 ]]; done"),
    code("for x in 'a[$(CMD)]'; do declare -i y=x; done"),
    code("read x <<< 'a[$(CMD)]'; echo $((x))"),
    code("read x <<< 'a[$(CMD)]'; echo ${!x}"),
    code("read x <<< 'a[$(CMD)]'; echo $(($x))"),
    code("read x <<< 'a[$(CMD)]'; b=(1); echo ${b[x]}"),
    code("read x <<< 'a[$(CMD)]'; echo ${HOME:x}"),
    code("read x <<< 'a[$(CMD)]'; echo $[x]"),
    code("read x <<< 'a[$(CMD)]'; for ((i=x; 0; )); do :; done"),
    code("read x <<'EOF'\na[$(CMD)]\nEOF\necho $((x))"),
    code("mapfile -t arr <<< 'a[$(CMD)]'; echo $((arr))"),
    code("printf -v x %s 'a[$(CMD)]'; echo $((x))"),
    code("echo 'a[$(CMD)]' | { read x; echo $((x)); }"),
    code("declare -i y; read y <<< 'a[$(CMD)]'"),
    code("declare -i y; for y in 'a[$(CMD)]'; do :; done"),
    code("while read x; do echo $((x)); done <<< 'a[`CMD`]'"),
    code("read y <<< 'a[$(CMD)]'; read \"$y\" <<< 1"),  # a name that is expanded is evaluated too
    code("read y <<< 'a[$(CMD)]'; printf -v \"$y\" 1"),
    code("read y <<< 'a[$(CMD)]'; declare \"$y=1\""),
    code("read y <<< 'a[$(CMD)]'; [ -v \"$y\" ]"),
    code("read x <<< $'a[\\x24(CMD)]'; echo $((x))"),
    code("getopts a: o -a 'a[$(CMD)]'; echo $((OPTARG))"),  # names bash sets itself
    code("[[ 'a[$(CMD)]' =~ .* ]]; echo $((BASH_REMATCH))"),
    code("select x in 'a[$(CMD)]'; do echo $((x)); break; done <<< 1"),
    # values built from pieces: the line cannot tell, so at least medium
    code("x=a[; x+='$(CMD)]'; echo $((x))", M),
    code("x=a[; y='$(CMD)]'; z=$x$y; echo $((z))", M),
    code("printf -v x 'a[%s(CMD)]' '$'; echo $((x))", M),
]
F5_MEDIUM = [  # a value the line does not know, evaluated as arithmetic
    "read x < f; echo $((x))",
    "x=$(cat f); echo $((x + 1))",
    "while read -r n; do (( n > 3 )); done < f",
    "for n in $(cat f); do echo $((n)); done",
    "read x < f; echo ${!x}",
    "declare -i y; read y < f",
    "getopts a: o; echo $((OPTARG))",
    "echo $((_ + 1))",
]

# F7 / F14: wrapper options in clusters and as GNU long-option abbreviations.
F7 = [
    code("env -vS'CMD'"),
    code("env -iS'CMD'"),
    code("env -vS 'CMD'"),
    code("env --split='CMD'"),
    code("env --split-s 'CMD'"),
    code("env -uX -S'CMD'"),
    code("timeout --sig KILL 5 CMD"),
    code("timeout --signal=KILL 5 CMD"),
    code("timeout --k 9 5 CMD"),
    code("nice --adj 5 CMD"),
    code("nice --adjustment=5 CMD"),
    code("env --chd . CMD"),
    code("env --un X CMD"),
    code("echo x | xargs -i CMD"),
    code("echo x | xargs -e CMD"),
    code("echo x | xargs -l CMD"),
    code("echo x | xargs --replace CMD"),
    code("echo x | xargs --rep CMD"),
    code("echo x | xargs -0i CMD"),
]

# F8: bash's command hash and alias table written as variables.
F8 = [
    ("BASH_CMDS[ls]=/bin/rm; ls -rf x", H, "BASH_CMDS[ls]=/usr/bin/touch; ls pwn"),
    ("BASH_CMDS['ls']=/bin/rm; ls -rf x", H, "BASH_CMDS['ls']=/usr/bin/touch; ls pwn"),
    ("declare BASH_CMDS[ls]=/bin/rm; ls -rf x", H, "declare BASH_CMDS[ls]=/usr/bin/touch; ls pwn"),
    ("BASH_CMDS=([ls]=/bin/rm); ls -rf x", H, "BASH_CMDS=([ls]=/usr/bin/touch); ls pwn"),
    ("BASH_CMDS+=([ls]=/bin/rm); ls -rf x", H, "BASH_CMDS+=([ls]=/usr/bin/touch); ls pwn"),
    ("read 'BASH_CMDS[ls]' <<< /bin/rm; ls -rf x", H, "read 'BASH_CMDS[ls]' <<< /usr/bin/touch; ls pwn"),
    ("printf -v 'BASH_CMDS[ls]' /bin/rm; ls -rf x", H, "printf -v 'BASH_CMDS[ls]' /usr/bin/touch; ls pwn"),
    ("k=ls; BASH_CMDS[$k]=/bin/rm; ls -rf x", H, "k=ls; BASH_CMDS[$k]=/usr/bin/touch; ls pwn"),
    ("declare -n r=BASH_CMDS; r[ls]=/bin/rm; ls -rf x", H, "declare -n r=BASH_CMDS; r[ls]=/usr/bin/touch; ls pwn"),
    ("shopt -s expand_aliases\nBASH_ALIASES[ls]='rm -rf x'\nls", H,
     "shopt -s expand_aliases\nBASH_ALIASES[ls]='touch pwn'\nls"),
    ("shopt -s expand_aliases\nBASH_ALIASES=([ls]='rm -rf x')\nls", H,
     "shopt -s expand_aliases\nBASH_ALIASES=([ls]='touch pwn')\nls"),
]

# F9: PATH / BASH_ENV set by a builtin rather than NAME=value; ./rt/ls and ./evil.sh write pwn.
F9 = [  # (line, least risk, whether bash then runs ./rt/ls or ./evil.sh)
    ("for PATH in ./rt; do ls; done", M, True),
    ("select PATH in ./rt; do ls; break; done <<< 1", M, True),
    ("read PATH <<< ./rt; ls", M, True),
    ("read -r PATH <<< ./rt; ls", M, True),
    ("read -a PATH <<< ./rt; ls", M, False),
    ("printf -v PATH %s ./rt; ls", M, True),
    ("printf -vPATH %s ./rt; ls", M, True),
    ("mapfile -t PATH <<< ./rt; ls", M, False),
    ("declare -n r=PATH; r=./rt; ls", M, True),
    ("f() { local -n r=PATH; r=./rt; ls; }; f", M, True),
    ("unset PATH; : ${PATH:=./rt}; ls", M, True),
    ("set -k; bash -c : BASH_ENV=./evil.sh", M, True),
    ("set -o keyword; bash -c : BASH_ENV=./evil.sh", M, True),
    ("set -ek; bash -c : BASH_ENV=./evil.sh", M, True),
    ("bash -k -c 'bash -c : BASH_ENV=./evil.sh'", M, True),
    ("set -a; for BASH_ENV in ./evil.sh; do bash -c :; done", M, True),
    ("read BASH_ENV <<< ./evil.sh; declare -x BASH_ENV; bash -c :", M, True),
    ("read BASH_ENV <<< ./evil.sh; typeset -x BASH_ENV; bash -c :", M, True),
    ("getopts r PATH -r; ls", M, False),
    ("let PATH=5; ls", M, False),
    ("(( PATH = 5 )); ls", M, False),
]

# F10: the xargs replace string and find's {} are not literal; bash runs a command named {}.
F10 = [
    code("echo 'CMD' | xargs -I{} sh -c {}"),
    code("echo 'CMD' | xargs -I% sh -c %"),
    code("echo 'CMD' | xargs -i sh -c {}"),
    code("echo 'CMD' | xargs -I {} bash -c '{}'"),
    code("echo 'CMD' | xargs --replace=Z sh -c Z"),
    code("echo 'CMD' | xargs -0 -I{} sh -c 'echo; {}'"),
    ("find . -exec sh -c {} \\;", H, None),
    ("find . -exec sh -c 'echo {}' \\;", H, None),
]

# F11: an unknown option before the subcommand: the subcommand is not known (at least medium).
F11 = [
    ("docker --tls rm -f db", H),
    ("docker --tlsverify run --privileged -v /:/h alpine", H),
    ("kubectl -v 9 delete ns prod", H),
    ("kubectl --server=https://x delete ns prod", H),
    ("pip --python ./evil list", M),
    ("pip -qq uninstall -y requests", M),
    ("npm --force unpublish x", H),
    ("npm --loglevel=silent install evilpkg", M),
    ("cargo -q install evil", M),
    ("go -C dir run .", M),
    ("git --attr-source=HEAD push --force origin main", H),
    ("git --frobnicate status", M),
    ("docker --unknown ps", M),
]

CASES = [(line, risk) for line, risk, _ in F1 + F2 + F3 + F4 + F5 + F7 + F8 + F10] + [(line, risk) for line, risk, _ in F9] + F11 + [
    (line, H) for line in F3_EARLY] + [(line, M) for line in F5_MEDIUM]


@pytest.mark.parametrize(("line", "least"), CASES, ids=[c[0][:70] for c in CASES])
def test_least_risk(line: str, least: Risk) -> None:
    c = classify(line)
    assert c.risk >= least, (c.reasons, c.actions)


HEADLESS_RULES = ["ls *", "echo *", "cat *", "git status *", "docker *", "kubectl *", "npm *", "pip *",
                  "cargo *", "go *", "env *", "xargs *", "timeout *", "nice *", "read *", "printf *"]


def _rule(i: int, pattern: str) -> TrustRule:
    return TrustRule(id=i, tool="bash", pattern=pattern, scope=None, decision="allow")


@pytest.mark.parametrize(("line", "least"), CASES, ids=[c[0][:70] for c in CASES])
def test_never_allowed_headless(line: str, least: Risk, tmp_path: Path) -> None:
    """Whatever rules allow the programs on their own, the line needs a person (the line-level
    risks, such as a PATH change, reach the actions)."""
    rules = [_rule(i, p) for i, p in enumerate(HEADLESS_RULES, 1)]
    d = decide(classify(line), rules=rules, context="headless", tolerance=Tolerance(), cwd=tmp_path,
               workspace=tmp_path, now=1.0)
    assert d.decision != "allow", d.trace


def _bash(line: str, tmp: Path) -> subprocess.CompletedProcess[bytes]:
    (tmp / "rt").mkdir(exist_ok=True)
    for script in (tmp / "rt" / "ls", tmp / "evil.sh"):
        script.write_text("#!/bin/sh\n: > pwn\n")
        script.chmod(0o755)
    env = {"PATH": os.defpath if not os.path.isdir("/usr/bin") else "/usr/bin:/bin", "HOME": str(tmp)}
    return subprocess.run([BASH or "bash", "--norc", "--noprofile", "-c", line], env=env, cwd=tmp,
                          capture_output=True, timeout=20)


RUNS = [(line, ran) for line, _, ran in F1 + F2 + F3 + F4 + F5 + F7 + F8 + F10 if ran is not None] + [
    (line, line) for line, _, ran in F9 if ran]


@needs_bash
@pytest.mark.parametrize(("ran", "line"), [(r, line) for line, r in RUNS], ids=[r[0][:70] for r in RUNS])
def test_bash_really_runs_it(ran: str, line: str, tmp_path: Path) -> None:
    """The claim behind each case: real bash executes the hidden command."""
    out = _bash(ran, tmp_path)
    assert (tmp_path / "pwn").exists(), out.stderr.decode(errors="replace")


@needs_bash
@pytest.mark.parametrize("line", F3_EARLY)
def test_early_heredoc_end_is_body_for_bash(line: str, tmp_path: Path) -> None:
    """Where tree-sitter ends the body early, bash reads the rest as body: nothing runs, yet the
    line fails closed as a differential."""
    out = _bash(line.replace("rm -rf x", "touch pwn"), tmp_path)
    assert not (tmp_path / "pwn").exists(), out.stderr
    assert not classify(line).parse_ok


def test_f10_nested_brace_word_is_a_command() -> None:
    c = classify("bash -c '{}'")
    assert c.risk >= M
    assert "{}" in [a.key for a in c.actions]


def test_bash_cmds_is_hash_p() -> None:
    """BASH_CMDS[ls]=/bin/rm makes `ls` run rm, with ls's arguments."""
    c = classify("BASH_CMDS[ls]=/bin/rm; ls -rf x")
    assert [a.argv for a in c.actions] == [("rm", "-rf", "x")]


# The report's lines used options vsh did not know then; they are in the tables now (see
# test_known_global_options_keep_the_subcommand), so these use options it still does not know.
@pytest.mark.parametrize(("line", "key"), [
    ("docker --frobnicate rm -f db", "docker rm"),
    ("kubectl --frobnicate 9 delete ns prod", "kubectl delete"),
    ("go -frobnicate dir run .", "go run"),
    ("npm --frobnicate x unpublish y", "npm unpublish"),
])
def test_unknown_global_option_picks_the_riskiest_reading(line: str, key: str) -> None:
    c = classify(line)
    assert [a.key for a in c.actions] == [key]
    assert not c.actions[0].rule_eligible


@pytest.mark.parametrize(("line", "plain"), [
    ("docker --tls rm -f db", "docker rm -f db"),
    ("docker --tlsverify run --privileged -v /:/h alpine", "docker run --privileged -v /:/h alpine"),
    ("docker --context x rm -f db", "docker rm -f db"),
    ("docker -H ssh://h rm -f db", "docker rm -f db"),
    ("kubectl -v 9 delete ns prod", "kubectl delete ns prod"),
    ("kubectl --v=9 delete ns prod", "kubectl delete ns prod"),
    ("kubectl --server=https://x delete ns prod", "kubectl delete ns prod"),
    ("kubectl -n prod --context c delete ns prod", "kubectl delete ns prod"),
    ("npm --force unpublish x", "npm unpublish x"),
    ("npm --loglevel=silent install evilpkg", "npm install evilpkg"),
    ("npm --loglevel silent install evilpkg", "npm install evilpkg"),
    ("pip -qq uninstall -y requests", "pip uninstall -y requests"),
    ("cargo -q install evil", "cargo install evil"),
    ("cargo --locked build", "cargo build"),
])
def test_known_global_options_keep_the_subcommand(line: str, plain: str) -> None:
    """A known option that only picks a target, verbosity or log level changes nothing: the same
    subcommand, risk and rule eligibility as the line without it."""
    a, b = classify(line).actions[0], classify(plain).actions[0]
    assert (a.key, a.risk, a.rule_eligible) == (b.key, b.risk, b.rule_eligible)


@pytest.mark.parametrize(("line", "key", "least"), [
    ("go -C dir run .", "go run", M),  # a rule scoped to the working directory would not see dir
    ("kubectl --kubeconfig ./k get pods", "kubectl get", M),  # exec credential plugins run programs
    ("pip --python ./evil list", "pip list", H),  # runs ./evil
    ("npm --userconfig ./rc ls", "npm ls", M),  # script-shell, browser ...
])
def test_global_options_rules_must_not_absorb(line: str, key: str, least: Risk) -> None:
    c = classify(line)
    assert [a.key for a in c.actions] == [key]
    assert c.risk >= least
    assert not c.actions[0].rule_eligible


# The other direction: everyday agent lines keep their risk.
LEGIT = [
    ("git commit -m \"$(cat <<'EOF'\nfix: parser\n\nBody with \"quotes\" and $dollars.\nEOF\n)\"", M),
    ('cat > notes.md <<EOF\nGenerated on $(date +"%Y-%m-%d") by "$USER"\nEOF', M),
    ('cat <<EOF\nversion: "$(cat VERSION)"\nEOF', L),
    ("cat <<EOF\n$(git log --format='%h \"%s\"' -3)\nEOF", L),
    ("cat <<'EOF'\n$(not run) `nor this` ${x:-`this`}\nEOF", L),
    ('cat <<-EOF\n\tname: "${NAME:-default}"\n\tEOF', L),
    ("echo ${VAR:-default}", L),
    ("echo ${x#prefix} ${x%%.*} ${x/a/b} ${x,,} ${x^^}", L),
    ('echo "${HOME}/x" "${PWD##*/}"', L),
    ('echo "${x:-$(pwd)}"', L),
    ("echo ${x:-'it is'}", L),
    ("for f in *.py; do echo $f; done", L),
    ("for i in 1 2 3; do echo $((i * 2)); done", L),
    ("for i in {1..5}; do echo $((i + 1)); done", L),
    ("i=0; while [ $i -lt 3 ]; do i=$((i+1)); done", L),  # `[` reads integers: no arithmetic
    ('[ "$n" -gt 3 ] && echo big', L),
    ('[[ -n "$x" && "$x" == y* ]]', L),
    ("i=$((i+1))", L),
    ("n=0; for f in *; do n=$((n + 1)); done; echo $n", L),
    ("for ((i = 0; i < 3; i++)); do echo $i; done", L),
    ("(( count += 1 ))", L),
    ("let total=total+1", L),
    ("declare -i n=5", L),
    ("read -r name <<< 'x'; echo $name", L),
    ("while read -r line; do echo \"$line\"; done < file.txt", L),
    ("printf -v now '%s' today; echo $now", L),
    ("xargs -I{} echo {}", L),
    ("ls | xargs -I{} echo {}", L),
    ("find . -name '*.py' | xargs grep -l TODO", L),
    ("echo `date`", L),
    ('echo "`git rev-parse HEAD`"', L),
    ("echo `echo \\`date\\``", L),
    ("docker ps", L),
    ("docker --context prod ps", L),
    ("kubectl get pods", L),
    ("kubectl -n prod get pods", L),
    ("git -C sub status", L),
    ("git --no-pager log --oneline -5", L),
    ("npm --version", L),
    ("pip -q list", L),
    ("env -i PATH=/usr/bin ls", M),
    ("timeout 5 ls", L),
    ("timeout --signal=KILL 5 ls", L),
    ("nice -n 10 ls", L),
    ("time { ls; }", L),
    ("coproc { ls; }", L),
    ("time (ls)", L),
    ("time for f in *; do wc -l $f; done", L),
    ("! { ls; }", L),
    ("set -euo pipefail; ls", L),
    ("set -x; ls", L),
    ("export PATH=\"$HOME/.local/bin:$PATH\"; ls", M),
    ("x=$(pwd); echo $x", L),
    ("read -p 'name? ' name; echo $name", L),
]


@pytest.mark.parametrize(("line", "risk"), LEGIT, ids=[c[0][:70] for c in LEGIT])
def test_everyday_lines_keep_their_risk(line: str, risk: Risk) -> None:
    c = classify(line)
    assert c.parse_ok, c.reasons
    assert c.risk == risk, (c.reasons, c.actions)


@needs_bash
@pytest.mark.parametrize("line", [
    "cat <<EOF\n$(echo \")\")\nEOF",
    "cat <<EOF\nx \"$(echo 'a b')\" y\nEOF",
    "echo `echo \\`echo hi\\``",
    'echo "`echo \\"a b\\"`"',
    "echo `echo \\\"a b\\\"`",
])
def test_argv_of_reparsed_bodies_is_what_bash_runs(line: str, tmp_path: Path) -> None:
    """bash runs as many programs as the model lists, and every action the model knows exactly is
    one bash ran (the stubs print nothing, so substitutions expand to nothing)."""
    from test_shellparse import bash_argvs

    actions = classify(line).actions
    theirs = [tuple(a) for a in bash_argvs(line, {a.program for a in actions}, tmp_path)]
    assert len(theirs) == len(actions)
    for a in actions:
        if a.literal:
            assert a.argv in theirs, (a.argv, theirs)


def test_many_plain_parameters_in_a_heredoc_stay_cheap_and_low() -> None:
    body = "\n".join(f"key{i}: ${{VALUE{i}:-default}}" for i in range(2000))
    c = classify(f"cat > conf.yaml <<EOF\n{body}\nEOF")
    assert c.parse_ok and c.risk == M  # medium: it writes conf.yaml


def test_too_many_substitutions_in_a_heredoc_fail_closed() -> None:
    body = " ".join("$(date)" for _ in range(600))
    c = classify(f"cat <<EOF\n{body}\nEOF")
    assert not c.parse_ok and c.risk == H
