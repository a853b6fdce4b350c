"""Red-team round 6: a `#` inside a word read as a comment (F1), unterminated `$'...\\'` (F3), fork
bombs and endless spawn loops (F2), and destructive or privileged lines rated below HIGH.

Each case is a line and the least risk it may get, and is never allowed headless even with broad
allow rules. F1 and F3 are also checked against real bash in a scratch directory: what bash runs
must be what vsh's model holds (a line bash runs `touch pwn` from is never low). Fork bombs and
destructive lines are only classified, never run."""

from __future__ import annotations

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

# F1: a word ending in a quoted part or an expansion, then an escaped blank, then `#`: bash keeps
# the `#` in the word and runs what follows; tree-sitter drops the escaped blank and starts a comment.
_HEADS = ["{a,b}", '"a"', "'a'", "$'a'", "$x", "${x}", "$(echo)", "`echo`", "$((1))", "[a]", "$@", "$1",
          "{a..b}", "a", "*", "~"]
_BLANKS = ["\\ ", "\\\t"]
_TAILS = ["; rm -rf x", "&& rm -rf x", "|sh", "$(rm -rf x)", "`rm -rf x`", "; sudo rm -rf /"]
F1 = [(f"ls {h}{b}#{t}", H) for h in _HEADS for b in _BLANKS for t in _TAILS[:2]] + [
    (f"echo {h}\\ #{t}", H) for h in _HEADS[:6] for t in _TAILS] + [
    ("git status \"a\"\\ #; touch pwn", H),
    ("cat {a,b}\\ #; cat a.log | sh", H),
    ("bash -c 'ls \"a\"\\ #; rm -rf x'", H),
    ("eval 'echo $x\\ #; rm -rf x'", H),
    ("ls \"a\"\\ b", H),  # the escaped blank joins the words for bash, not for tree-sitter
    ("{ ls;}#x", H),  # `}#x` is one word for bash: no closing brace
]

# F3: `$'...\'` ends at no quote for bash.
F3 = [
    ("ls $'\\'", H), ("ls $'a\\'", H), ("echo $'\\'", H), ("ls x $'\\'", H), ("ls $'\\' ", H),
    ("ls\nls $'\\'", H), ("ls $'\\x\\'", H), ("ls ${x:-$'\\'}", H), ("ls $(echo $'\\')", H),
    ("bash -c \"ls \\$'\\\\'\"", H),
]

# F2: fork bombs and endless background-spawn loops.
F2 = [
    (":(){ :|:& };:", H), ("bomb(){ bomb|bomb& };bomb", H), ("f(){ f|f& }; f", H),
    ("function f { f | f & }; f", H), ("f() ( f | f & ); f", H), ("f(){ (f &); f; }; f", H),
    ("f(){ f & f; }; f", H), ("f() { f & f & }; f", H), (":(){ :& :; };:", H), ("ls(){ ls|ls& };ls", H),
    ("f(){ g; }; g(){ f|f& }; f", H), ("git status; :(){ :|:& };:", H),
    ("bash -c ':(){ :|:& };:'", H), ("eval ':(){ :|:& };:'", H),
    ("while :; do :& done", H), ("for((;;)); do :& done", H), ("until false; do :& done", H),
    ("while true; do sleep 1 & done", H), ("while :; do ls & done", H), ("for ((;1;)); do :& done", H),
    ("while ((1)); do :& done", H), ("f(){ sleep 1 & }; while :; do f; done", H),
    ("f(){ f; }; f", M), ("while :; do :; done", M),
]

