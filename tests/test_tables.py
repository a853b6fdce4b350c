"""Every table entry's examples hold, and the tables are consistent with each other."""

from __future__ import annotations

import pytest

from vshell import tables
from vshell.classify import classify
from vshell.model import Risk

EXAMPLES = tables.all_examples()


def test_there_are_examples() -> None:
    assert len(EXAMPLES) > 60


@pytest.mark.parametrize(("row", "line", "risk"), EXAMPLES, ids=[f"{r}: {line}" for r, line, _ in EXAMPLES])
def test_table_example(row: str, line: str, risk: str) -> None:
    c = classify(line)
    assert c.risk == Risk.parse(risk), f"{row}: {line!r} is {c.risk.label}, table says {risk}; {c.reasons} {c.actions}"


def test_wrappers_shells_interpreters_privilege_never_get_a_wildcard() -> None:
    for name in [*tables.WRAPPERS, *tables.SHELLS, "python3", "python3.12", "node", "perl", "eval", "source"]:
        assert tables.no_wildcard(name), name


def test_wrapped_programs_are_not_plain_table_rows_with_lower_risk() -> None:
    # A privilege wrapper is high itself, whatever it runs.
    for name, w in tables.WRAPPERS.items():
        if w.privileged:
            assert w.risk == Risk.HIGH, name


def test_issue_risk_classes() -> None:
    for name in ["ls", "cat", "head", "tail", "wc", "grep", "rg", "find", "tree", "du", "df", "stat", "file", "pwd", "echo", "printf", "which", "jq", "ping", "dig"]:
        assert tables.PROGRAMS[name].risk == Risk.LOW, name
    for name in ["sed", "awk", "chmod", "chown", "cp", "mv", "mkdir", "touch", "curl", "wget"]:
        assert tables.PROGRAMS[name].risk == Risk.MEDIUM, name
    for name in ["rm", "dd", "mkfs", "shred", "reboot", "shutdown", "kill", "pkill", "killall", "iptables", "mount", "chroot"]:
        assert (tables.PROGRAMS.get(name) or tables.WRAPPERS[name]).risk == Risk.HIGH, name
    assert tables.program_entry("mkfs.ext4") is tables.PROGRAMS["mkfs"]


@pytest.mark.parametrize("name", ["PAGER", "GIT_PAGER", "GIT_SSH_COMMAND", "LD_PRELOAD", "NODE_OPTIONS", "BASH_ENV",
                                  "ENV", "PYTHONPATH", "PYTHONSTARTUP", "PATH", "LESSOPEN", "PERL5OPT", "RUBYOPT",
                                  "EDITOR", "VISUAL", "PROMPT_COMMAND", "IFS", "DYLD_INSERT_LIBRARIES"])
def test_behaviour_variables(name: str) -> None:
    assert tables.behaviour_var(name)
    assert classify(f"{name}=x ls").risk >= Risk.MEDIUM


def test_ordinary_variables_are_not_behaviour_variables() -> None:
    assert not tables.behaviour_var("FOO")
    assert classify("FOO=1 ls").risk == Risk.LOW


def test_arity() -> None:
    assert tables.ARITY["git"] == 2
    assert tables.ARITY["gh"] == 3
    assert tables.ARITY["npm run"] == 3
    assert tables.ARITY["docker compose"] == 3
    assert tables.ARITY["make"] == 1


# A bare `1`, `-`, `&1` or `5-` is a file name (`> 2` and `tee -` create files); only a duplicating
# operator (`>&2`) makes it a descriptor, and the walker judges those itself.
@pytest.mark.parametrize(("target", "harmless"), [
    ("/dev/null", True), ("/dev/stderr", True), ("/dev/fd/3", True), ("/proc/self/fd/1", True),
    ("1", False), ("-", False), ("&1", False), ("5-", False), ("2", False),
    ("out.txt", False), ("/dev/tcp/1.2.3.4/80", False), ("/dev/sda", False),
])
def test_harmless_targets(target: str, harmless: bool) -> None:
    assert tables.harmless_target(target) is harmless
