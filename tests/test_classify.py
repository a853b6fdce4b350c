"""classify(): the Classification contract (risk, JSON shape, reasons, rendering)."""

from __future__ import annotations

import json
import threading

from vshell.classify import classify, render_human
from vshell.display import visible
from vshell.model import Risk


def test_line_risk_is_the_highest_action() -> None:
    c = classify("ls && curl -s x && rm -rf y")
    assert [a.risk for a in c.actions] == [Risk.LOW, Risk.MEDIUM, Risk.HIGH]
    assert c.risk == Risk.HIGH


def test_empty_and_comment_lines_have_no_actions() -> None:
    for line in ("", "   ", "# just a comment", "a=1"):
        c = classify(line)
        assert c.actions == () and c.risk == Risk.LOW and c.parse_ok


def test_json_shape() -> None:
    data = json.loads(json.dumps(classify("git -c a=b log > out").to_json()))
    assert set(data) >= {"command", "parse_ok", "risk", "actions", "suggestions"}
    action = data["actions"][0]
    assert set(action) >= {"argv", "action_key", "risk", "reasons"}
    assert action["argv"] == ["git", "-c", "a=b", "log"]
    assert action["action_key"] == "git log"
    assert data["risk"] == "medium"
    assert all(isinstance(r, str) for r in action["reasons"])


def test_every_risky_action_has_reasons() -> None:
    for line in ("rm x", "curl x", "ls > f", "FOO=1 PAGER=x git log", "frob", "$x", "find . -delete"):
        for a in classify(line).actions:
            if a.risk > Risk.LOW:
                assert any(r.risk == a.risk for r in a.reasons), (line, a.reasons)


def test_parse_error_reason() -> None:
    c = classify("ls \"unterminated")
    assert not c.parse_ok and c.risk == Risk.HIGH
    assert any(r.code == "parse-error" for r in c.reasons)


def test_render_human_escapes_control_characters() -> None:
    text = render_human(classify("echo '\x1b[2J\rhidden'"))
    assert "\x1b" not in text and "\r" not in text
    assert "\\x1b" in text and "\\r" in text
    assert "suggestions:" in text and "actions (1):" in text


def test_visible() -> None:
    assert visible("ls -la") == "ls -la"
    assert visible("a\rb\x1bc\u200bd\u202ee\udcff") == "a\\rb\\x1bc\\u200bd\\u202ee\\xff"
    assert visible("tab\there") == "tab\\there"
    assert visible("é ｒｍ") == "é ｒｍ"


def test_tree_rendering_on_request() -> None:
    c = classify("ls | wc", tree=True)
    assert "pipeline" in c.tree and "command_name" in c.tree
    assert classify("ls").tree == ""
    deep = classify("echo " + "$(" * 5000 + "x" + ")" * 5000, tree=True)
    assert deep.tree.endswith("…")


def test_threads_share_nothing() -> None:
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(200):
                assert classify("git status && rm -rf x").risk == Risk.HIGH
        except BaseException as e:  # collected and re-raised in the main thread
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_text_that_crashed_the_parser_is_safe() -> None:
    # tree-sitter-bash 0.25 reads out of bounds on non-ASCII code points (a segfault for large ones):
    # the parser only sees an ASCII shadow of the line.
    for _ in range(50):
        for line in ("{\U000f0000", "echo {\U0010fffd", "x{\U000e0100", "bash -c $'{\\U000f0000'"):
            c = classify(line)
            assert c.risk == Risk.HIGH and not c.parse_ok, line  # private-use / invisible characters
        assert classify("aa {\U0002d34f").risk == Risk.MEDIUM  # an unknown program, parsed safely
    c = classify("git commit -m 'fix 🐛 in {é}'")
    assert c.risk == Risk.MEDIUM and c.actions[0].argv[-1] == "fix 🐛 in {é}"
    c = classify("echo é{a,b}ü")
    assert not c.actions[0].literal and c.actions[0].argv[1] == "é{a,b}ü"