# Destructive or privileged lines.
SYSTEM = [
    *[(f"ls {op} /dev/{dev}", H) for op in (">", ">>", "2>", "&>") for dev in
      ("sda", "sdb1", "nvme0n1", "hda", "vda", "xvda", "mmcblk0", "mem", "kmem", "port", "disk/by-id/x")],
    ("ls | tee /dev/sda", H), ("ls | tee -a /etc/hosts", H), ("cat /dev/urandom > /dev/sda", H),
    *[(f"ls > {p}", H) for p in ("/etc/passwd", "/boot/vmlinuz", "/usr/bin/ls", "/bin/sh", "/sbin/init",
                                  "/lib/x.so", "/lib64/ld.so", "/var/lib/dpkg/status", "/proc/sys/kernel/x",
                                  "/sys/power/state", "/etc//../etc/shadow")],
    ("echo b > /proc/sysrq-trigger", H), ("git status; echo b > /proc/sysrq-trigger", H),
    ("chmod -R 777 /", H), ("chmod --recursive 777 /", H), ("chmod -Rf a+rwx /", H), ("chmod -R 000 ~", H),
    ("chown -R nobody /", H), ("chgrp -R users /usr", H), ("chown --recursive me /etc", H),
    ("/bin/chmod -R 777 /", H), ("c''hmod -R 777 /", H), ("\\c\\h\\m\\o\\d -R 777 /", H),
    ("chmod u+s /bin/bash", H), ("chmod g+s x", H), ("chmod +s x", H), ("chmod 4755 ./x", H),
    ("chmod 2755 x", H), ("chmod 6755 x", H), ("chown root:root x && chmod +s x", H),
    ("chmod 000 /etc/passwd", H), ("mv /etc/passwd /tmp/x", H), ("mv /bin/bash /tmp/", H),
    ("cp /dev/null /etc/passwd", H), ("ln -sf /tmp/x /etc/x", H), ("install x /usr/local/bin/x", H),
    ("truncate -s0 /etc/passwd", H), ("shred /etc/passwd", H), ("rm /etc/passwd", H),
    ("systemctl stop sshd", H), ("systemctl disable --now firewalld", H), ("systemctl mask x", H),
    ("systemctl kill x", H), ("systemctl reboot", H), ("systemctl poweroff", H), ("systemctl isolate rescue", H),
    ("systemctl --user stop x", H), ("systemctl -H host stop x", H), ("service ssh stop", H),
    ("sudoedit /etc/hosts", H), ("sudoedit -u root /etc/shadow", H),
    ("docker run -v /:/host -it alpine", H), ("docker run --volume=/etc:/e alpine", H),
    ("docker run -v /var/run/docker.sock:/s alpine", H), ("docker run --privileged alpine", H),
    ("docker run --pid=host alpine", H), ("docker run --net=host alpine", H), ("docker run --network host x", H),
    ("docker create --mount type=bind,source=/,target=/h x", H),
    ("crontab -", H), ("crontab jobs.txt", H), ("git status; echo '* * * * * rm -rf ~' | crontab -", H),
    ("_=1 rm -rf x", H), ("_+=1 rm -rf x", H), ("_= rm -rf x", H), ("A=1 _=1 rm -rf x", H),
    ("_=1 _=2 rm -rf x", H), ("_=x /bin/rm -rf x", H), ("_=1 sudo rm -rf x", H), ("_=1 shred x", H),
    ("env -i -- FOO=1 rm -rf x", H), ("env -- FOO=1 rm -rf x", H), ("env -u X -- A=1 rm -rf x", H),
    ("env -- A=1 B=2 rm -rf x", H), ("env -- A=1 sh -c 'rm -rf x'", H), ("env -- _=1 rm -rf x", H),
]

CASES = F1 + F3 + F2 + SYSTEM

# Everyday lines: comments, `#` inside words, escaped blanks inside words, reads of system files.
LEGIT = [
    "ls -la # comment", "echo a # b", "git log --oneline # x", "echo \"#notacomment\"", "echo a#b",
    "ls a\\ b", "ls a\\ #b", "ls \\\\ #x", "echo 'a\\ b'", "echo \"a\\ b\"", "echo $'a\\ b'", "echo ${x:-a\\ b}",
    "ls $'a\\'b'", "echo $'\\''", "echo '\\'", "ls\n# just a comment", "ls; #x",
    "systemctl status ssh", "systemctl is-active x", "systemctl list-units", "systemctl show x",
    "systemctl cat x", "cat /etc/passwd", "ls /dev/sda", "ls > /dev/null", "_x=1 ls", "_=1 ls",
    "while read -r l; do echo \"$l\"; done < f", "for i in 1 2 3; do echo $i & done; wait",
    "for ((i=0;i<3;i++)); do echo $i; done", "f(){ ls | grep x; }; f",
    "while :; do ls; break; done",
]
# Not low today (chmod changes files) and must not become high.
NOT_HIGH = ["chmod 644 file", "chmod -R u+w build/", "chmod 0755 x", "cp /etc/passwd /tmp/x",
            "crontab -l", "systemctl --user restart x", "docker run -v \"$PWD\":/src x", "env -- ls",
            "mkdir -p build/x", "while true; do date; sleep 5; done"]

