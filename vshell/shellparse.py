"""Walk a tree-sitter-bash tree into the actions bash would perform.

Every node kind is handled on purpose: statements (`STATEMENT_KINDS`), word pieces
(`WORD_KINDS`), expressions inside `[[ ]]`, `(( ))` and `${ }` (`EXPR_KINDS`) and redirections.
An ERROR or MISSING node, or a kind not in these tables, fails the line closed (HIGH, parse_ok
False). Nesting is bounded (`MAX_DEPTH`): deeper lines are HIGH, never a RecursionError.

The walker is the only stateful piece of the command model; it lives for one `walk()` call.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import NamedTuple, TypeVar

from tree_sitter import Node

from vshell import tables, words
from vshell.model import Action, Reason, Redirect, Risk
from vshell.tables import HIGH, LOW, MEDIUM, Program, Sub

MAX_DEPTH = 120  # nesting levels of statements/words before the line is refused as too deep
MAX_NESTED_PARSES = 16  # literal `bash -c` / `eval` strings parsed inside each other
MAX_ACTIONS = 2000

SYSTEM_DIRS = frozenset({
    "/bin", "/usr/bin", "/usr/local/bin", "/sbin", "/usr/sbin", "/usr/local/sbin", "/opt/homebrew/bin",
    "/opt/homebrew/sbin", "/usr/libexec", "/run/current-system/sw/bin",
})

_SEQ_TOKENS = frozenset({";", "&", "\n", "{", "}", "(", ")", "do", "done", "then", "fi", "else", "elif", "if",
                         "while", "until", "for", "select", "in", "case", "esac", ";;", ";&", ";;&", "function",
                         "((", "))", "|", "|&", "&&", "||", "!", "=", "+=", "[[", "]]", "[", "]", "$(", "`",
                         "<(", ">(", "\"", "$", "${", "$((", "$["})
_ARITH_TEST_OPS = frozenset({"-eq", "-ne", "-lt", "-le", "-gt", "-ge"})
_REDIRECT_KINDS = frozenset({"file_redirect", "heredoc_redirect", "herestring_redirect"})
_WRITE_OPS = frozenset({">", ">>", ">|", "&>", "&>>", ">&", "<>"})
_SPECIAL_IN_WORD = re.compile(r"[\\*?\[{(@!+$`]")
_PROMPT_EXPANSION = re.compile(r"@[PEA]\}$|@P")
_CODE_IN_TEXT = re.compile(r"\$\(|`|\$\{|<\(|>\(")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_EXPANDS_IN_WORD = re.compile(r"[$`*?\[{~]")  # a bare word holding one of these may expand
_ASSIGN_WORD = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(\[[^\]]*\])?\+?=")


# Reasons repeat across lines; sharing the frozen values saves building them again.
_reason = lru_cache(maxsize=8192)(Reason)


_T = TypeVar("_T")


def frozen(cls: type[_T], fields: dict[str, object]) -> _T:
    """Build a frozen dataclass from ALL its fields without running the generated __init__ (a third
    of the cost on the hot path). `fields` becomes the instance's __dict__, so pass a fresh dict. The
    value equals `cls(**fields)`; tests/test_classify_speed.py checks that."""
    obj = object.__new__(cls)
    object.__setattr__(obj, "__dict__", fields)  # no copy: cheaper than __dict__.update()
    return obj


class TooDeep(Exception):
    """Nesting beyond MAX_DEPTH: the line is refused rather than walked."""


class Unparsable(Exception):
    """Text the parser must not be given (raised by the `parse` callback)."""


# The walker's working values are plain slotted classes rather than dataclasses: they never leave
# this module, and building dataclasses costs import time `vsh classify` pays on every start.


class Word:
    """One argument after quote removal. `literal` False: its value is unknown (the source text is
    kept as `value`). `subst`: a command/process substitution ran while expanding it."""

    __slots__ = ("literal", "subst", "value", "why")

    def __init__(self, value: str, literal: bool, why: str = "", subst: bool = False) -> None:
        self.value = value
        self.literal = literal
        self.why = why
        self.subst = subst

    def __repr__(self) -> str:
        return f"Word({self.value!r}, {self.literal})"


class _Draft:
    """An action being built; `freeze()` turns it into the frozen `Action`."""

    __slots__ = ("argv", "cwd", "env", "ineligible", "key", "literal", "origin", "program", "reasons",
                 "redirects", "risk", "span", "words")

    def __init__(self, argv: list[str], program: str, key: str, words: list[str], risk: Risk,
                 reasons: list[Reason], literal: bool, origin: str, ineligible: list[str], cwd: str | None,
                 span: tuple[int, int]) -> None:
        self.argv = argv
        self.program = program
        self.key = key
        self.words = words
        self.risk = risk
        self.reasons = reasons
        self.literal = literal
        self.origin = origin
        self.env: list[str] = []
        self.redirects: list[Redirect] = []
        self.ineligible = ineligible
        self.cwd = cwd
        self.span = span

    def freeze(self) -> Action:
        risk = self.risk
        for r in self.reasons:
            if r.risk is not None and r.risk > risk:
                risk = r.risk
        inel = tuple(dict.fromkeys(self.ineligible)) if self.ineligible else ()
        return frozen(Action, {
            "argv": tuple(self.argv), "program": self.program, "key": self.key, "words": tuple(self.words),
            "risk": risk, "reasons": tuple(self.reasons), "literal": self.literal, "origin": self.origin,
            "env": tuple(self.env), "redirects": tuple(self.redirects), "rule_eligible": not inel,
            "ineligible_reasons": inel, "cwd": self.cwd, "span": self.span,
        })


class _Ctx(NamedTuple):
    """Where the walker is: the action origin, why actions here are not rule-eligible, and the span
    every action gets when it comes from a nested parse (None: use the node's own)."""

    origin: str = "top"
    ineligible: tuple[str, ...] = ()
    span: tuple[int, int] | None = None

    def nested(self, origin: str, why: str, span: tuple[int, int] | None = None) -> _Ctx:
        return _Ctx(origin, (*self.ineligible, why) if why not in self.ineligible else self.ineligible,
                    self.span or span)


class _Cmd:
    """What a command node contributes around its argv: prefix env, redirections, substitutions."""

    __slots__ = ("env", "ineligible", "reasons", "redirects", "span")

    def __init__(self, span: tuple[int, int] = (0, 0)) -> None:
        self.env: list[str] = []
        self.redirects: list[Redirect] = []
        self.reasons: list[Reason] = []
        self.ineligible: list[str] = []
        self.span = span


_TOP = _Ctx()  # the context of the line itself (immutable, so shared)


# (actions, line-level reasons, parse_ok, mutates_shell_state). A plain tuple: building a NamedTuple
# costs a Python-level __new__ call on every line.
WalkResult = tuple[tuple[Action, ...], tuple[Reason, ...], bool, bool]


Parse = Callable[[str], tuple[Node, bytes]]


def walk(root: Node, src: bytes, parse: Parse) -> WalkResult:
    """Walk the tree of one line (`src`: the line's bytes). `parse` parses nested literal command
    strings (bash -c, eval) into (root, bytes)."""
    w = _Walker(parse, src)
    try:
        w.seq(root, _TOP)
    except TooDeep:
        w.fail("too-deep", f"nesting deeper than {MAX_DEPTH} levels is refused")
    except Unparsable as e:
        w.fail("unparsable", f"a nested command line could not be parsed: {e}")
    except RecursionError:
        w.fail("too-deep", "nesting too deep to analyse")
    actions = []
    for d in w.actions:
        actions.append(d.freeze())
    return tuple(actions), tuple(w.reasons), w.parse_ok, w.mutates


# -- the walker ----------------------------------------------------------------------------------


class _Walker:
    def __init__(self, parse: Parse, src: bytes) -> None:
        self.parse = parse
        self.src = src
        self.actions: list[_Draft] = []
        self.reasons: list[Reason] = []
        self.parse_ok = True
        self.mutates = False
        self.functions: set[str] = set()
        self.cwd: str | None = ""
        self.cd_pending = False
        self.depth = 0
        self.nest = 0
        # The exact text on the standard input of the statement being walked, when the line fixes it
        # (echo 'cmd' | sh, sh <<< 'cmd', sh <<'EOF'): a shell reading it runs those command lines.
        self.stdin_text: str | None = None
        # `hash -p PATH NAME` makes NAME run PATH for the rest of the line.
        self.hashed: dict[str, str | None] = {}  # None: a path that is not literal

    # -- failure and reasons ------------------------------------------------------------------

    def fail(self, code: str, text: str) -> None:
        self.parse_ok = False
        self.reasons.append(_reason(code, text, HIGH))

    def line_reason(self, code: str, text: str, risk: Risk | None) -> None:
        r = _reason(code, text, risk)
        if r not in self.reasons:
            self.reasons.append(r)

    def bad_node(self, node: Node) -> None:
        if node.type == "ERROR" or node.is_error:
            self.fail("parse-error", f"syntax error near {_snippet(self.src, node)}")
        elif node.is_missing:
            self.fail("parse-error", f"missing {node.type!r} (incomplete line)")
        else:
            self.fail("unknown-node", f"unsupported shell construct {node.type!r} near {_snippet(self.src, node)}")

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise TooDeep

    # -- statements ---------------------------------------------------------------------------

    def seq(self, node: Node, ctx: _Ctx) -> None:
        """A sequence of statements (program, { }, do ... done, then ..., ( ))."""
        self.enter()
        try:
            children = node.children
            last = len(children) - 1
            for i, child in enumerate(children):
                if not child.is_named:
                    if child.is_missing or child.type not in _SEQ_TOKENS:
                        self.bad_node(child)
                    elif child.type in (";;", ";&", ";;&") and node.type != "case_item":
                        self.fail("parse-error", f"unexpected {child.type!r}")
                    continue
                if child.type == "comment":
                    continue
                background = i < last and children[i + 1].type == "&"
                if self.cd_pending:
                    self.cwd = None  # whether the cd succeeded is unknown after ; or newline
                if background:
                    saved = (self.cwd, self.cd_pending)
                    self.stmt(child, ctx)
                    self.cwd, self.cd_pending = saved
                else:
                    self.stmt(child, ctx)
        finally:
            self.depth -= 1

    def stmt(self, node: Node, ctx: _Ctx) -> None:
        handler = _STATEMENTS.get(node.type)
        if handler is None:
            self.bad_node(node)
            return
        if len(self.actions) > MAX_ACTIONS:
            self.fail("too-large", f"more than {MAX_ACTIONS} actions")
            return
        self.enter()
        try:
            handler(self, node, ctx)
        finally:
            self.depth -= 1

    def st_list(self, node: Node, ctx: _Ctx) -> None:
        # Lists nest to the left (a && b || c); flatten iteratively so long chains cost no depth.
        chain: list[tuple[str, Node]] = []
        cur = node
        while cur.type == "list":
            kids = cur.children
            if len(kids) != 3 or kids[1].type not in ("&&", "||"):
                self.bad_node(cur)
                return
            chain.append((kids[1].type, kids[2]))
            cur = kids[0]
        self.stmt(cur, ctx)
        for op, right in reversed(chain):
            if op == "||" and self.cd_pending:
                self.cwd = None
            self.stmt(right, ctx)

    def st_pipeline(self, node: Node, ctx: _Ctx) -> None:
        prev: Node | None = None
        for child in node.children:
            if not child.is_named:
                if child.type not in ("|", "|&", "!"):
                    self.bad_node(child)
                continue
            saved = (self.cwd, self.cd_pending)  # every stage runs in a subshell
            # What the previous stage writes (echo 'cmd' | sh); worked out only when a stage follows it.
            self.stdin_text = _static_output(self.src, prev) if prev is not None else None
            self.stmt(child, ctx)
            self.stdin_text = None
            self.cwd, self.cd_pending = saved
            prev = child

    def st_negated(self, node: Node, ctx: _Ctx) -> None:
        for child in node.children:
            if child.is_named:
                self.stmt(child, ctx)
            elif child.type != "!":
                self.bad_node(child)

    def st_subshell(self, node: Node, ctx: _Ctx) -> None:
        saved = (self.cwd, self.cd_pending)
        self.seq(node, ctx)
        self.cwd, self.cd_pending = saved

    def st_compound(self, node: Node, ctx: _Ctx) -> None:
        kids = node.children
        if kids and kids[0].type == "((":
            self.arith_children(node, ctx)
            return
        self.seq(node, ctx)

    def st_redirected(self, node: Node, ctx: _Ctx) -> None:
        start = len(self.actions)
        body: Node | None = None
        redirect_nodes: list[Node] = []
        kids = node.children
        feed: str | None = None  # what the first here-string or here-document feeds
        for kid in kids:
            feed = _static_stdin(self.src, kid)
            if feed is not None:
                break
        for child in kids:
            if child.type in _REDIRECT_KINDS:
                redirect_nodes.append(child)
            elif child.is_named and body is None and child.type in _STATEMENTS:
                if feed is not None:
                    self.stdin_text = feed
                self.stmt(child, ctx)
                self.stdin_text = None
                body = child
            else:
                self.bad_node(child)
        end = len(self.actions)
        cmd = _Cmd()
        for r in redirect_nodes:
            self.redirect(r, cmd, ctx)
        if body is None:
            if any(r.writes for r in cmd.redirects):
                self.line_reason("redirect-write", "a redirection without a command writes a file", MEDIUM)
            for reason in cmd.reasons:
                self.line_reason(reason.code, reason.text, reason.risk)
            return
        for d in self.actions[start:end]:
            d.redirects.extend(cmd.redirects)
            d.reasons.extend(cmd.reasons)
            d.ineligible.extend(cmd.ineligible)

    def st_if(self, node: Node, ctx: _Ctx) -> None:
        self.conditional(node, ctx)

    def conditional(self, node: Node, ctx: _Ctx) -> None:
        """if/while/until/elif/else/case item bodies: statements run conditionally, so a cd inside
        leaves the directory unknown afterwards."""
        before = self.cwd
        self.seq(node, ctx)
        if self.cwd != before:
            self.cwd = None

    def st_for(self, node: Node, ctx: _Ctx) -> None:
        before = self.cwd
        for child in node.children:
            if not child.is_named:
                if child.type not in _SEQ_TOKENS:
                    self.bad_node(child)
                continue
            if child.type == "variable_name":
                continue
            if child.type == "do_group":
                self.seq(child, ctx)
            elif child.type in _WORD_KINDS:
                self.word(child, ctx)
            elif child.type == "comment":
                continue
            else:
                self.bad_node(child)
        if self.cwd != before:
            self.cwd = None

    def st_c_for(self, node: Node, ctx: _Ctx) -> None:
        before = self.cwd
        for child in node.children:
            if not child.is_named:
                if child.type not in _SEQ_TOKENS and child.type not in (",",):
                    self.bad_node(child)
                continue
            if child.type == "do_group" or child.type == "compound_statement":
                self.seq(child, ctx)
            else:
                self.arith(child, ctx)
        if self.cwd != before:
            self.cwd = None

    def st_case(self, node: Node, ctx: _Ctx) -> None:
        before = self.cwd
        for child in node.children:
            if not child.is_named:
                if child.type not in _SEQ_TOKENS:
                    self.bad_node(child)
                continue
            if child.type == "case_item":
                self.case_item(child, ctx)
            elif child.type in _WORD_KINDS:
                self.word(child, ctx)
            elif child.type != "comment":
                self.bad_node(child)
        if self.cwd != before:
            self.cwd = None

    def case_item(self, node: Node, ctx: _Ctx) -> None:
        seen_paren = False
        for child in node.children:
            if not child.is_named:
                if child.type == ")":
                    seen_paren = True
                elif child.type not in _SEQ_TOKENS:
                    self.bad_node(child)
                continue
            if child.type == "comment":
                continue
            if not seen_paren and child.type in _WORD_KINDS:
                self.word(child, ctx)  # patterns can hold substitutions
            elif child.type in _STATEMENTS:
                if self.cd_pending:
                    self.cwd = None
                self.stmt(child, ctx)
            elif child.type in _WORD_KINDS:
                self.word(child, ctx)
            else:
                self.bad_node(child)

    def st_while(self, node: Node, ctx: _Ctx) -> None:
        self.conditional(node, ctx)

    def st_function(self, node: Node, ctx: _Ctx) -> None:
        name = ""
        body: Node | None = None
        for child in node.children:
            if not child.is_named:
                if child.type not in ("function", "(", ")"):
                    self.bad_node(child)
                continue
            if child.type == "word" and not name:
                name = _text(self.src, child)  # the original bytes: the parser saw an ASCII shadow
            elif child.type in _STATEMENTS or child.type in _REDIRECT_KINDS:
                body = child
            elif child.type != "comment":
                self.bad_node(child)
        self.mutates = True
        self.line_reason("function", f"defines shell function {name!r}", None)
        if name:
            self.functions.add(name)
        if body is not None:
            saved = (self.cwd, self.cd_pending)
            if body.type in _REDIRECT_KINDS:
                self.redirect(body, _Cmd(), ctx)
            else:
                self.stmt(body, ctx.nested("function", f"runs in the body of function {name!r}"))
            self.cwd, self.cd_pending = saved

    def st_test(self, node: Node, ctx: _Ctx) -> None:
        self.expr_children(node, ctx, arith=False)

    def st_assignment(self, node: Node, ctx: _Ctx) -> None:
        self.assignment(node, ctx, prefix=False, cmd=None)

    def st_assignments(self, node: Node, ctx: _Ctx) -> None:
        for child in node.children:
            if child.type == "variable_assignment":
                self.assignment(child, ctx, prefix=False, cmd=None)
            else:
                self.bad_node(child)

    def st_declaration(self, node: Node, ctx: _Ctx) -> None:
        """declare/typeset/local/export/readonly/unset: a builtin whose words tree-sitter parses
        specially; rebuilt into argv and judged like a command."""
        argv: list[Word] = []
        cmd = _Cmd((node.start_byte, node.end_byte))
        for child in node.children:
            t = child.type
            if not child.is_named:
                if t in ("declare", "typeset", "local", "export", "readonly", "unset", "unsetenv"):
                    argv.append(Word(t, True))
                else:
                    self.bad_node(child)
                continue
            if t == "variable_assignment":
                argv.append(self.assignment(child, ctx, prefix=False, cmd=cmd, declared=True))
            elif t == "variable_name":
                argv.append(Word(_text(self.src, child), True))
            elif t in _REDIRECT_KINDS:
                self.redirect(child, cmd, ctx)
            elif t in _WORD_KINDS:
                argv.append(self.word(child, ctx))
            elif t != "comment":
                self.bad_node(child)
        self.command_argv(argv, cmd, ctx)

    def st_command(self, node: Node, ctx: _Ctx) -> None:
        cmd = _Cmd((node.start_byte, node.end_byte))
        argv: list[Word] = []
        last_end = -1
        for child in node.children:
            t = child.type
            # The kinds are disjoint; the common ones are tested first.
            if t == "command_name":
                kids = child.children
                if len(kids) != 1:
                    self.bad_node(child)
                    continue
                wd = self.word(kids[0], ctx)
            elif t in _WORD_KINDS:
                wd = self.word(child, ctx)
            elif t == "variable_assignment":
                self.assignment(child, ctx, prefix=True, cmd=cmd)
                continue
            elif t in _REDIRECT_KINDS:
                if t != "file_redirect":
                    feed = _static_stdin(self.src, child)
                    if feed is not None:
                        self.stdin_text = feed
                self.redirect(child, cmd, ctx)
                continue
            elif t == "$" and not child.is_named:
                wd = Word("$", False, "a lone '$' bash reads together with what follows")
            else:  # a subshell, a comment or anything unexpected among the words
                self.bad_node(child)
                continue
            if argv and child.start_byte == last_end:
                # tree-sitter split what bash reads as one word ($"..." and friends).
                prev = argv.pop()
                wd = Word(prev.value + wd.value, False, "tokens bash reads as one word", prev.subst or wd.subst)
            argv.append(wd)
            last_end = child.end_byte
        if not argv:
            if cmd.env:
                for reason in cmd.reasons:
                    self.line_reason(reason.code, reason.text, reason.risk)
            if any(r.writes for r in cmd.redirects):
                self.line_reason("redirect-write", "a redirection without a command writes a file", MEDIUM)
            return
        self.command_argv(argv, cmd, ctx)

    # -- assignments, redirections ------------------------------------------------------------

    def assignment(self, node: Node, ctx: _Ctx, *, prefix: bool, cmd: _Cmd | None,
                   declared: bool = False) -> Word:
        name = ""
        value = Word("", True)
        op = "="
        seen_op = False
        for child in node.children:
            t = child.type
            if not child.is_named:
                if t in ("=", "+="):
                    op = t
                    seen_op = True
                else:
                    self.bad_node(child)
                continue
            if not seen_op:
                if t == "variable_name":
                    name = _text(self.src, child)
                elif t == "subscript":
                    name = _text(self.src, child)
                    self.subscript(child, ctx)
                else:
                    self.bad_node(child)
                continue
            if t == "array":
                parts = []
                for el in child.children:
                    if el.is_named:
                        parts.append(self.word(el, ctx))
                    elif el.type not in ("(", ")"):
                        self.bad_node(el)
                value = Word(" ".join(p.value for p in parts), all(p.literal for p in parts), "array",
                             any(p.subst for p in parts))
            elif t in _WORD_KINDS:
                value = self.word(child, ctx)
            else:
                self.bad_node(child)
        base = name.split("[", 1)[0]
        if "[" in value.value and _CODE_IN_TEXT.search(value.value):
            self.line_reason("arith-code", f"the value of {base} holds code inside an array subscript, which bash runs "
                                           "when the value is used as a name or number", HIGH)
        if base in tables.CODE_VARS and not prefix:
            self.nested_line(Word(value.value, value.literal), f"{base} holds a command line the shell runs",
                             cmd or _Cmd((node.start_byte, node.end_byte)), ctx)
        if prefix and cmd is not None:
            cmd.env.append(base)
            cmd.ineligible.append(f"environment prefix {base}=")
            if tables.behaviour_var(base):
                cmd.reasons.append(_reason("env-prefix", f"{base}= changes what the program runs or reads", MEDIUM))
            if value.subst:
                cmd.ineligible.append("a substitution in an environment prefix")
        elif not declared and tables.behaviour_var(base):
            self.mutates = True
            self.line_reason("shell-state", f"assigning {base} changes how later commands run", MEDIUM)
        if value.subst and cmd is not None:
            cmd.ineligible.append("a command substitution runs in this command")
        return Word(f"{name}{op}{value.value}", value.literal, value.why, value.subst)

    def subscript(self, node: Node, ctx: _Ctx) -> None:
        for child in node.children:
            if child.is_named and child.type != "variable_name":
                self.arith(child, ctx)

    def redirect(self, node: Node, cmd: _Cmd, ctx: _Ctx) -> None:
        t = node.type
        if t == "herestring_redirect":
            for child in node.children:
                if child.is_named:
                    w = self.word(child, ctx) if child.type in _WORD_KINDS else None
                    if w is None:
                        self.bad_node(child)
                    elif w.subst:
                        cmd.ineligible.append("a command substitution in a here-string")
                elif child.type != "<<<":
                    self.bad_node(child)
            cmd.redirects.append(Redirect("<<<", 0, None, False))
            return
        if t == "heredoc_redirect":
            self.heredoc(node, cmd, ctx)
            return
        fd: int | None = None
        op = ""
        target: Word | None = None
        for child in node.children:
            ct = child.type
            if ct == "file_descriptor":
                fd = int(_text(self.src, child)) if _text(self.src, child).isdigit() else None
            elif not child.is_named:
                if op or ct not in (">", ">>", "<", ">|", "&>", "&>>", ">&", "<&", "<&-", ">&-", "<>"):
                    self.bad_node(child)
                op = ct
            elif ct in _WORD_KINDS:
                if target is not None:
                    self.bad_node(child)
                target = self.word(child, ctx)
            else:
                self.bad_node(child)
        if op in ("<&-", ">&-"):
            cmd.redirects.append(Redirect(op, fd, "-", False))
            return
        if target is None:
            self.fail("parse-error", "redirection without a target")
            return
        text = target.value if target.literal else None
        if target.subst:
            cmd.ineligible.append("a command substitution in a redirection target")
        writes = op in _WRITE_OPS
        if (op in (">&", "<&") and text is not None and (text.isdigit() or text == "-")) or (op in (">&", "<&") and text is not None and text.endswith("-") and text[:-1].isdigit()):
            writes = False
        if writes and text is not None and tables.harmless_target(text):
            writes = False
        cmd.redirects.append(Redirect(op, fd, text, writes))
        if text is None:
            cmd.ineligible.append("a redirection target that is not literal")
            if writes:
                cmd.reasons.append(_reason("redirect-write", f"{op} writes to a target that is not literal", MEDIUM))
        elif writes:
            cmd.reasons.append(_reason("redirect-write", f"{op} {text} writes a file", MEDIUM))
            cmd.ineligible.append(f"writes {text}")
        if text is not None and tables.NETWORK_TARGET.match(text):
            cmd.reasons.append(_reason("redirect-network", f"{op} {text} opens a network connection", MEDIUM))
            cmd.ineligible.append("opens a network connection")

    def heredoc(self, node: Node, cmd: _Cmd, ctx: _Ctx) -> None:
        quoted = False
        for child in node.children:
            ct = child.type
            if not child.is_named:
                if ct not in ("<<", "<<-", "&&", "||", ";", "|", "|&", "&"):
                    self.bad_node(child)
                continue
            if ct == "heredoc_start":
                quoted = any(c in _text(self.src, child) for c in "'\"\\")
            elif ct == "heredoc_body":
                if not quoted:
                    self.heredoc_body(child, cmd, ctx)
            elif ct == "heredoc_end":
                continue
            elif ct in _STATEMENTS:
                # tree-sitter hoists what follows the here-doc operator on the same line into it.
                self.stmt(child, ctx)
            elif ct in _REDIRECT_KINDS:
                self.redirect(child, cmd, ctx)
            else:
                self.bad_node(child)
        cmd.redirects.append(Redirect("<<", 0, None, False))

    def heredoc_body(self, node: Node, cmd: _Cmd, ctx: _Ctx) -> None:
        """An unquoted here-document body expands like a double-quoted string. tree-sitter misses
        some substitutions in bodies (backticks, `<<-`), so the body is re-parsed as one."""
        body = _text(self.src, node)
        if "$" not in body and "`" not in body:
            return
        root, src = self.parse('"' + _as_dquoted(body) + '"')
        string = _only_string(root)
        if string is None or root.has_error:
            self.fail("parse-error", "a here-document body that could not be analysed")
            return
        saved_src, self.src = self.src, src
        try:
            w = self.word(string, ctx)
        finally:
            self.src = saved_src
        if w.subst:
            cmd.ineligible.append("a command substitution in a here-document")

    # -- words --------------------------------------------------------------------------------

    def word(self, node: Node, ctx: _Ctx) -> Word:
        if node.type == "word":
            text = self.src[node.start_byte:node.end_byte].decode("utf-8", "surrogateescape")  # _text(), inlined
            if not _SPECIAL_IN_WORD.search(text):
                return Word(text, True)
        self.enter()
        try:
            pieces: list[words.Piece] = []
            subst = self.pieces(node, ctx, pieces)
            value, literal, why = words.join(pieces)
            return Word(value, literal, why, subst)
        finally:
            self.depth -= 1

    def pieces(self, node: Node, ctx: _Ctx, out: list[words.Piece]) -> bool:
        """Append the pieces of a word node; True when a substitution ran."""
        t = node.type
        if t == "word" or t == "number" or t == "variable_name" or t == "test_operator" or t == "regex":
            out.append(words.unquoted_piece(_text(self.src, node)))
            return False
        if t == "raw_string":
            out.append(words.squoted_piece(_text(self.src, node)))
            return False
        if t == "ansi_c_string":
            out.append(words.ansi_c_piece(_text(self.src, node)))
            return False
        if t == "concatenation":
            subst = False
            for child in node.children:
                if child.is_named:
                    subst = self.pieces(child, ctx, out) or subst
                elif child.type == "$":
                    out.append(words.Piece("$", "$", False))
                else:
                    out.append(words.unquoted_piece(_text(self.src, child)))
            return subst
        if t == "string" or t == "translated_string":
            subst = False
            kids = node.children
            for i, child in enumerate(kids):
                ct = child.type
                if ct == "string_content":
                    out.append(words.dquoted_piece(_text(self.src, child)))
                elif ct == '"':
                    continue
                elif ct == "$":
                    last = i + 1 < len(kids) and kids[i + 1].type == '"'
                    out.append(words.Piece("$", words.QUOTED, last))
                elif ct in _WORD_KINDS:
                    subst = self.pieces(child, ctx, out) or subst
                else:
                    self.bad_node(child)
            if t == "translated_string":
                out.append(words.Piece("", "", False))
            return subst
        if t == "command_substitution" or t == "process_substitution":
            self.substitution(node, ctx)
            out.append(words.Piece(_text(self.src, node), "", False))
            return True
        if t == "simple_expansion" or t == "expansion":
            if t == "expansion" and _PROMPT_EXPANSION.search(_text(self.src, node)):
                self.line_reason("prompt-expansion", "${var@P} expands the value as a prompt, running the "
                                                     "substitutions inside it", HIGH)
            subst = self.expr_children(node, ctx, arith=False)
            out.append(words.Piece(_text(self.src, node), "", False))
            return subst
        if t == "arithmetic_expansion":
            subst = self.arith_children(node, ctx)
            out.append(words.Piece(_text(self.src, node), "", False))
            return subst
        if t == "brace_expression" or t == "extglob_pattern":
            out.append(words.Piece(_text(self.src, node), "", False))
            return False
        self.bad_node(node)
        out.append(words.Piece(_text(self.src, node), "", False))
        return False

    def substitution(self, node: Node, ctx: _Ctx) -> None:
        kind = "process substitution" if node.type == "process_substitution" else "command substitution"
        saved = (self.cwd, self.cd_pending)
        self.seq(node, ctx.nested("substitution", f"runs inside a {kind}"))
        self.cwd, self.cd_pending = saved

    # -- expressions ([[ ]], (( )), ${ }) ---------------------------------------------------------

    def expr_children(self, node: Node, ctx: _Ctx, *, arith: bool) -> bool:
        subst = False
        for child in node.children:
            if child.is_named:
                subst = self.expr(child, ctx, arith=arith) or subst
            elif child.is_missing:
                self.bad_node(child)
        return subst

    def arith_children(self, node: Node, ctx: _Ctx) -> bool:
        return self.expr_children(node, ctx, arith=True)

    def arith(self, node: Node, ctx: _Ctx) -> bool:
        return self.expr(node, ctx, arith=True)

    def expr(self, node: Node, ctx: _Ctx, *, arith: bool) -> bool:
        """Walk an expression; True when a substitution ran. In arithmetic context, text that holds
        code is HIGH (bash evaluates array subscripts inside strings it reads as numbers)."""
        self.enter()
        try:
            t = node.type
            if t in ("command_substitution", "process_substitution"):
                self.substitution(node, ctx)
                return True
            if t in ("string", "raw_string", "word", "concatenation", "ansi_c_string"):
                text = _text(self.src, node)
                if arith and _CODE_IN_TEXT.search(text):
                    self.line_reason("arith-code", f"text evaluated as arithmetic can run code: {text[:60]!r}", HIGH)
                return self.word(node, ctx).subst
            if t == "expansion" and _PROMPT_EXPANSION.search(_text(self.src, node)):
                self.line_reason("prompt-expansion", "${var@P} expands the value as a prompt, running the "
                                                     "substitutions inside it", HIGH)
            if t == "unary_expression" and not arith:
                op = next((k for k in node.children if k.type == "test_operator"), None)
                if op is not None and _text(self.src, op) in ("-v", "-R"):
                    return self.expr_children(node, ctx, arith=True)
            if t in ("simple_expansion", "expansion") and arith:
                self.line_reason("arith-expansion",
                                 "arithmetic evaluation of an expanded value can run code (array subscripts)",
                                 MEDIUM)
            if t == "binary_expression" and not arith:
                kids = node.children
                op = next((k for k in kids if k.type == "test_operator"), None)
                if op is not None and _text(self.src, op) in _ARITH_TEST_OPS:
                    return self.expr_children(node, ctx, arith=True)
            if t == "arithmetic_expansion" or (t == "compound_statement"):
                return self.expr_children(node, ctx, arith=True)
            if t == "subscript":
                subst = False
                for child in node.children:
                    if child.is_named and child.type != "variable_name":
                        subst = self.expr(child, ctx, arith=True) or subst
                return subst
            if t in _EXPR_KINDS:
                return self.expr_children(node, ctx, arith=arith)
            if t in _LEAF_EXPR_KINDS:
                return False
            self.bad_node(node)
            return False
        finally:
            self.depth -= 1

    # -- commands -----------------------------------------------------------------------------

    def command_argv(self, argv: list[Word], cmd: _Cmd, ctx: _Ctx) -> None:
        for w in argv:
            if w.subst:
                cmd.ineligible.append("a command substitution runs in this command")
                break
        start = len(self.actions)
        self.run_argv(argv, cmd, ctx)
        if not (cmd.redirects or cmd.reasons or cmd.ineligible or cmd.env):
            return  # nothing to add (most commands)
        for d in self.actions[start:]:
            d.redirects.extend(cmd.redirects)
            d.reasons.extend(cmd.reasons)
            d.ineligible.extend(cmd.ineligible)
            d.env.extend(cmd.env)

    def emit(self, argv: Sequence[Word], program: str, key: list[str], rest: Sequence[Word], risk: Risk,
             reasons: list[Reason], ctx: _Ctx, cmd: _Cmd, ineligible: list[str] | None = None) -> _Draft:
        inel = list(ctx.ineligible)
        if ineligible:
            inel.extend(ineligible)
        # Plain loops: a comprehension costs more than it saves over a few words (CPython 3.11).
        literal = True
        values = []
        for w in argv:
            values.append(w.value)
            if not w.literal:
                literal = False
        if not literal:
            inel.append("a word that is not literal")
        match_words = key.copy()  # Action.words: the key, then the remaining arguments
        for w in rest:
            match_words.append(w.value)
        if self.mutates:
            inel.append("the line changes shell state before this action")
        if self.cwd is None:
            inel.append("the working directory is not known (cd target not literal or cd may fail)")
        d = _Draft(values, program, " ".join(key), match_words, risk, reasons, literal, ctx.origin, inel,
                   self.cwd, ctx.span or cmd.span)
        self.actions.append(d)
        return d

    def run_argv(self, argv: list[Word], cmd: _Cmd, ctx: _Ctx) -> None:
        """Judge one argv; follow wrappers (`env`, `sudo`, `xargs` ...) to the program they run."""
        self.enter()
        try:
            self._run_argv(argv, cmd, ctx)
        finally:
            self.depth -= 1

    def _run_argv(self, argv: list[Word], cmd: _Cmd, ctx: _Ctx) -> None:
        head = argv[0]
        if not head.literal:
            self.emit(argv, head.value, [head.value], argv[1:], HIGH,
                      [_reason("non-literal-program", f"the program name {head.value!r} is not literal ({head.why})",
                              HIGH)], ctx, cmd)
            return
        name = program_name(head.value)
        if name in self.hashed:
            target = self.hashed[name]
            if target is None:
                self.emit(argv, name, [name], argv[1:], HIGH,
                          [_reason("non-literal-program", f"hash -p made {name!r} run a path that is not literal",
                                   HIGH)], ctx, cmd)
                return
            name = target
            argv = [Word(name, True), *argv[1:]]
        if name in tables.RESERVED:
            self.emit(argv, name, [name], argv[1:], HIGH,
                      [_reason("reserved-word", f"shell keyword {name!r} where a command is expected: "
                                               "the parser and bash may disagree", HIGH)], ctx, cmd)
            self.parse_ok = False
            return
        if name in self.functions and ctx.origin != "wrapper":
            d = self.emit(argv, name, [name], argv[1:], LOW,
                          [_reason("function-call", f"calls shell function {name!r} defined in this line")],
                          ctx.nested("function", f"calls shell function {name!r}"), cmd)
            d.ineligible.append(f"{name!r} is a shell function defined in this line")
            return
        handler = _DISPATCH.get(name)
        if handler is not None:
            handler(self, argv, name, cmd, ctx)
        elif name not in tables.PROGRAMS and tables.is_interpreter(name):
            self.interpreter(argv, name, cmd, ctx)
        else:
            self.program(argv, name, cmd, ctx)

    def wrapper_(self, argv: list[Word], name: str, cmd: _Cmd, ctx: _Ctx) -> None:
        self.wrapper(argv, name, tables.WRAPPERS[name], cmd, ctx)

    def cd(self, argv: list[Word], name: str, cmd: _Cmd, ctx: _Ctx) -> None:
        args = [w for w in argv[1:] if not (w.literal and w.value.startswith("-") and w.value != "-")]
        self.emit(argv, name, [name], argv[1:], LOW, [_reason("table", f"{name} changes the directory")], ctx, cmd)
        if self.cwd is None:
            return
        if name == "popd" or not args or len(args) > 1 or not args[0].literal or args[0].value in ("-", "") or args[0].value.startswith("~"):
            self.cwd = None
        else:
            self.cwd = posixpath.normpath(posixpath.join(self.cwd, args[0].value)) if self.cwd else \
                posixpath.normpath(args[0].value)
        self.cd_pending = True

    def wrapper(self, argv: list[Word], name: str, w: tables.Wrapper, cmd: _Cmd, ctx: _Ctx) -> None:
        reasons = [_reason("wrapper", w.reason, w.risk if w.risk > LOW else None)]
        if w.privileged:
            reasons.append(_reason("privilege", f"{name} runs with other privileges", HIGH))
        n = len(argv)
        i = 1
        env_names: list[str] = []
        ineligible: list[str] = []
        shell_string: Word | None = None
        no_exec = False
        while i < n:
            word = argv[i]
            if not word.literal:
                break
            v = word.value
            if v == "--":
                i += 1
                break
            if name == "env" and not v.startswith("-") and _ASSIGN_WORD.match(v):
                var = v.split("=", 1)[0].split("[", 1)[0].rstrip("+")
                env_names.append(var)
                if tables.behaviour_var(var):
                    reasons.append(_reason("env-prefix", f"{var}= changes what the program runs or reads", MEDIUM))
                i += 1
                continue
            if not v.startswith("-") or v == "-":
                if name == "env" and v == "-":
                    i += 1
                    continue
                break
            opt = v.split("=", 1)[0] if v.startswith("--") else v[:2]
            if name == "nice" and v[1:].lstrip("-").isdigit():
                i += 1
                continue
            if opt in w.no_exec_opts or (not v.startswith("--") and any(f"-{c}" in w.no_exec_opts for c in v[1:])):
                no_exec = True
                break
            if name == "env" and opt in ("-S", "--split-string"):
                value = v[len(opt) + 1:] if v.startswith("--") and "=" in v else (v[2:] if len(v) > 2 else None)
                shell_string = Word(value, True) if value is not None else (argv[i + 1] if i + 1 < n else None)
                break
            if opt in w.shell_opts:
                value = v[len(opt) + 1:] if v.startswith("--") and "=" in v else (v[2:] if len(v) > 2 and not
                                                                                   v.startswith("--") else None)
                shell_string = Word(value, True) if value is not None else (argv[i + 1] if i + 1 < n else None)
                break
            if v.startswith("--"):
                i += 2 if opt in w.value_opts and "=" not in v else 1
                continue
            # A short-option cluster (-iu root, -n5): the first option taking a value ends it.
            step = 1
            for pos in range(1, len(v)):
                flag = "-" + v[pos]
                if flag in w.shell_opts:
                    rest_text = v[pos + 1:]
                    shell_string = Word(rest_text, True) if rest_text else (argv[i + 1] if i + 1 < n else None)
                    break
                if flag in w.value_opts:
                    step = 1 if pos + 1 < len(v) else 2
                    break
            if shell_string is not None:
                break
            i += step
        if shell_string is None and w.shell_opts:
            for j in range(i, n):
                if argv[j].literal and argv[j].value in w.shell_opts:
                    shell_string = argv[j + 1] if j + 1 < n else Word("", True)
                    break
        inner_start = i
        skip = 0
        while shell_string is None and not no_exec and skip < w.positional and inner_start < n:
            inner_start += 1
            skip += 1
        own = argv[:inner_start]
        rest = argv[inner_start:]
        if name == "xargs" and not rest and not no_exec:
            rest = [Word("echo", True)]
            reasons.append(_reason("wrapper", "xargs runs echo when no program is given"))
        if env_names:
            ineligible.append("runs with a changed environment")
        d = self.emit(own, name, [name], own[1:], w.risk, reasons, ctx, cmd, ineligible)
        if name == "exec" and not rest:
            self.mutates = True
            d.reasons.append(_reason("shell-state", "exec without a program changes the shell's file descriptors"))
        if shell_string is not None:
            self.nested_line(shell_string, f"{name} runs a command line with sh -c", cmd, ctx)
            return
        if no_exec or not rest:
            if w.positional == 99 and not no_exec:
                d.reasons.append(_reason("privilege", f"{name} starts an interactive shell", HIGH))
            return
        if w.joins_shell:
            if all(x.literal for x in rest):
                self.nested_line(Word(" ".join(x.value for x in rest), True), f"{name} runs its arguments with sh -c",
                                 cmd, ctx)
            else:
                self.emit(rest, "?", ["?"], rest, HIGH,
                          [_reason("non-literal-code", f"{name} runs a command line that is not literal", HIGH)],
                          ctx, cmd)
            return
        why: list[str] = []
        if name == "xargs":
            why.append("xargs appends arguments read from its input")
        if env_names:
            why.append(f"runs with environment {', '.join(env_names)} changed")
        inner_ctx = _Ctx("wrapper", tuple(x for x in (*ctx.ineligible, *why) if x), ctx.span)
        self.run_argv(list(rest), cmd, inner_ctx)

    def nested_line(self, text: Word, why: str, cmd: _Cmd, ctx: _Ctx) -> None:
        """Parse a literal command string (bash -c, eval, su -c ...) and walk its actions."""
        if not text.literal:
            self.emit([text], "?", ["?"], [], HIGH,
                      [_reason("non-literal-code", f"{why}, and that line is not literal: {text.value[:80]!r}", HIGH)],
                      ctx, cmd)
            return
        if self.nest >= MAX_NESTED_PARSES:
            self.fail("too-deep", "command strings nested too deeply")
            return
        joined = words.join_continuations(text.value)
        bad = _first_suspicious(joined)
        if bad is not None:
            self.fail("control-char", f"a nested command line holds the invisible or control character {bad!r}")
        root, src = self.parse(joined)
        self.nest += 1
        saved = (self.cwd, self.cd_pending, set(self.functions))
        saved_src, self.src = self.src, src
        try:
            span = ctx.span or cmd.span
            if root.has_error:
                self.fail("parse-error", f"the nested command line does not parse: {joined[:80]!r}")
            self.seq(root, ctx.nested("nested", why, span))
        finally:
            self.nest -= 1
            self.cwd, self.cd_pending, self.functions = saved
            self.src = saved_src

    def shell(self, argv: list[Word], name: str, cmd: _Cmd, ctx: _Ctx) -> None:
        n = len(argv)
        i = 1
        has_c = False
        reasons: list[Reason] = []
        while i < n:
            word = argv[i]
            if not word.literal:
                self.emit(argv, name, [name], argv[1:], HIGH,
                          [_reason("non-literal-code", f"{name} option {word.value!r} is not literal", HIGH)], ctx, cmd)
                return
            v = word.value
            if v in ("--", "-"):
                i += 1
                break
            if not (v.startswith("-") or v.startswith("+")):
                break
            if v in tables.SHELL_STARTUP_OPTS or (not v.startswith("--") and ("l" in v[1:] or "i" in v[1:])):
                reasons.append(_reason("shell-startup", f"{name} {v} reads start-up files or changes shell options",
                                      MEDIUM))
            if v in tables.SHELL_VALUE_OPTS:
                i += 2
                continue
            if not v.startswith("--") and "c" in v[1:]:
                has_c = True
            i += 1
        if has_c:
            own = argv[: i + 1]
            d = self.emit(own, name, [name], own[1:], LOW,
                          [_reason("shell", f"{name} -c runs the command line given to it"), *reasons], ctx, cmd)
            if i >= n:
                d.reasons.append(_reason("non-literal-code", f"{name} -c without a command line here: it comes "
                                                            "from elsewhere (not literal)", HIGH))
                return
            self.nested_line(argv[i], f"{name} -c runs a command line", cmd, ctx)
            return
        stdin = self.stdin_text
        self.stdin_text = None
        if i >= n and stdin is not None:
            self.emit(argv, name, [name], argv[1:], MEDIUM,
                      [_reason("shell", f"{name} runs the command lines on its standard input", MEDIUM), *reasons],
                      ctx, cmd)
            self.nested_line(Word(stdin, True), f"{name} runs the command lines on its standard input", cmd, ctx)
            return
        text = "runs a script file" if i < n else "runs commands from standard input"
        self.emit(argv, name, [name], argv[1:], MEDIUM, [_reason("shell", f"{name} {text}", MEDIUM), *reasons],
                  ctx, cmd)

    def eval_(self, argv: list[Word], name: str, cmd: _Cmd, ctx: _Ctx) -> None:
        self.emit(argv[:1], name, [name], [], LOW, [_reason("eval", "eval runs its arguments as a command line")],
                  ctx, cmd)
        if len(argv) == 1:
            return
        if all(w.literal for w in argv[1:]):
            self.nested_line(Word(" ".join(w.value for w in argv[1:]), True), "eval runs a command line", cmd, ctx)
        else:
            bad = next(w for w in argv[1:] if not w.literal)
            self.nested_line(bad, "eval runs a command line", cmd, ctx)

    def trap(self, argv: list[Word], name: str, cmd: _Cmd, ctx: _Ctx) -> None:
        args = [w for w in argv[1:] if not (w.literal and w.value in ("-p", "-l", "--"))]
        self.mutates = self.mutates or len(args) >= 2
        self.emit(argv, name, [name], argv[1:], LOW, [_reason("table", "trap sets a signal handler")], ctx, cmd)
        if len(args) >= 2 and not (args[0].literal and args[0].value in ("", "-")):
            self.nested_line(args[0], "a trap handler runs a command line", cmd, ctx)

    def alias(self, argv: list[Word], name: str, cmd: _Cmd, ctx: _Ctx) -> None:
        self.emit(argv, name, [name], argv[1:], LOW, [_reason("table", "alias defines a command alias")], ctx, cmd)
        for w in argv[1:]:
            if not w.literal:
                self.nested_line(w, "an alias value is a command line", cmd, ctx)
            elif "=" in w.value and not w.value.startswith("-"):
                self.mutates = True
                self.nested_line(Word(w.value.split("=", 1)[1], True), "an alias value is a command line", cmd, ctx)

    def interpreter(self, argv: list[Word], name: str, cmd: _Cmd, ctx: _Ctx) -> None:
        inline = any(w.literal and w.value in ("-c", "-e", "-E", "-r", "--eval", "-p", "--print", "-x")
                     for w in argv[1:])
        what = "runs inline code" if inline else ("runs a script or module" if len(argv) > 1 else
                                                  "runs code from standard input")
        self.emit(argv, name, [name], argv[1:], MEDIUM, [_reason("interpreter", f"{name} {what}", MEDIUM)], ctx, cmd)

    def program(self, argv: list[Word], name: str, cmd: _Cmd, ctx: _Ctx) -> None:
        entry = tables.program_entry(name)
        reasons: list[Reason] = []
        ineligible: list[str] = []
        args = argv[1:]
        if entry is None and "/" in name:
            # A path we do not trust: at least medium, and never below what its name would be.
            base = name.rstrip("/").rpartition("/")[2]
            known = tables.program_entry(base)
            floor = max(MEDIUM, known.risk) if known is not None else MEDIUM
            if tables.WRAPPERS.get(base) is not None or base in tables.SHELLS or tables.is_interpreter(base):
                floor = HIGH
            self.emit(argv, name, [name], args, floor,
                      [_reason("unknown-program", f"program {name!r} outside the system directories"
                                                  f"{' named like ' + repr(base) if known else ''}", floor)],
                      ctx, cmd)
            return
        if entry is None:
            if words.plain_name(name):
                reason = _reason("unknown-program", f"unknown program {name!r}", MEDIUM)
            else:
                reason = _reason("unusual-program-name", f"the program name {name!r} has characters that can "
                                                        "imitate another name (non-ASCII, invisible)", HIGH)
            self.emit(argv, name, [name], args, reason.risk or MEDIUM, [reason], ctx, cmd)
            return
        risk = entry.risk
        if entry.subs is None:
            reasons.append(_reason("table", f"{name}: {entry.reason}", risk if risk > LOW else None))
        key = [name]
        rest_start = 0
        index = entry.flag_index
        style = entry.style
        if entry.subs is not None:
            j = 0
            while j < len(args):
                wd = args[j]
                if not wd.literal or not wd.value.startswith("-"):
                    break
                opt_name = wd.value.split("=", 1)[0]
                g = entry.global_opts.get(opt_name)
                if g is None and not wd.value.startswith("--") and len(wd.value) > 2:
                    g = entry.global_opts.get(wd.value[:2])  # attached value: -Cdir
                    if g is not None and not g.value:
                        g = None
                if g is None:
                    break
                if g.reason:
                    reasons.append(_reason("global-option", f"{opt_name}: {g.reason}", g.risk))
                if g.ineligible:
                    ineligible.append(f"{name} {opt_name} changes what the command does")
                attached = "=" in wd.value or (not wd.value.startswith("--") and len(wd.value) > 2)
                j += 2 if g.value and not attached else 1
            arity = tables.ARITY.get(name, 2)
            k = j
            while len(key) < arity and k < len(args) and args[k].literal and not args[k].value.startswith("-"):
                key.append(args[k].value)
                k += 1
                arity = tables.ARITY.get(" ".join(key), arity)
            rest_start = k
            sub = _lookup_sub(entry, key[1:])
            if len(key) == 1 and k < len(args) and not args[k].literal:
                sub = Sub(MEDIUM, "subcommand is not literal")
                ineligible.append("the subcommand is not literal")
            sub_reason = ""
            if sub is not None:
                risk = sub.risk
                sub_reason = f"{' '.join(key)}: {sub.reason}"
                index = sub.flag_index
                style = "gnu"
            remaining = args[rest_start:]
            sub_args = _SUB_ARGS.get(" ".join(key[:2]))
            if sub_args:
                first = Word(key[2], True) if len(key) > 2 else next(
                    (w for w in remaining if w.literal and not w.value.startswith("-")), None)
                if first is not None and first.value in sub_args:
                    risk, text = sub_args[first.value]
                    sub_reason = f"{' '.join(key[:2])} {first.value}: {text}"
            if sub_reason:
                reasons.append(_reason("table", sub_reason, risk if risk > LOW else None))
        else:
            arity = tables.ARITY.get(name, 1)
            k = 0
            while len(key) < arity and k < len(args) and args[k].literal and not args[k].value.startswith("-"):
                key.append(args[k].value)
                k += 1
            rest_start = k
        rest = args[rest_start:]
        has_flags = index.has_flags
        if has_flags:
            for w in rest:
                if not w.literal:
                    continue
                if w.value == "--":
                    break
                fl = index.match(w.value, style)
                if fl is not None:
                    reasons.append(_reason("flag", f"{w.value}: {fl.reason}", fl.risk))
                    if fl.ineligible:
                        ineligible.append(f"the option {w.value} makes {' '.join(key)} write a file")
        if entry.check is not None:
            for check_risk, text in CHECKS[entry.check](self, rest, key):
                reasons.append(_reason("argument", text, check_risk))
                if check_risk is HIGH and entry.check in _CODE_CHECKS:
                    ineligible.append(text)
        if (has_flags or entry.check) and not _all_literal(rest):
            reasons.append(_reason("non-literal-argument",
                                  f"an argument of {name} is not literal and could be a dangerous option", MEDIUM))
        self.emit(argv, name, key, rest, risk, reasons, ctx, cmd, ineligible)
        if name == "hash":
            self.hash_p(rest)
        changes = tables.STATE_CHANGERS.get(name)
        if changes is not None and _changes_state(changes, rest):
            self.mutates = True
            self.line_reason("shell-state", f"{name} changes how later commands run", None)
        if name == "find":
            self.find_exec(rest, cmd, ctx)

    def hash_p(self, args: Sequence[Word]) -> None:
        """Record `hash -p PATH NAME...`: later calls of NAME run PATH (unknown PATH: `?`, high)."""
        for i, w in enumerate(args):
            if w.literal and w.value == "-p" and i + 1 < len(args):
                target = program_name(args[i + 1].value) if args[i + 1].literal else None
                for name in args[i + 2:]:
                    if name.literal and not name.value.startswith("-"):
                        self.hashed[name.value] = target
                return

    def find_exec(self, args: Sequence[Word], cmd: _Cmd, ctx: _Ctx) -> None:
        i = 0
        n = len(args)
        while i < n:
            w = args[i]
            if w.literal and w.value in ("-exec", "-execdir", "-ok", "-okdir"):
                j = i + 1
                while j < n and not (args[j].literal and args[j].value in (";", "+")):
                    j += 1
                inner = list(args[i + 1 : j])
                if not inner:
                    self.fail("parse-error", f"find {w.value} without a command")
                else:
                    self.run_argv(inner, cmd, ctx.nested("find-exec", f"find {w.value} runs it once per file"))
                i = j + 1
            else:
                i += 1


def _all_literal(args: Sequence[Word]) -> bool:
    """`all(w.literal for w in args)`; a plain loop, as the generator costs more than it saves here."""
    for w in args:  # noqa: SIM110
        if not w.literal:
            return False
    return True


def _changes_state(options: frozenset[str], args: Sequence[Word]) -> bool:
    """Whether a STATE_CHANGERS builtin called with `args` changes the shell (empty `options`: any
    argument does)."""
    if not options:
        return bool(args)
    for w in args:
        if not w.literal:
            return True
        v = w.value
        if v in options:
            return True
        if len(v) > 1 and v[0] in "-+" and v[1] != "-" and any(v[0] + c in options for c in v[1:]):
            return True
    return False


def _lookup_sub(entry: Program, sub_words: list[str]) -> Sub | None:
    subs = entry.subs or {}
    for k in range(len(sub_words), 0, -1):
        hit = subs.get(" ".join(sub_words[:k]))
        if hit is not None:
            return hit
    if not sub_words:
        return entry.no_sub
    return entry.unknown_sub


# First positional argument after a subcommand that changes its risk (git stash drop).
_SUB_ARGS: dict[str, dict[str, tuple[Risk, str]]] = {
    "git stash": {"list": (LOW, "lists stashes"), "show": (LOW, "shows a stash"),
                  "drop": (HIGH, "deletes a stash"), "clear": (HIGH, "deletes all stashes")},
    "git remote": {w: (MEDIUM, "changes remotes") for w in
                   ("add", "remove", "rm", "rename", "set-url", "prune", "set-head", "set-branches", "update")},
    "git worktree": {"list": (LOW, "lists worktrees"), "remove": (HIGH, "deletes a worktree")},
    "git submodule": {"status": (LOW, "shows submodules"), "summary": (LOW, "shows submodules"),
                      "foreach": (HIGH, "runs a shell command in each submodule")},
    "git reflog": {"expire": (HIGH, "discards reflog entries"), "delete": (HIGH, "discards reflog entries")},
    "git bisect": {"run": (HIGH, "runs a command line at each step")},
    "git notes": {"list": (LOW, "lists notes"), "show": (LOW, "shows notes")},
    "npm audit": {"fix": (MEDIUM, "changes dependencies")},
    "npm config": {"get": (LOW, "reads a setting"), "list": (LOW, "lists settings"), "ls": (LOW, "lists settings")},
    "kubectl config": {w: (LOW, "reads the kubeconfig") for w in
                       ("view", "get-contexts", "current-context", "get-clusters", "get-users")},
    "kubectl get": {"secret": (MEDIUM, "prints secrets"), "secrets": (MEDIUM, "prints secrets")},
    "kubectl describe": {"secret": (MEDIUM, "prints secrets"), "secrets": (MEDIUM, "prints secrets")},
    "docker system": {"df": (LOW, "shows disk use"), "info": (LOW, "shows daemon info"),
                      "events": (LOW, "shows events")},
    "go mod": {"graph": (LOW, "prints the module graph"), "why": (LOW, "explains a dependency"),
               "verify": (LOW, "verifies dependencies")},
}


# -- special argument checks (named by Program.check) ----------------------------------------------

Check = Callable[[_Walker, Sequence[Word], list[str]], list[tuple[Risk | None, str]]]


def _positionals(args: Sequence[Word]) -> list[Word]:
    out = []
    after = False
    for w in args:
        if not after and w.literal and w.value == "--":
            after = True
            continue
        if after or not (w.literal and w.value.startswith("-") and len(w.value) > 1):
            out.append(w)
    return out


def _check_pager_plus(_w: _Walker, args: Sequence[Word], _k: list[str]) -> list[tuple[Risk | None, str]]:
    if any(a.literal and a.value.startswith("+") for a in args):
        return [(HIGH, "a +command argument runs pager commands, which can run a shell command line")]
    return []


def _check_hostname(_w: _Walker, args: Sequence[Word], _k: list[str]) -> list[tuple[Risk | None, str]]:
    return [(MEDIUM, "hostname NAME sets the host name")] if _positionals(args) else []


def _check_second_positional(_w: _Walker, args: Sequence[Word], k: list[str]) -> list[tuple[Risk | None, str]]:
    return [(MEDIUM, f"{k[0]} with two file arguments writes the second")] if len(_positionals(args)) >= 2 else []


def _check_tee(_w: _Walker, args: Sequence[Word], _k: list[str]) -> list[tuple[Risk | None, str]]:
    files = [a for a in _positionals(args) if not (a.literal and tables.harmless_target(a.value))]
    return [(MEDIUM, "tee writes " + ", ".join(a.value for a in files))] if files else [
        (None, "tee writes only to standard output or /dev/null")]


def _check_varnames(_w: _Walker, args: Sequence[Word], k: list[str]) -> list[tuple[Risk | None, str]]:
    for a in args:
        if "[" in a.value and _CODE_IN_TEXT.search(a.value):
            return [(HIGH, f"{k[0]} evaluates the subscript in {a.value[:60]!r}, which runs code")]
    return []


def _check_printf(_w: _Walker, args: Sequence[Word], k: list[str]) -> list[tuple[Risk | None, str]]:
    for i, a in enumerate(args):
        if a.literal and a.value == "-v" and i + 1 < len(args):
            return _check_varnames(_w, args[i + 1 : i + 2], k)
        if a.literal and a.value.startswith("-v") and len(a.value) > 2:
            return _check_varnames(_w, [Word(a.value[2:], True)], k)
    return []


def _check_arith_args(_w: _Walker, args: Sequence[Word], k: list[str]) -> list[tuple[Risk | None, str]]:
    for a in args:
        if _CODE_IN_TEXT.search(a.value):
            return [(HIGH, f"{k[0]} evaluates {a.value[:60]!r} as arithmetic, which runs code")]
        if not a.literal:
            return [(MEDIUM, f"{k[0]} evaluates an expanded value as arithmetic")]
    return []


def _check_declare(w: _Walker, args: Sequence[Word], k: list[str]) -> list[tuple[Risk | None, str]]:
    out: list[tuple[Risk | None, str]] = []
    arith = any(a.literal and a.value.startswith("-") and any(c in a.value for c in "iaAn") for a in args)
    for a in args:
        v = a.value
        if a.literal and v.startswith(("-", "+")):
            if v.startswith("-") and "f" in v and (k[0] == "export" or "x" in v):  # declare -fx too
                w.mutates = True
                out.append((None, f"{k[0]} {v} exports a shell function"))
            continue
        m = _ASSIGN_WORD.match(v)
        name = m.group(1) if m else v.split("=", 1)[0]
        if ("[" in v.split("=", 1)[0] or arith) and _CODE_IN_TEXT.search(v):
            out.append((HIGH, f"{k[0]} evaluates {v[:60]!r} as arithmetic, which runs code"))
        if tables.behaviour_var(name) and (m or k[0] == "export"):
            w.mutates = True
            out.append((MEDIUM, f"{k[0]} {name} changes how later commands run"))
        if not a.literal and not m:
            out.append((MEDIUM, f"{k[0]} with a name that is not literal"))
    return out


_SSH_CMD_OPTS = re.compile(r"(?i)(proxycommand|localcommand|permitlocalcommand|knownhostscommand|"
                           r"remotecommand|proxyusefdpass|pkcs11provider|securitykeyprovider|sshaskpass)")


def _check_ssh(_w: _Walker, args: Sequence[Word], _k: list[str]) -> list[tuple[Risk | None, str]]:
    for i, a in enumerate(args):
        v = a.value
        opt = None
        if v == "-o" and i + 1 < len(args):
            opt = args[i + 1].value
        elif v.startswith("-o") and len(v) > 2:
            opt = v[2:]
        elif v == "-S" and _k[0] in ("scp", "sftp"):
            return [(HIGH, f"{_k[0]} -S runs another program as ssh")]
        if opt is not None and _SSH_CMD_OPTS.search(opt):
            return [(HIGH, f"ssh option {opt[:60]!r} runs a local command")]
    return []


_SED_EXEC = re.compile(r"(?:^|[;\n{}])\s*(?:[0-9$,/!~+]|\\.)*\s*[ewW](?:\s|$)|s(.).*?\1.*?\1[gpIiMm0-9]*[ew]")


def _check_sed(_w: _Walker, args: Sequence[Word], _k: list[str]) -> list[tuple[Risk | None, str]]:
    out: list[tuple[Risk | None, str]] = []
    scripts = [a.value for a in args if not a.value.startswith("-")][:1]
    for i, a in enumerate(args):
        if a.value in ("-e", "--expression") and i + 1 < len(args):
            scripts.append(args[i + 1].value)
        if a.value in ("-f", "--file"):
            out.append((None, "sed reads its script from a file"))
    for s in scripts:
        if _SED_EXEC.search(s):
            out.append((None, f"sed script {s[:40]!r} may run commands or write files (e/w)"))
    return out


_AWK_EXEC = re.compile(r"system\s*\(|\|\s*(getline|&)|\"\s*\|\s*getline|print[f]?[^;}]*[|>]")


def _check_awk(_w: _Walker, args: Sequence[Word], _k: list[str]) -> list[tuple[Risk | None, str]]:
    for a in args:
        if _AWK_EXEC.search(a.value):
            return [(None, "the awk program runs commands or writes files")]
    return []


_GIT_CONFIG_READ = frozenset({"--get", "--get-all", "--get-regexp", "--get-urlmatch", "--list", "-l",
                              "--show-origin", "--show-scope", "--name-only", "--null", "-z", "--global",
                              "--system", "--local", "--worktree", "--includes", "--no-includes", "--type",
                              "--bool", "--int", "--path", "--default", "get", "list"})


def _check_git(_w: _Walker, args: Sequence[Word], key: list[str]) -> list[tuple[Risk | None, str]]:
    sub = key[1] if len(key) > 1 else ""
    if sub == "config":
        pos = _positionals(args)
        if any(not a.literal or (a.value.startswith("-") and a.value not in _GIT_CONFIG_READ) for a in args) \
                or len(pos) >= 2 or (pos and pos[0].value in ("set", "unset", "rename-section", "remove-section",
                                                              "edit")):
            return [(MEDIUM, "git config writes settings (which can make git run commands)")]
        return []
    if sub == "push":
        for a in _positionals(args):
            if a.literal and (a.value.startswith("+") or a.value.startswith(":")):
                return [(HIGH, f"git push {a.value!r} forces or deletes a remote ref")]
    if sub in ("reset",) and any(a.value == "--hard" or a.value == "--merge" or a.value == "--keep" for a in args):
        return [(HIGH, "git reset --hard discards uncommitted work")]
    if sub in ("checkout", "switch") and any(a.value in ("-f", "--force", "--discard-changes") for a in args):
        return [(HIGH, f"git {sub} --force discards uncommitted work")]
    if sub == "rebase" and any(a.value in ("-x", "--exec") or a.value.startswith("--exec=") for a in args):
        return [(HIGH, "git rebase --exec runs a command line")]
    return []


# Checks whose findings mean the words hide code: no rule may absorb them.
_CODE_CHECKS = frozenset({"varname_args", "printf_v", "arith_args", "declare", "ssh", "pager_plus"})

CHECKS: dict[str, Check] = {
    "pager_plus": _check_pager_plus,
    "hostname_set": _check_hostname,
    "second_positional_writes": _check_second_positional,
    "tee": _check_tee,
    "varname_args": _check_varnames,
    "printf_v": _check_printf,
    "arith_args": _check_arith_args,
    "declare": _check_declare,
    "ssh": _check_ssh,
    "sed": _check_sed,
    "awk": _check_awk,
    "git": _check_git,
}


def _fc(w: _Walker, argv: list[Word], name: str, cmd: _Cmd, ctx: _Ctx) -> None:
    lists = any(a.literal and a.value.startswith("-") and "l" in a.value for a in argv[1:])
    risk = LOW if lists else HIGH
    w.emit(argv, name, [name], argv[1:], risk,
           [_reason("table", "fc -l lists history" if lists else "fc re-runs commands from history", risk)], ctx, cmd)


_Handler = Callable[[_Walker, list[Word], str, _Cmd, _Ctx], None]
_SPECIAL_BUILTINS: dict[str, _Handler] = {
    "trap": _Walker.trap,
    "alias": _Walker.alias,
    "fc": _fc,
    "cd": _Walker.cd,
    "pushd": _Walker.cd,
    "popd": _Walker.cd,
}
# Program name -> how it is judged; anything else is an interpreter or a table program.
_DISPATCH: dict[str, _Handler] = {
    **dict.fromkeys(tables.INTERPRETERS, _Walker.interpreter),
    **_SPECIAL_BUILTINS,
    **dict.fromkeys(tables.EVALUATORS, _Walker.eval_),
    **dict.fromkeys(tables.SHELLS, _Walker.shell),
    **dict.fromkeys(tables.WRAPPERS, _Walker.wrapper_),
}

_STATEMENTS: dict[str, Callable[[_Walker, Node, _Ctx], None]] = {
    "program": _Walker.seq,
    "command": _Walker.st_command,
    "list": _Walker.st_list,
    "pipeline": _Walker.st_pipeline,
    "negated_command": _Walker.st_negated,
    "subshell": _Walker.st_subshell,
    "compound_statement": _Walker.st_compound,
    "redirected_statement": _Walker.st_redirected,
    "if_statement": _Walker.st_if,
    "elif_clause": _Walker.conditional,
    "else_clause": _Walker.conditional,
    "while_statement": _Walker.st_while,
    "do_group": _Walker.seq,
    "for_statement": _Walker.st_for,
    "c_style_for_statement": _Walker.st_c_for,
    "case_statement": _Walker.st_case,
    "function_definition": _Walker.st_function,
    "test_command": _Walker.st_test,
    "variable_assignment": _Walker.st_assignment,
    "variable_assignments": _Walker.st_assignments,
    "declaration_command": _Walker.st_declaration,
    "unset_command": _Walker.st_declaration,
}

_WORD_KINDS = frozenset({
    "word", "string", "raw_string", "ansi_c_string", "translated_string", "concatenation", "simple_expansion",
    "expansion", "command_substitution", "process_substitution", "arithmetic_expansion", "number",
    "brace_expression", "extglob_pattern", "variable_name", "test_operator", "regex",
})
_EXPR_KINDS = frozenset({
    "binary_expression", "unary_expression", "postfix_expression", "parenthesized_expression",
    "ternary_expression", "expansion", "simple_expansion", "arithmetic_expansion", "compound_statement",
    "string", "translated_string", "concatenation", "subscript", "variable_assignment",
})
_LEAF_EXPR_KINDS = frozenset({
    "number", "variable_name", "special_variable_name", "test_operator", "regex", "extglob_pattern",
    "string_content", "brace_expression", "heredoc_content", "comment",
})


def program_name(value: str) -> str:
    """argv[0] as rules see it: the basename of a program in a system directory (after resolving
    `..` and repeated slashes); other paths kept (`./cat` and `/tmp/x/cat` are not the trusted `cat`)."""
    if "/" not in value:
        return value
    if value.startswith("/"):
        norm = "/" + posixpath.normpath(value).lstrip("/")
        head, _, base = norm.rpartition("/")
        if head in SYSTEM_DIRS and base:
            return base
    return value


def _text(src: bytes, node: Node) -> str:
    """The original text of a node (the parser saw an ASCII shadow of the same length)."""
    return src[node.start_byte:node.end_byte].decode("utf-8", "surrogateescape")


def _snippet(src: bytes, node: Node) -> str:
    text = _text(src, node)
    return repr(text[:40] + ("…" if len(text) > 40 else ""))


def _static_text(src: bytes, node: Node) -> str | None:
    """The value of a word node that has no expansion at all (None otherwise). Side-effect free."""
    t = node.type
    if t == "word":
        text = _text(src, node)
        return None if _EXPANDS_IN_WORD.search(text) else words.unquoted_piece(text).value
    if t == "raw_string":
        return words.squoted_piece(_text(src, node)).value
    if t == "ansi_c_string":
        return words.ansi_c_piece(_text(src, node)).value
    if t == "string":
        parts = []
        for k in node.children:
            if k.type == "string_content":
                parts.append(words.dquoted_piece(_text(src, k)).value)
            elif k.type != '"':
                return None
        return "".join(parts)
    if t == "concatenation":
        out = [_static_text(src, k) for k in node.children]
        return None if any(o is None for o in out) else "".join(o or "" for o in out)
    return None


def _static_stdin(src: bytes, node: Node) -> str | None:
    """The exact text a here-string or here-document redirect feeds (None when not fixed)."""
    if node.type == "herestring_redirect":
        word = next((k for k in node.children if k.is_named), None)
        value = _static_text(src, word) if word is not None else None
        return None if value is None else value + "\n"
    if node.type == "heredoc_redirect":
        start = next((k for k in node.children if k.type == "heredoc_start"), None)
        body = next((k for k in node.children if k.type == "heredoc_body"), None)
        if start is None or body is None:
            return None
        text = _text(src, body)
        quoted = any(c in _text(src, start) for c in "'\"\\")
        if not quoted and ("$" in text or "`" in text or "\\" in text):
            return None
        if any(k.type == "<<-" for k in node.children):
            text = "\n".join(line.lstrip("\t") for line in text.split("\n"))
        return text
    return None


def _static_output(src: bytes, node: Node) -> str | None:
    """What a pipeline stage writes when it is `echo`/`printf` with fixed arguments (None otherwise)."""
    if node.type != "command":
        return None
    argv: list[str] = []
    for k in node.children:
        kind = k.type
        if kind == "command_name":
            inner = k.children[0] if k.child_count == 1 else None
            value = _static_text(src, inner) if inner is not None else None
        elif kind in _REDIRECT_KINDS or kind == "variable_assignment":
            return None
        else:
            value = _static_text(src, k)
        if value is None or (not argv and value != "echo" and value != "printf"):
            return None  # only echo and printf are modelled: no later word can change that
        argv.append(value)
    if not argv:
        return None
    if argv[0] == "echo":
        args = argv[1:]
        newline = "\n"
        while args and args[0] in ("-n", "-E"):
            newline = "" if args[0] == "-n" else newline
            args = args[1:]
        if args and args[0].startswith("-"):
            return None
        return " ".join(args) + newline
    if argv[0] == "printf" and len(argv) >= 2:
        fmt, args = argv[1], argv[2:]
        if fmt in ("%s\\n", "%s\n") and args:
            return "".join(a + "\n" for a in args)
        if "%" not in fmt and not args and "\\" not in fmt.replace("\\n", ""):
            return fmt.replace("\\n", "\n")
    return None


def _as_dquoted(body: str) -> str:
    """Here-document body text rewritten so that inside double quotes it expands the same way:
    only `"` differs (literal in a body, closing in a string)."""
    out: list[str] = []
    i = 0
    n = len(body)
    while i < n:
        ch = body[i]
        if ch == "\\" and i + 1 < n:
            nxt = body[i + 1]
            out.append("\\\\\\\"" if nxt == '"' else ch + nxt)
            i += 2
            continue
        out.append('\\"' if ch == '"' else ch)
        i += 1
    return "".join(out)


def _only_string(root: Node) -> Node | None:
    """The string node of a tree that is exactly one string (program > command > command_name > string)."""
    node = root
    for kind in ("command", "command_name", "string"):
        kids = [k for k in node.children if k.is_named]
        if len(kids) != 1 or kids[0].type != kind:
            return None
        node = kids[0]
    return node


def _first_suspicious(text: str) -> str | None:
    for ch in text:
        if words.suspicious_char(ch):
            return ch
    return None