HEADLESS_RULES = ["ls *", "echo *", "cat *", "git status *", "git log *", "bash *", "eval *", "env *",
                  "chmod *", "chown *", "chgrp *", "mv *", "cp *", "ln *", "install *", "tee *", "systemctl *",
                  "service *", "docker *", "crontab *", "sudoedit *", "while *", "f *", ": *", "truncate *",
                  "/bin/chmod *", "_=1 *", "_+=1 *", "A=1 *"]


def _rule(i: int, pattern: str) -> TrustRule:
    return TrustRule(id=i, tool="bash", pattern=pattern, scope=None, decision="allow")


@pytest.mark.parametrize(("line", "least"), CASES, ids=[repr(c[0])[:70] for c in CASES])
def test_least_risk(line: str, least: Risk) -> None:
    c = classify(line)
    assert c.risk >= least, (c.reasons, c.actions)


@pytest.mark.parametrize(("line", "least"), CASES, ids=[repr(c[0])[:70] for c in CASES])
def test_never_allowed_headless(line: str, least: Risk, tmp_path: Path) -> None:
    rules = [_rule(i, p) for i, p in enumerate(HEADLESS_RULES, 1)]
    d = decide(classify(line), rules=rules, context="headless", tolerance=Tolerance(), cwd=tmp_path,
               workspace=tmp_path, now=1.0)
    assert d.decision != "allow", d.trace


@pytest.mark.parametrize("line", F1[:-2] + F3)
def test_differential_lines_are_parse_errors(line: str) -> None:
    assert not classify(line).parse_ok


@pytest.mark.parametrize("line", LEGIT)
def test_everyday_lines_stay_low(line: str) -> None:
    c = classify(line)
    assert c.parse_ok, c.reasons
    assert c.risk == L, (c.reasons, c.actions)


@pytest.mark.parametrize("line", NOT_HIGH)
def test_ordinary_changes_are_not_high(line: str) -> None:
    assert classify(line).risk < H


def _run(line: str, tmp: Path) -> subprocess.CompletedProcess[bytes]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp)}
    return subprocess.run([BASH or "bash", "--norc", "--noprofile", "-c", line], env=env, cwd=tmp,
                          capture_output=True, timeout=30, stdin=subprocess.DEVNULL)


# Real bash creates pwn from each line: vsh must not rate any of them low.
PWN = [f"echo {h}{b}#; touch pwn" for h in _HEADS for b in _BLANKS] + [
    "echo {a,b}\\ #&& touch pwn", "echo {a,b}\\ #$(touch pwn)", "echo {a,b}\\ #`touch pwn`",
    "echo \"a\"\\ #|touch pwn", "true \"a\"\\ #; touch pwn",
]


@needs_bash
@pytest.mark.parametrize("line", PWN, ids=[repr(x)[:60] for x in PWN])
def test_bash_runs_what_follows_the_hash(line: str, tmp_path: Path) -> None:
    _run(line, tmp_path)
    assert (tmp_path / "pwn").exists(), "bash did not run the rest of the line"
    c = classify(line)
    # Either the line fails closed, or vsh's model holds the touch that bash ran.
    assert not c.parse_ok or any(a.argv[0] == "touch" for a in c.actions), c.actions
    assert c.risk > L


# Lines vsh rates low: bash runs them without creating anything.
QUIET = ["echo a\\ #; touch pwn", "echo a # ; touch pwn", "echo \"a\" #; touch pwn", "echo $'a\\'b' #; touch pwn",
         "echo a#; touch pwn_no", "echo 'x\\' #; touch pwn"]


@needs_bash
@pytest.mark.parametrize("line", QUIET, ids=[repr(x)[:60] for x in QUIET])
def test_low_lines_run_nothing_more(line: str, tmp_path: Path) -> None:
    c = classify(line)
    if c.risk == L:
        _run(line, tmp_path)
        assert not (tmp_path / "pwn").exists()


@pytest.mark.parametrize("line", [x[0] for x in F3 if not x[0].startswith("bash")])
@needs_bash
def test_bash_rejects_unterminated_ansi_c(line: str) -> None:
    assert subprocess.run([BASH or "bash", "-n", "-c", line], capture_output=True, timeout=30).returncode != 0
    assert not classify(line).parse_ok
