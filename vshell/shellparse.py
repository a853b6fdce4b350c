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
import shlex
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import NamedTuple, TypeVar

from tree_sitter import Node

from vshell import tables, words
from vshell.model import Action, Reason, Redirect, Risk
from vshell.scripts import awk_scan, resolve_long, sed_scan
from vshell.tables import HIGH, LOW, MEDIUM, Program, Sub

MAX_DEPTH = 120  # nesting levels of statements/words before the line is refused as too deep
MAX_NESTED_PARSES = 16  # literal `bash -c` / `eval` strings parsed inside each other
MAX_ACTIONS = 2000
MAX_HEREDOC_SUBSTITUTIONS = 500  # each is parsed on its own

SYSTEM_DIRS = frozenset({
    "/bin", "/usr/bin", "/usr/local/bin", "/sbin", "/usr/sbin", "/usr/local/sbin", "/opt/homebrew/bin",
    "/opt/homebrew/sbin", "/usr/libexec", "/run/current-system/sw/bin",
})

_SEQ_TOKENS = frozenset({";", "&", "\n", "{", "}", "(", ")", "do", "done", "then", "fi", "else", "elif", "if",
                         "while", "until", "for", "select", "in", "case", "esac", ";;", ";&", ";;&", "function",
                         "((", "))", "|", "|&", "&&", "||", "!", "=", "+=", "[[", "]]", "[", "]", "$(", "`",
                         "<(", ">(", "\"", "$", "${", "$((", "$["})
_ARITH_TEST_OPS = frozenset({"-eq", "-ne", "-lt", "-le", "-gt", "-ge"})
_ARITH_ASSIGN = frozenset({"=", "+=", "-=", "*=", "/=", "%=", "<<=", ">>=", "&=", "^=", "|="})
_REDIRECT_KINDS = frozenset({"file_redirect", "heredoc_redirect", "herestring_redirect"})
_WRITE_OPS = frozenset({">", ">>", ">|", "&>", "&>>", ">&", "<>"})
_SPECIAL_IN_WORD = re.compile(r"[\\*?\[{(@!+$`]")
_PROMPT_EXPANSION = re.compile(r"@[PEA]\}$|@P")
_CODE_IN_TEXT = re.compile(r"\$\(|`|\$\{|<\(|>\(")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_EXPANDS_IN_WORD = re.compile(r"[$`*?\[{~]")  # a bare word holding one of these may expand
_UNDERSCORE_ASSIGN = re.compile(r"_(?:\[[^\]]*\])?\+?=")
_ASSIGN_WORD = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(\[[^\]]*\])?\+?=")
_IDENT_ANY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_UNKNOWN_VALUE = re.compile(r"[$`*?\[]")
_LET_ASSIGN = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*(?:\[[^\]]*\])?)\s*(?:[-+*/%&^|]|<<|>>)?=(?!=)")
# An array subscript holding a substitution: bash runs it when the text is evaluated as a name.
_SUBSCRIPT_CODE = re.compile(r"\[[^\]]*?(?:\$\(|`|\$\{|<\(|>\()")
# Text of a `${ }` operand (or backtick body) that tree-sitter may have left unparsed.
_OPERAND_CODE = re.compile(r"\$\(|`|<\(|>\(|\$\[|\$\{")
# Variables bash itself sets from what the line runs (values the line does not know).
_SET_BY_BASH = frozenset({"_", "REPLY", "OPTARG", "BASH_REMATCH", "MAPFILE", "COPROC", "BASH_COMMAND"})
_PLAIN_PARAMETER = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::?[-+?][^$`<>(){}\[\]'\"\\]*)?\}")
_COPROC_BEFORE = re.compile(rb"(?:^|[;&|(){}\n][ \t]*)coproc[ \t]+(?:([A-Za-z_][A-Za-z0-9_]*)[ \t]+)?$")
# Variables that are bash's command hash and alias table: `BASH_CMDS[ls]=/bin/rm` is `hash -p`.
_HASH_VARS = frozenset({"BASH_CMDS", "BASH_ALIASES"})
# A `!` that starts a history expansion (bash's history_expansion_char rules, approximately).
_HISTORY_EXPANSION = re.compile(r"![^\s=(]")
# Redirections that may leave fd 1 or 2 on a file the line opened: an input redirection onto
# them (`1<victim`) or a copy of another descriptor (`1>&3`, `<&$fd`).
_STD_RETARGETED = re.compile(r"(?<![0-9])[12]<|[<>]&\s*(?:[3-9]|[0-9]{2}|\$)")


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


class _Vars:
    """Variables of one line, for arithmetic evaluation (see `_Walker.arith_verdict`)."""

    __slots__ = ("arith", "ints", "texts", "unknown")

    def __init__(self) -> None:
        self.arith: set[str] = set()  # names evaluated as arithmetic (bare, ${!x}, let x)
        self.texts: set[str] = set()  # names the line assigns a text value (for, read, x=...)
        self.unknown: set[str] = set()  # ... of those, the ones whose value the line does not know
        self.ints: set[str] = set()  # names declared -i: what is assigned to them is evaluated


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
    w.check_lexing(root, src, "the line")
    try:
        w.seq(root, _TOP)
    except TooDeep:
        w.fail("too-deep", f"nesting deeper than {MAX_DEPTH} levels is refused")
    except Unparsable as e:
        w.fail("unparsable", f"a nested command line could not be parsed: {e}")
    except RecursionError:
        w.fail("too-deep", "nesting too deep to analyse")
    if w.aliases or w.history or w.histexpand:
        w.finish()
    if w.calls:
        w.recursion_verdict()
    if w.reasons or w.variables is not None or w.arith_exp:
        if w.variables is not None or w.arith_exp:
            w.arith_verdict()
        if w.actions:
            _spread_line_reasons(w.reasons, w.actions)
    actions = []
    for d in w.actions:
        actions.append(d.freeze())
    return tuple(actions), tuple(w.reasons), w.parse_ok, w.mutates


def _spread_line_reasons(reasons: list[Reason], drafts: list[_Draft]) -> None:
    """A line-level risk (a PATH change, code reached through arithmetic) is not any one action's,
    but the line's risk is the highest of its actions' (DESIGN, Decisions): each action whose own
    risk is lower carries the line reasons above it, so no decision can allow it on its own."""
    risky = [r for r in reasons if r.risk is not None and r.risk > LOW]
    if not risky:
        return
    for d in drafts:
        risk = d.risk
        for r in d.reasons:
            if r.risk is not None and r.risk > risk:
                risk = r.risk
        for r in risky:
            if r.risk is not None and r.risk > risk and r not in d.reasons:
                d.reasons.append(r)


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
        # What a function definition redirects (`f() { ...; } > file`): applied at each call.
        self.function_redirects: dict[str, _Cmd] = {}
        # Names declared as namerefs without a value (`declare -n r`): the next `r=NAME` points them.
        self.namerefs: set[str] = set()
        self.cwd: str | None = ""
        self.cd_pending = False
        self.depth = 0
        self.nest = 0
        # The exact text on the standard input of the statement being walked, when the line fixes it
        # (echo 'cmd' | sh, sh <<< 'cmd', sh <<'EOF'): a shell reading it runs those command lines.
        self.stdin_text: str | None = None
        # `hash -p PATH NAME` (or `BASH_CMDS[NAME]=PATH`) makes NAME run PATH for the rest of the line.
        self.hashed: dict[str, str | None] = {}  # None: a path that is not literal
        # `alias NAME=VALUE` (or BASH_ALIASES[NAME]=VALUE): bash reads a later command named NAME as
        # VALUE followed by the rest of the command (None: a value that is not literal).
        self.aliases: dict[str, str | None] = {}
        self.expanding: set[str] = set()  # aliases being expanded (bash never expands one in itself)
        self.expand_aliases = False  # `shopt -s expand_aliases` somewhere on the line
        # `set -o history` / `set -H` (histexpand) somewhere on the line: see finish().
        self.history = False
        self.histexpand = False
        self.top_src = src
        # Quoting context of the word being walked: inside "..." (or an unquoted here-document body)
        # single quotes in a `${x:-...}` operand are literal; inside backticks `\"` is unescaped.
        self.in_dquote = False
        self.in_expansion = 0  # depth of `${ }` operands being walked (their leaves may hide code)
        self.single_test = False  # inside `[ ... ]` (no arithmetic) rather than `[[ ... ]]`
        # Arithmetic evaluation of a NAME evaluates its value, subscripts and all: `x='a[$(cmd)]';
        # $((x))` runs cmd. What the line tells about that, judged at the end of the walk:
        self.code_text = False  # some literal text holds an array subscript with code in it
        self.arith_exp = False  # an arithmetic context evaluates an expanded value ($x, ${x}, $(...))
        self.variables: _Vars | None = None  # the variables the line assigns and evaluates (None: none yet)
        # Process spawning, for fork bombs: how deep the walk is in a backgrounded statement or a
        # stage of a pipeline (each a new process), how many backgrounded statements were walked,
        # the function bodies being walked (with the spawn depth at their start), the calls of
        # line-defined functions as (caller or None at the top, callee, the call spawns a process),
        # and the functions whose bodies start background jobs.
        self.spawn_depth = 0
        self.backgrounds = 0
        self.defining: list[tuple[str, int]] = []
        self.calls: list[tuple[str | None, str, bool]] = []
        self.fn_spawns: set[str] = set()

    def finish(self) -> None:
        """Line-level verdicts on shell features that re-read the line's text as code."""
        if self.aliases and self.expand_aliases:
            self.line_reason("alias-expansion", "with expand_aliases on, bash reads later commands named like an "
                                                "alias as the alias text followed by their words", MEDIUM)
        if self.history or self.histexpand:
            self.line_reason("history", "set -o history / set -H make fc and `!` history expansion run earlier "
                                        "text again", MEDIUM)
        if self.history and self.histexpand and _HISTORY_EXPANSION.search(self.top_src.decode("utf-8", "replace")):
            self.line_reason("history-expansion", "with history and histexpand on, bash replaces `!` words (even in "
                                                  "double quotes) with earlier text before parsing: what runs is "
                                                  "not what this line shows", HIGH)

    def names(self) -> _Vars:
        v = self.variables
        if v is None:
            v = self.variables = _Vars()
        return v

    # -- failure and reasons ------------------------------------------------------------------

    def fail(self, code: str, text: str) -> None:
        self.parse_ok = False
        self.reasons.append(_reason(code, text, HIGH))

    def check_lexing(self, root: Node, src: bytes, what: str) -> None:
        """Fail closed where tree-sitter and bash split `src` into different tokens."""
        why = lexical_mismatch(root, src)
        if why is not None:
            self.fail("parser-differential", f"{what}: {why}")

    def line_reason(self, code: str, text: str, risk: Risk | None) -> None:
        r = _reason(code, text, risk)
        if r not in self.reasons:
            self.reasons.append(r)

    def arith_verdict(self) -> None:
        """Arithmetic evaluation of a name evaluates the name's value, array subscripts included,
        so a value like `a[$(cmd)]` runs cmd. High when literal text of the line holds such a
        subscript and reaches arithmetic; medium when a name whose value the line cannot know
        (read, for over expansions, x=$(...)) is evaluated."""
        v = self.names()
        evaluated = v.arith | v.ints
        # With such text in the line, any evaluated name may hold it: besides the line's own
        # assignments, bash sets `_`, REPLY, OPTARG, BASH_REMATCH, MAPFILE ... from what runs.
        if self.code_text and (self.arith_exp or evaluated):
            self.line_reason("arith-code", "text of this line holds code in an array subscript, and arithmetic "
                                           "evaluation of a variable runs such code", HIGH)
            return
        unknown = sorted(evaluated & (v.unknown | _SET_BY_BASH))
        if unknown:
            self.line_reason("arith-name", f"arithmetic evaluates {', '.join(unknown[:3])}, whose value this line "
                                           "does not know (array subscripts in it would run code)", MEDIUM)

    def note_text(self, value: str) -> None:
        """Record literal text that holds an array subscript with code (see arith_verdict)."""
        if "[" in value and _SUBSCRIPT_CODE.search(value):
            self.code_text = True

    def set_var(self, name: str, known: bool, how: str, *, arith_value: str | None = None) -> None:
        """The line assigns variable `name` other than by `NAME=value` (for, read, printf -v,
        mapfile, ${x:=...}): a behaviour variable changes how later commands run, as an assignment
        does; BASH_CMDS/BASH_ALIASES with an unknown key or value can make any later name run
        anything. `known`: the value is literal text of the line."""
        base = name.split("[", 1)[0]
        v = self.names()
        v.texts.add(base)
        if base in self.namerefs:
            self.mutates = True
            self.line_reason("shell-state", f"{how} nameref {base} makes it refer to a variable the line does "
                                            "not name", MEDIUM)
        if not known:
            v.unknown.add(base)
        if base in v.ints and arith_value is not None:
            v.arith.update(_IDENT_ANY.findall(arith_value))
        if base in _HASH_VARS:
            self.mutates = True
            self.line_reason("shell-state", f"{how} {base} changes which program or alias a name runs", HIGH)
        elif tables.behaviour_var(base):
            self.mutates = True
            self.line_reason("shell-state", f"{how} {base} changes how later commands run", MEDIUM)

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
                    self.backgrounds += 1
                    self.spawn_depth += 1
                    try:
                        self.stmt(child, ctx)
                    finally:
                        self.spawn_depth -= 1
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
        self.spawn_depth += 1  # every stage is a process of its own
        try:
            self.pipeline_stages(node, ctx)
        finally:
            self.spawn_depth -= 1

    def pipeline_stages(self, node: Node, ctx: _Ctx) -> None:
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
        self.coproc_name(node)
        saved = (self.cwd, self.cd_pending)
        self.seq(node, ctx)
        self.cwd, self.cd_pending = saved

    def st_compound(self, node: Node, ctx: _Ctx) -> None:
        kids = node.children
        if kids and kids[0].type == "((":
            self.arith_children(node, ctx)
            return
        if kids and kids[0].type == "{" and self.src[kids[0].end_byte:kids[0].end_byte + 1] not in (b" ", b"\t",
                                                                                                   b"\n"):
            # `{` is a reserved word only before a blank: `{}` is a command named {} for bash.
            if _text(self.src, node) == "{}" and (node.parent is None or node.parent.type != "function_definition"):
                self.command_argv([Word("{}", True)], _Cmd((node.start_byte, node.end_byte)), ctx)
            else:
                self.fail("parser-differential", f"{_snippet(self.src, node)}: a `{{` not followed by a blank "
                                                 "is an ordinary word for bash")
            return
        if self.coproc_name(node):
            saved = (self.cwd, self.cd_pending)  # a coprocess runs in a subshell
            self.seq(node, ctx)
            self.cwd, self.cd_pending = saved
            return
        self.seq(node, ctx)

    def coproc_name(self, node: Node) -> bool:
        """Whether the group follows `coproc [NAME]` (blanked for the parser by classify.parse_line);
        NAME is assigned the coprocess's file descriptors."""
        # (`^` matches only at the start of the line, `$` at the group: search(), not a slice)
        m = _COPROC_BEFORE.search(self.src, max(0, node.start_byte - 80), node.start_byte)
        if m is None:
            return False
        if m.group(1):
            self.set_var(m.group(1).decode(), True, "coproc")
        return True

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
        if start == end and (cmd.reasons or any(r.writes for r in cmd.redirects)):
            # `[[ x ]] > f`, `(( 1 )) > f`: no command runs, but bash still opens (and truncates) the
            # targets. An action stands for the statement so its redirections are judged as on `:`.
            label = _text(self.src, body.children[0]) if body.children else body.type
            self.emit([Word(label, True)], label, [label], [], LOW,
                      [_reason("redirect-only", f"{label} runs no command; its redirections still open files")],
                      ctx, _Cmd((node.start_byte, node.end_byte)))
            end = len(self.actions)
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
        name = ""
        known = True  # every value of the loop variable is literal text of the line
        has_in = False
        for child in node.children:
            if not child.is_named:
                if child.type not in _SEQ_TOKENS:
                    self.bad_node(child)
                has_in = has_in or child.type == "in"
                continue
            if child.type == "variable_name":
                name = _text(self.src, child)
                continue
            if child.type == "do_group":
                if name:  # assigned before the body runs
                    self.set_var(name, known and has_in, "a for loop assigning")
                    name = ""
                self.seq(child, ctx)
            elif child.type in _WORD_KINDS:
                w = self.word(child, ctx)
                if not w.literal and _UNKNOWN_VALUE.search(_text(self.src, child)):
                    known = False  # expansions, substitutions, file names (brace expansion is known)
            elif child.type == "comment":
                continue
            else:
                self.bad_node(child)
        if name:
            self.set_var(name, known and has_in, "a for loop assigning")
        if self.cwd != before:
            self.cwd = None

    def st_c_for(self, node: Node, ctx: _Ctx) -> None:
        before = self.cwd
        semicolons = 0  # inside `(( ; ; ))`: the condition is between the first and the second
        endless = True  # no condition: `for ((;;))` never ends
        body: Node | None = None
        for child in node.children:
            if not child.is_named:
                if child.type not in _SEQ_TOKENS and child.type not in (",",):
                    self.bad_node(child)
                if child.type in (";", "))") and semicolons < 2:
                    semicolons += 1 if child.type == ";" else 2
                continue
            if child.type == "do_group" or child.type == "compound_statement":
                body = child
            else:
                if semicolons == 1 and not _TRUE_ARITH.fullmatch(_text(self.src, child)):
                    endless = False
                self.arith(child, ctx)
        if body is not None:
            self.loop_body(body, ctx, endless)
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
        kids = node.children
        body = node.child_by_field_name("body")
        conditions = [c for c in node.children_by_field_name("condition") if c.is_named]
        endless = False
        if kids and body is not None and len(conditions) == 1:
            text = _text(self.src, conditions[0]).strip()
            endless = bool((_ALWAYS_TRUE if kids[0].type == "while" else _ALWAYS_FALSE).fullmatch(text))
        if not endless or body is None:
            self.conditional(node, ctx)
            return
        before = self.cwd
        for child in kids:
            if child is not body:
                if child.is_named:
                    self.stmt(child, ctx)
                elif child.type not in _SEQ_TOKENS:
                    self.bad_node(child)
        self.loop_body(body, ctx, True)
        if self.cwd != before:
            self.cwd = None

    def loop_body(self, body: Node, ctx: _Ctx, endless: bool) -> None:
        """The body of a loop; `endless`: its condition never ends it (`while :`, `for ((;;))`).
        An endless loop that starts background jobs spawns processes without bound (resource
        exhaustion of the host session, like a fork bomb): HIGH. One that nothing in its body can
        leave (no break, exit or return) never finishes: MEDIUM."""
        spawned = self.backgrounds
        self.seq(body, ctx)
        if not endless:
            return
        if self.backgrounds > spawned:
            self.line_reason("spawn-loop", "an endless loop starts background jobs: processes pile up without "
                                           "bound (a fork bomb)", HIGH)
        elif not _LOOP_EXIT.search(_text(self.src, body)):
            self.line_reason("endless-loop", "a loop whose condition never ends it and that has no break, exit or "
                                             "return: it runs until killed", MEDIUM)

    def recursion_verdict(self) -> None:
        """Functions of the line that the line calls and that call themselves (directly or through
        others): unbounded recursion is MEDIUM; when a call on the cycle starts a new process
        (a pipeline stage, a background job: `:(){ :|:& };:`) it is a fork bomb, HIGH."""
        edges: dict[str, set[str]] = {}
        for caller, callee, _spawn in self.calls:
            if caller is not None:
                edges.setdefault(caller, set()).add(callee)
        reached = {callee for caller, callee, _spawn in self.calls if caller is None}
        todo = list(reached)
        while todo:
            for nxt in edges.get(todo.pop(), ()):
                if nxt not in reached:
                    reached.add(nxt)
                    todo.append(nxt)

        def reach(start: str) -> set[str]:
            seen: set[str] = set()
            stack = [start]
            while stack:
                for nxt in edges.get(stack.pop(), ()):
                    if nxt not in seen:
                        seen.add(nxt)
                        stack.append(nxt)
            return seen

        cyclic = {f: r for f in reached if f in (r := reach(f))}
        if not cyclic:
            return
        for caller, callee, spawn in self.calls:
            if spawn and caller in cyclic and callee in cyclic and caller in cyclic[callee]:
                self.line_reason("fork-bomb", f"shell function {callee!r} calls itself in a new process (a pipeline "
                                              "or background job): processes multiply until the host runs out "
                                              "(a fork bomb)", HIGH)
                return
        self.line_reason("recursion", f"shell function {sorted(cyclic)[0]!r} calls itself without bound", MEDIUM)

    def st_function(self, node: Node, ctx: _Ctx) -> None:
        name = ""
        body: Node | None = None
        redirect_nodes: list[Node] = []
        for child in node.children:
            if not child.is_named:
                if child.type not in ("function", "(", ")"):
                    self.bad_node(child)
                continue
            if child.type == "word" and not name:
                name = _text(self.src, child)  # the original bytes: the parser saw an ASCII shadow
            elif child.type in _REDIRECT_KINDS:
                redirect_nodes.append(child)
            elif child.type in _STATEMENTS and body is None:
                body = child
            elif child.type != "comment":
                self.bad_node(child)
        self.mutates = True
        self.line_reason("function", f"defines shell function {name!r}", None)
        # A redirection on the definition (`f() { ...; } > file`) is applied at every call of f:
        # its writes are judged on each call (and on the body's actions, which run under it).
        cmd = _Cmd((node.start_byte, node.end_byte))
        for r in redirect_nodes:
            self.redirect(r, cmd, ctx)
        if name:
            self.functions.add(name)
            if redirect_nodes:
                self.function_redirects[name] = cmd
            else:
                self.function_redirects.pop(name, None)
        if body is not None:
            saved = (self.cwd, self.cd_pending)
            start = len(self.actions)
            spawned = self.backgrounds
            self.defining.append((name, self.spawn_depth))
            try:
                self.stmt(body, ctx.nested("function", f"runs in the body of function {name!r}"))
            finally:
                self.defining.pop()
            if name and self.backgrounds > spawned:
                self.fn_spawns.add(name)
            for d in self.actions[start:]:
                d.redirects.extend(cmd.redirects)
                d.reasons.extend(cmd.reasons)
                d.ineligible.extend(cmd.ineligible)
            self.cwd, self.cd_pending = saved

    def st_test(self, node: Node, ctx: _Ctx) -> None:
        # `[ a -lt b ]` is the test builtin: it reads integers and evaluates no arithmetic, unlike `[[`.
        saved = self.single_test
        self.single_test = bool(node.children) and node.children[0].type == "["
        try:
            self.expr_children(node, ctx, arith=False)
        finally:
            self.single_test = saved

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
        last_end = -1  # where the last argument node ended (-1: no argument node yet)
        plain = [False]  # per argv word: it is one variable_assignment node, judged by assignment()
        for child in node.children:
            t = child.type
            if not child.is_named:
                if t in ("declare", "typeset", "local", "export", "readonly", "unset", "unsetenv"):
                    argv.append(Word(t, True))
                else:
                    self.bad_node(child)
                last_end = -1
                continue
            if t == "variable_assignment":
                wd = self.assignment(child, ctx, prefix=False, cmd=cmd, declared=True)
            elif t == "variable_name":
                wd = Word(_text(self.src, child), True)
            elif t in _REDIRECT_KINDS:
                self.redirect(child, cmd, ctx)
                last_end = -1
                continue
            elif t in _WORD_KINDS:
                wd = self.word(child, ctx)
            else:
                if t != "comment":
                    self.bad_node(child)
                last_end = -1
                continue
            if len(argv) > 1 and child.start_byte == last_end:
                # Nodes with nothing between them are one word for bash: `P''ATH=./rt` is PATH=./rt,
                # which tree-sitter splits into a name and a concatenation.
                prev = argv.pop()
                plain.pop()
                wd = Word(prev.value + wd.value, prev.literal and wd.literal, prev.why or wd.why,
                          prev.subst or wd.subst)
                argv.append(wd)
                plain.append(False)
            else:
                argv.append(wd)
                plain.append(t == "variable_assignment")
            last_end = child.end_byte
        for i in range(1, len(argv)):
            if not plain[i]:
                self.declared_word(argv[i], cmd, ctx)
        self.command_argv(argv, cmd, ctx)

    def declared_word(self, w: Word, cmd: _Cmd, ctx: _Ctx) -> None:
        """A declaration argument that assigns but is not a plain assignment node to tree-sitter
        (`"B"ASH_CMDS[ls]=x`, `P''ATH=x`): bash assigns it all the same, so it gets what
        `assignment` does for the variables whose assignment runs or changes commands."""
        m = _ASSIGN_WORD.match(w.value)
        if m is None:
            return
        base = m.group(1)
        sub = m.group(2)
        value = w.value[m.end():]
        plus = w.value[m.end() - 2] == "+"
        v = self.names()
        v.texts.add(base)
        if plus or not w.literal:
            v.unknown.add(base)
        if "[" in value and _CODE_IN_TEXT.search(value):
            self.line_reason("arith-code", f"the value of {base} holds code inside an array subscript, which bash runs "
                                           "when the value is used as a name or number", HIGH)
        if base in _HASH_VARS:
            key = None if plus or not w.literal else (sub[1:-1] if sub else "0")
            self.hash_var(base, key, Word(value, w.literal, w.why, w.subst), cmd, ctx)
        elif base in tables.CODE_VARS:
            self.nested_line(Word(value, w.literal), f"{base} holds a command line the shell runs", cmd, ctx)

    def st_command(self, node: Node, ctx: _Ctx) -> None:
        cmd = _Cmd((node.start_byte, node.end_byte))
        argv: list[Word] = []
        starts: list[int] = []  # where each word of argv starts in the source
        last_end = -1
        for child in node.children:
            t = child.type
            # The kinds are disjoint; the common ones are tested first.
            if t == "command_name":
                kids = child.children
                if len(kids) != 1:
                    self.bad_node(child)
                    continue
                if kids[0].is_missing and missing_name_only(child):
                    continue  # tree-sitter's empty name after `x=1 2>f`: no command word in the source
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
                starts.pop()
            argv.append(wd)
            starts.append(child.start_byte)
            last_end = child.end_byte
        # tree-sitter reads `_=1` (the name `_` alone) as a word; bash assigns it like any prefix.
        while argv and starts and _UNDERSCORE_ASSIGN.match(self.src.decode("utf-8", "surrogateescape")
                                                            [starts[0]:starts[0] + 64]):
            argv.pop(0)
            starts.pop(0)
            cmd.env.append("_")
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
        key: str | None = "0"  # the subscript's value (None: not literal)
        numeric = False  # the value is a number or an arithmetic expansion
        is_array = False
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
                    index = child.child_by_field_name("index")
                    key = _static_text(self.src, index) if index is not None else None
                    self.subscript(child, ctx)
                else:
                    self.bad_node(child)
                continue
            numeric = t == "number" or t == "arithmetic_expansion"
            if t == "array":
                is_array = True
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
        if not prefix:
            v = self.names()
            v.texts.add(base)
            if op == "+=" or not (value.literal or numeric):
                v.unknown.add(base)
            if base in v.ints:  # an integer variable evaluates what it is given
                v.arith.update(_IDENT_ANY.findall(value.value))
        if not prefix and not declared and base in self.namerefs:
            verdict = self.nameref_target(base, value, "assigning")
            if verdict is not None:
                self.line_reason("shell-state", verdict[1], verdict[0])
        if base in _HASH_VARS and not prefix:
            self.hash_var(base, None if is_array or op == "+=" else key, value,
                          cmd or _Cmd((node.start_byte, node.end_byte)), ctx)
        elif base in tables.CODE_VARS and not prefix:
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

    def nameref_target(self, name: str, value: Word, how: str) -> tuple[Risk, str] | None:
        """`declare -n name` without a value: the first assignment to name makes it refer to the
        variable its value names, and later ones assign that variable. Judged as `declare -n
        name=value` is: which variable the value names, as far as the line knows."""
        self.mutates = True
        target = value.value.split("[", 1)[0]
        if not value.literal:
            return MEDIUM, (f"{how} nameref {name} makes it refer to a variable whose name is not literal; "
                            f"assigning {name} then may change how later commands run")
        if target in _HASH_VARS:
            return HIGH, f"{how} nameref {name} makes it refer to {target}: assigning {name} can make any later " \
                         "command run something else"
        if tables.behaviour_var(target):
            return MEDIUM, f"{how} nameref {name} makes it refer to {target}: assigning {name} changes how later " \
                           "commands run"
        return None

    def hash_var(self, base: str, key: str | None, value: Word, cmd: _Cmd, ctx: _Ctx) -> None:
        """`BASH_CMDS[name]=path` is `hash -p path name`; `BASH_ALIASES[name]=text` is `alias
        name=text`. A key that is not literal (or a whole-array assignment) could be any name."""
        self.mutates = True
        if key is None:
            self.line_reason("shell-state", f"assigning {base} with a name that is not literal can make any later "
                                            "command run something else", HIGH)
            return
        if base == "BASH_CMDS":
            self.hashed[key] = program_name(value.value) if value.literal else None
            self.line_reason("shell-state", f"BASH_CMDS[{key}] makes {key!r} run {value.value[:60]!r}", None)
        else:
            self.line_reason("shell-state", f"BASH_ALIASES[{key}] defines an alias for {key!r}", None)
            self.aliases[key] = value.value if value.literal else None
            self.nested_line(Word(value.value, value.literal), "an alias value is a command line", cmd, ctx)

    def subscript(self, node: Node, ctx: _Ctx) -> None:
        self.expr(node, ctx, arith=False)  # the index is arithmetic (for an indexed array)

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
        if writes and text is not None and tables.harmless_target(text) and self.harmless_write(text):
            writes = False
        cmd.redirects.append(Redirect(op, fd, text, writes))
        if text is None:
            cmd.ineligible.append("a redirection target that is not literal")
            if writes:
                cmd.reasons.append(_reason("redirect-write", f"{op} writes to a target that is not literal", MEDIUM))
        elif writes:
            if tables.system_path(text):
                cmd.reasons.append(_reason("redirect-system", f"{op} {text} overwrites a system file or device",
                                           HIGH))
            cmd.reasons.append(_reason("redirect-write", f"{op} {text} writes a file", MEDIUM))
            cmd.ineligible.append(f"writes {text}")
        if text is not None and tables.NETWORK_TARGET.match(text):
            cmd.reasons.append(_reason("redirect-network", f"{op} {text} opens a network connection", MEDIUM))
            cmd.ineligible.append("opens a network connection")

    def harmless_write(self, target: str) -> bool:
        """Whether opening `target` (a name `tables.harmless_target` accepts) for writing writes no
        file. `/dev/fd/N`, `/dev/stdout` ... open again the file behind that descriptor, writable
        even when the line opened it read-only (`echo x 3<victim >/dev/fd/3` overwrites victim):
        harmless only for fd 1 and 2 while nothing on the line points them elsewhere."""
        fd = tables.reopened_fd(target)
        if fd is None:
            return True
        if fd not in (1, 2):
            return False
        return not (_STD_RETARGETED.search(self.src.decode("utf-8", "replace"))
                    or _STD_RETARGETED.search(self.top_src.decode("utf-8", "replace")))

    def heredoc(self, node: Node, cmd: _Cmd, ctx: _Ctx) -> None:
        quoted = False
        dash = False
        start: Node | None = None
        body: Node | None = None
        end: Node | None = None
        for child in node.children:
            ct = child.type
            if not child.is_named:
                if ct not in ("<<", "<<-", "&&", "||", ";", "|", "|&", "&"):
                    self.bad_node(child)
                dash = dash or ct == "<<-"
                continue
            if ct == "heredoc_start":
                start = child
                quoted = any(c in _text(self.src, child) for c in "'\"\\")
            elif ct == "heredoc_body":
                body = child
            elif ct == "heredoc_end":
                end = child
            elif ct in _STATEMENTS:
                # tree-sitter hoists what follows the here-doc operator on the same line into it.
                self.stmt(child, ctx)
            elif ct in _REDIRECT_KINDS:
                self.redirect(child, cmd, ctx)
            else:
                self.bad_node(child)
        if start is not None:
            self.heredoc_extent(start, body, end, dash)
        if body is not None:
            text = _text(self.src, body)
            if "[" in text:
                self.note_text(text)  # `read x <<'EOF'` puts the body in a variable
            if not quoted:
                self.heredoc_body(text, cmd, ctx)
        cmd.redirects.append(Redirect("<<", 0, None, False))

    def heredoc_extent(self, start: Node, body: Node | None, end: Node | None, dash: bool) -> None:
        """Fail closed unless bash ends the body where tree-sitter does. bash looks for the line
        equal to the delimiter after quote removal (`$'EOF'`, `"E"OF` and `E\\OF` all mean EOF;
        `$x` is not expanded); tree-sitter matches some spellings literally, and then reads the
        lines bash runs as commands as part of the body."""
        delim = _heredoc_delimiter(_text(self.src, start))
        first = body if body is not None else end
        if first is None:
            return
        src = self.src
        begin = src.rfind(b"\n", 0, first.start_byte) + 1
        has_end = end is not None and end.end_byte > end.start_byte
        stop = src.rfind(b"\n", 0, end.start_byte) + 1 if end is not None and has_end else first.end_byte
        lines = src[begin:max(begin, stop)].decode("utf-8", "surrogateescape").split("\n")
        if has_end:
            lines.pop()  # what follows the last newline: the start of the end line
        ends_early = any((line.lstrip("\t") if dash else line) == delim for line in lines)
        ends_late = False
        if end is not None and has_end:
            last = src[stop:end.end_byte].decode("utf-8", "surrogateescape")
            ends_late = (last.lstrip("\t") if dash else last) != delim
        if ends_early or ends_late:
            self.fail("parser-differential", f"bash ends this here-document at another line than the parser "
                                             f"(delimiter {delim[:40]!r})")

    def heredoc_body(self, body: str, cmd: _Cmd, ctx: _Ctx) -> None:
        """An unquoted here-document body expands `$(...)`, backticks, `${...}` and arithmetic, and
        nothing else: `"` and `'` are plain characters outside them. Each of those substitutions
        is found by a scan of the body and parsed on its own; tree-sitter must agree on where
        each one ends, or the line fails closed."""
        if "$" not in body and "`" not in body:
            return
        regions = _heredoc_regions(body)
        if regions is None:
            self.fail("parse-error", "a here-document body that could not be analysed (unterminated substitution)")
            return
        # ${NAME}, ${NAME:-text}: nothing to run, nothing evaluated (config files hold many of them)
        parts = [body[a:b] for a, b in regions if not _PLAIN_PARAMETER.fullmatch(body, a, b)]
        if len(parts) > MAX_HEREDOC_SUBSTITUTIONS:
            self.fail("too-large", f"a here-document with more than {MAX_HEREDOC_SUBSTITUTIONS} substitutions")
            return
        subst = False
        for region in parts:
            # In a body, as in "...", single quotes in a ${x:-...} operand are literal.
            subst = self.reparse_words(region, ctx, whole=True, what="a substitution in a here-document",
                                       dquote=region.startswith("${")) or subst
        if subst:
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
            if "[" in value:
                self.note_text(value)
            return Word(value, literal, why, subst)
        finally:
            self.depth -= 1

    def pieces(self, node: Node, ctx: _Ctx, out: list[words.Piece]) -> bool:
        """Append the pieces of a word node; True when a substitution ran."""
        t = node.type
        if t == "word" or t == "number" or t == "variable_name" or t == "test_operator" or t == "regex":
            text = _text(self.src, node)
            if self.in_expansion and (t == "word" or t == "regex") and _OPERAND_CODE.search(text):
                out.append(words.Piece(text, "", False))
                return self.operand(text, ctx)
            out.append(words.unquoted_piece(text))
            return False
        if t == "raw_string":
            text = _text(self.src, node)
            if self.in_expansion and self.in_dquote and _OPERAND_CODE.search(text):
                out.append(words.Piece(text, "", False))
                return self.operand(text, ctx)
            out.append(words.squoted_piece(text))
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
            saved_dq = self.in_dquote
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
                    self.in_dquote = True  # (an exception abandons the whole walk: no finally needed)
                    subst = self.pieces(child, ctx, out) or subst
                    self.in_dquote = saved_dq
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
            subst = self.expansion(node, ctx) if t == "expansion" else self.expr_children(node, ctx, arith=False)
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
        saved = (self.cwd, self.cd_pending, self.in_dquote, self.in_expansion)
        inner = ctx.nested("substitution", f"runs inside a {kind}")
        # Directly inside "...", a backtick body also unescapes \" (not inside a ${ } operand).
        dquoted = self.in_dquote and not self.in_expansion
        self.in_dquote = False
        self.in_expansion = 0
        try:
            kids = node.children
            if kids and kids[0].type == "`":
                text = _text(self.src, node)
                body = text[1:-1] if len(text) >= 2 and text.endswith("`") else text[1:]
                if "\\" in body:
                    # bash removes one level of backslashes (\$ \` \\) and parses the body again:
                    # `echo \`rm x\`` inside backticks is a nested substitution, not a word.
                    self.walk_text(_unescape_backticks(body, dquoted), inner, "a backtick substitution")
                    return
            self.seq(node, inner)
        finally:
            self.cwd, self.cd_pending, self.in_dquote, self.in_expansion = saved

    def walk_text(self, text: str, ctx: _Ctx, what: str) -> None:
        """Parse `text` as command lines and walk them in `ctx` (functions they define stay inside)."""
        if self.nest >= MAX_NESTED_PARSES:
            self.fail("too-deep", "command strings nested too deeply")
            return
        joined = words.join_continuations(text)
        bad = _first_suspicious(joined)
        if bad is not None:
            self.fail("control-char", f"{what} holds the invisible or control character {bad!r}")
        root, src = self.parse(joined)
        self.check_lexing(root, src, what)
        self.nest += 1
        saved = (self.cwd, self.cd_pending, set(self.functions))
        saved_src, self.src = self.src, src
        try:
            if root.has_error:
                self.fail("parse-error", f"{what} does not parse: {joined[:80]!r}")
            self.seq(root, ctx)
        finally:
            self.nest -= 1
            self.cwd, self.cd_pending, self.functions = saved
            self.src = saved_src

    def operand(self, text: str, ctx: _Ctx) -> bool:
        """A `${x:-...}` / `${x#...}` operand that tree-sitter left as a plain leaf although it holds
        a substitution (backticks, `<(`, or `$(` in a pattern): bash expands it, so parse it as words.
        In "..." single quotes in the operand are literal: they are dropped rather than trusted."""
        if self.in_dquote and "'" in text:
            text = text.replace("'", "_")
        return self.reparse_words(text, ctx, whole=False, what="a ${...} operand")

    def reparse_words(self, text: str, ctx: _Ctx, *, whole: bool, what: str, dquote: bool = False) -> bool:
        """Parse `text` as the arguments of one command and walk them as words; True when a
        substitution ran. `whole`: the text must be exactly one word. Anything else (several
        commands, a redirection, a comment, a parse error) fails the line closed."""
        if self.nest >= MAX_NESTED_PARSES:
            self.fail("too-deep", "substitutions nested too deeply")
            return False
        root, src = self.parse(": " + text)
        self.check_lexing(root, src, what)
        args: list[Node] = []
        ok = not root.has_error and root.named_child_count == 1
        cmd = root.named_children[0] if ok else None
        if cmd is not None and cmd.type == "command":
            for k in cmd.children[1:]:
                if k.type in _WORD_KINDS:
                    args.append(k)
                else:
                    ok = False
        else:
            ok = False
        if ok and whole:
            ok = len(args) == 1 and args[0].start_byte == 2 and args[0].end_byte == len(src)
        if not ok:
            self.fail("parse-error", f"{what} that could not be analysed: {text[:60]!r}")
            return False
        self.nest += 1
        saved = (self.src, self.in_dquote, self.in_expansion)
        self.src, self.in_dquote, self.in_expansion = src, dquote, 0
        subst = False
        try:
            for a in args:
                subst = self.word(a, ctx).subst or subst
        finally:
            self.nest -= 1
            self.src, self.in_dquote, self.in_expansion = saved
        return subst

    def expansion(self, node: Node, ctx: _Ctx, *, arith: bool = False) -> bool:
        """`${...}`: walk its parts; operands may hide substitutions tree-sitter did not parse. The
        parts after `:` (substring offsets) are arithmetic; `${!x}` evaluates x's value as a name;
        `${x:=v}` assigns x."""
        subst = False
        kids = node.children
        op = ""
        param = ""
        indirect = False
        self.in_expansion += 1
        try:
            for i, child in enumerate(kids):
                if not child.is_named:
                    if child.is_missing:
                        self.bad_node(child)
                    elif child.type == "!" and i == 1:
                        indirect = True
                    elif child.type not in ("${", "}"):
                        op = child.type
                    continue
                ct = child.type
                if not op and not param and ct in ("variable_name", "subscript"):
                    param = _text(self.src, child)
                    if indirect and ct == "variable_name":
                        nxt = kids[i + 1].type if i + 1 < len(kids) else ""
                        if nxt not in ("*", "@"):
                            self.names().arith.add(param)  # ${!x}: x's value is a name, subscripts evaluated
                    elif indirect:
                        self.arith_exp = True
                subst = self.expr(child, ctx, arith=arith or op == ":") or subst
            if op in (":=", "=") and param:
                start = next((k.end_byte for k in kids if not k.is_named and k.type == op), node.end_byte)
                value = self.src[start:node.end_byte - 1].decode("utf-8", "surrogateescape")
                self.set_var(param, "$" not in value and "`" not in value, "${...:=...} assigns",
                             arith_value=value)
        finally:
            self.in_expansion -= 1
        return subst

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
                if arith:
                    self.arith_exp = True  # its output is evaluated as arithmetic
                self.substitution(node, ctx)
                return True
            if t in ("string", "raw_string", "word", "concatenation", "ansi_c_string"):
                text = _text(self.src, node)
                if arith:
                    if _CODE_IN_TEXT.search(text):
                        self.line_reason("arith-code", f"text evaluated as arithmetic can run code: {text[:60]!r}",
                                         HIGH)
                    if t == "word":  # `[[ x -eq 1 ]]`, `a[x]`: bare names evaluated as arithmetic
                        self.names().arith.update(_IDENT_ANY.findall(text))
                    w = self.word(node, ctx)
                    if not w.literal:  # "$x": the expanded value is evaluated
                        self.arith_exp = True
                        self.line_reason("arith-expansion", "arithmetic evaluation of an expanded value can run "
                                                            "code (array subscripts)", MEDIUM)
                    return w.subst
                return self.word(node, ctx).subst
            if t == "variable_name":
                if arith:
                    self.names().arith.add(_text(self.src, node))
                return False
            if t == "regex" and self.in_expansion:
                text = _text(self.src, node)
                return self.operand(text, ctx) if _OPERAND_CODE.search(text) else False
            if t == "expansion" and _PROMPT_EXPANSION.search(_text(self.src, node)):
                self.line_reason("prompt-expansion", "${var@P} expands the value as a prompt, running the "
                                                     "substitutions inside it", HIGH)
            if t == "unary_expression" and not arith:
                op = next((k for k in node.children if k.type == "test_operator"), None)
                if op is not None and _text(self.src, op) in ("-v", "-R"):
                    return self.expr_children(node, ctx, arith=True)
            if t in ("simple_expansion", "expansion") and arith:
                self.arith_exp = True
                self.line_reason("arith-expansion",
                                 "arithmetic evaluation of an expanded value can run code (array subscripts)",
                                 MEDIUM)
            if t == "expansion":
                return self.expansion(node, ctx, arith=arith)
            if t == "binary_expression" and arith:
                op = node.child_by_field_name("operator")
                left = node.child_by_field_name("left")
                if op is not None and op.type in _ARITH_ASSIGN and left is not None:
                    self.set_var(_text(self.src, left), True, "arithmetic assigning")
            if t == "binary_expression" and not arith:
                kids = node.children
                op = next((k for k in kids if k.type == "test_operator"), None)
                if op is not None and _text(self.src, op) in _ARITH_TEST_OPS and not self.single_test:
                    return self.expr_children(node, ctx, arith=True)
            if t == "arithmetic_expansion" or (t == "compound_statement"):
                return self.expr_children(node, ctx, arith=True)
            if t == "subscript":
                subst = False
                named = False
                for child in node.children:
                    if not child.is_named:
                        continue
                    if not named and child.type == "variable_name":
                        named = True  # the array's name; what follows is the (arithmetic) index
                        if arith:
                            self.names().arith.add(_text(self.src, child))
                        continue
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
        if self.aliases and head.value in self.aliases and head.value not in self.expanding:
            # Walked as bash may read it (the alias text, then the words); a quoted name is not
            # expanded, so the command as written is judged too.
            self.alias_call(argv, head.value, cmd, ctx)
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
        if ctx.origin != "wrapper":
            # Inside a function body any name may be a function the line defines later.
            if self.defining:
                caller, base = self.defining[-1]
                self.calls.append((caller, name, self.spawn_depth > base))
            elif name in self.functions:
                self.calls.append((None, name, False))
        if name in self.functions and ctx.origin != "wrapper":
            if name in self.fn_spawns:
                self.backgrounds += 1  # its body starts background jobs
            d = self.emit(argv, name, [name], argv[1:], LOW,
                          [_reason("function-call", f"calls shell function {name!r} defined in this line")],
                          ctx.nested("function", f"calls shell function {name!r}"), cmd)
            d.ineligible.append(f"{name!r} is a shell function defined in this line")
            fr = self.function_redirects.get(name)
            if fr is not None:
                d.redirects.extend(fr.redirects)
                d.reasons.extend(fr.reasons)
                d.ineligible.extend(fr.ineligible)
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
        longs = _wrapper_longs(name, w)
        # env -S/--split-string splits its value into a command (read here as a shell line).
        shell_like = w.shell_opts | _ENV_SPLIT if name == "env" else w.shell_opts
        while i < n:
            word = argv[i]
            if not word.literal:
                break
            v = word.value
            if v == "--":
                i += 1
                # GNU env still applies NAME=VALUE operands after `--`: the program is the first
                # operand without `=`.
                while name == "env" and i < n and argv[i].literal and _ASSIGN_WORD.match(argv[i].value):
                    var = argv[i].value.split("=", 1)[0].split("[", 1)[0].rstrip("+")
                    env_names.append(var)
                    if tables.behaviour_var(var):
                        reasons.append(_reason("env-prefix", f"{var}= changes what the program runs or reads",
                                               MEDIUM))
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
            if name == "nice" and v[1:].lstrip("-").isdigit():
                i += 1
                continue
            if v.startswith("--"):
                # GNU getopt_long takes any unambiguous prefix of a long option (`--sig` is --signal).
                opt, eq, attached = v.partition("=")
                opt = resolve_long(opt, longs)
                if opt in w.no_exec_opts:
                    no_exec = True
                    break
                if opt in shell_like:
                    shell_string = Word(attached, True) if eq else (argv[i + 1] if i + 1 < n else None)
                    break
                i += 2 if opt in w.value_opts and not eq else 1
                continue
            # A short-option cluster (-iu root, -n5, -vS'cmd'): the first option taking a value ends it.
            step = 1
            for pos in range(1, len(v)):
                flag = "-" + v[pos]
                if flag in w.no_exec_opts:
                    no_exec = True
                    break
                if flag in shell_like:
                    rest_text = v[pos + 1:]
                    shell_string = Word(rest_text, True) if rest_text else (argv[i + 1] if i + 1 < n else None)
                    break
                if flag in w.optional_value_opts:
                    break  # the rest of the cluster, if any, is its value; never the next word
                if flag in w.value_opts:
                    step = 1 if pos + 1 < len(v) else 2
                    break
            if no_exec or shell_string is not None:
                break
            i += step
        if w.opens_positional and shell_string is None and not no_exec and i < n:
            self.lock_file(name, argv[i], i + 1 < n, reasons, ineligible)
        if shell_string is None and w.shell_opts:
            for j in range(i, n):
                if argv[j].literal and argv[j].value in w.shell_opts:
                    shell_string = argv[j + 1] if j + 1 < n else Word("", True)
                    break
        if no_exec and _no_exec_sets(w, argv, longs):
            reasons.append(_reason("wrapper", f"{name} sets the scheduling of a running process", MEDIUM))
            ineligible.append(f"{name} changes another process")
        inner_start = i
        skip = 0
        while shell_string is None and not no_exec and skip < w.positional and inner_start < n:
            inner_start += 1
            skip += 1
        own = argv[:inner_start]
        rest = argv[inner_start:]
        if name == "xargs":
            replace = _xargs_replace(own[1:], longs)
            if replace:
                # Words holding the replace string are built from the input: not literal.
                rest = [Word(x.value, False, f"xargs replaces {replace!r} with its input", x.subst)
                        if replace in x.value else x for x in rest]
        elif name == "parallel":
            rest = [Word(x.value, False, "parallel replaces {...} with its input", x.subst)
                    if _PARALLEL_REPLACE.search(x.value) else x for x in rest]
        if name == "xargs" and not rest and not no_exec:
            rest = [Word("echo", True)]
            reasons.append(_reason("wrapper", "xargs runs echo when no program is given"))
        if env_names:
            ineligible.append("runs with a changed environment")
        if w.flags:
            _wrapper_flags(w, own, longs, reasons, ineligible)
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

    def lock_file(self, name: str, lock: Word, runs: bool, reasons: list[Reason], ineligible: list[str]) -> None:
        """flock FILE COMMAND opens FILE, creating it when missing (a lone number is a descriptor)."""
        if not lock.literal:
            reasons.append(_reason("wrapper", f"{name} opens a lock file whose name is not literal", MEDIUM))
            ineligible.append(f"{name} opens a lock file whose name is not literal")
        elif runs and not (tables.harmless_target(lock.value) and self.harmless_write(lock.value)):
            reasons.append(_reason("wrapper", f"{name} creates its lock file {lock.value}", MEDIUM))
            ineligible.append(f"{name} creates {lock.value}")

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
        self.check_lexing(root, src, "the nested command line")
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
            if (v.startswith("-") and not v.startswith("--") and "k" in v[1:]) or (
                    v == "-o" and i + 1 < n and argv[i + 1].value == "keyword"):
                reasons.append(_reason("set-keyword", f"{name} -k makes NAME=value words after a command name "
                                                      "environment assignments, which this analysis does not follow",
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
                self.mutates = True
                self.nested_line(w, "an alias value is a command line", cmd, ctx)
            elif "=" in w.value and not w.value.startswith("-"):
                self.mutates = True
                alias_name, _, value = w.value.partition("=")
                self.aliases[alias_name] = value
                self.nested_line(Word(value, True), "an alias value is a command line", cmd, ctx)

    def alias_call(self, argv: list[Word], name: str, cmd: _Cmd, ctx: _Ctx) -> None:
        """A command named like an alias defined on the line: bash reads the alias text followed by
        the rest of the command (`alias echo=eval; echo touch x` runs `eval touch x`)."""
        value = self.aliases[name]
        why = f"{name} is an alias defined on this line"
        if value is None:
            self.emit(argv, name, [name], argv[1:], HIGH,
                      [_reason("non-literal-code", f"{why}, whose text is not literal", HIGH)], ctx, cmd)
            return
        parts = [value]
        for w in argv[1:]:
            parts.append(shlex.quote(w.value) if w.literal else w.value)
        self.expanding.add(name)
        try:
            self.nested_line(Word(" ".join(parts), True), f"{why} (read as {value[:60]!r})", cmd, ctx)
        finally:
            self.expanding.discard(name)

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
            if args and args[0].value.startswith("-") and args[0].literal:
                starts, unknown_opt = self.global_options(entry, name, args, reasons, ineligible)
            else:
                starts, unknown_opt = _START_0, ""  # the subcommand comes first (most lines)
            best = _subcommand(entry, name, args, starts[0], risk, index)
            for j in starts[1:]:  # the riskiest reading wins; at equal risk, a known subcommand
                cand = _subcommand(entry, name, args, j, risk, index)
                if (max(cand[0], MEDIUM), cand[1]) > (max(best[0], MEDIUM), best[1]):
                    best = cand
            risk, _, key, rest_start, sub_reason, index, style, hidden = best
            if hidden:
                ineligible.append(hidden)
            if len(key) == 1 and rest_start < len(args) and not args[rest_start].literal:
                ineligible.append("the subcommand is not literal")
            if unknown_opt:
                # The option may take the next word as its value: the subcommand is not known.
                if risk < MEDIUM:
                    risk = MEDIUM
                reasons.append(_reason("unknown-option", f"{name} {unknown_opt}: an option vsh does not know "
                                                         "before the subcommand (it may take a value)", MEDIUM))
                ineligible.append(f"an unknown option {unknown_opt} before the subcommand")
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
            operands_only = False
            for w in rest:
                if not w.literal:
                    continue
                if operands_only:
                    fl = index.match_operand(w.value)
                elif w.value == "--":
                    if not index.operands:
                        break
                    operands_only = True  # `git branch -- NAME` still creates NAME
                    continue
                else:
                    fl = index.match(w.value, style)
                if fl is not None:
                    # A list mode (`git branch --merged main`) makes a ref-name operand a filter.
                    if fl.unless and fl.cancelled_by([x.value for x in rest if x.literal]):
                        continue
                    reasons.append(_reason("flag", f"{w.value}: {fl.reason}", fl.risk))
                    if fl.ineligible:
                        ineligible.append(f"{w.value}: {fl.reason}")
        if entry.globals_anywhere:
            self.late_globals(entry, rest, reasons, ineligible)
        if entry.check is not None:
            for check_risk, text in CHECKS[entry.check](self, rest, key):
                reasons.append(_reason("argument", text, check_risk))
                if (check_risk is HIGH and entry.check in _CODE_CHECKS) or (
                        check_risk is not None and entry.check in _SCRIPT_CHECKS):
                    ineligible.append(text)
        if entry.subs is not None:
            # Subcommands talk to registries, daemons and clusters the line may choose (`npm view
            # --registry=URL "$(cat key)"`): an expanded argument may carry data out or be a
            # dangerous option. (Global option values are judged by global_options.)
            if not _all_literal(rest):
                reasons.append(_reason("non-literal-argument", f"an argument of {name} is not literal: it could be a "
                                                               "dangerous option or data sent to a host", MEDIUM))
        elif (has_flags or entry.check) and not _all_literal(rest):
            reasons.append(_reason("non-literal-argument",
                                  f"an argument of {name} is not literal and could be a dangerous option", MEDIUM))
        self.emit(argv, name, key, rest, risk, reasons, ctx, cmd, ineligible)
        follow = _FOLLOW_UPS.get(name)
        if follow is not None:
            follow(self, name, rest, cmd, ctx)
        changes = tables.STATE_CHANGERS.get(name)
        if changes is not None and _changes_state(changes, rest):
            self.mutates = True
            self.line_reason("shell-state", f"{name} changes how later commands run", None)

    def late_globals(self, entry: Program, rest: Sequence[Word], reasons: list[Reason], ineligible: list[str]) -> None:
        """Global options given after the subcommand, for programs that accept them anywhere
        (`kubectl get pods --kubeconfig ./k`, `pip list --log out`)."""
        index = entry.anywhere_index
        for w in rest:
            if not w.literal:
                continue
            v = w.value
            if v == "--":
                break
            if not v.startswith("--"):
                continue
            fl = index.match(v, "gnu")
            if fl is not None:
                r = _reason("global-option", f"{v.split('=', 1)[0]}: {fl.reason}", fl.risk if fl.risk > LOW else None)
                if r not in reasons:
                    reasons.append(r)
                if fl.ineligible:
                    ineligible.append(f"{v.split('=', 1)[0]}: {fl.reason}")

    def var_builtin(self, name: str, args: Sequence[Word], _cmd: _Cmd, _ctx: _Ctx) -> None:
        """read/mapfile/printf -v/getopts/wait -p assign the variables they name, with values the
        line does not know: record them as assignments are (see set_var)."""
        value_opts, name_opts, first, default = _VAR_BUILTINS[name]
        names: list[Word] = []
        positional: list[Word] = []
        i = 0
        n = len(args)
        while i < n:
            a = args[i]
            v = a.value
            if not a.literal:
                positional.extend(args[i:])
                break
            if v == "--":
                positional.extend(args[i + 1:])
                break
            if not v.startswith("-") or v == "-":
                positional.extend(args[i:])  # options end at the first operand
                break
            for pos in range(1, len(v)):
                c = v[pos]
                if c in value_opts or c in name_opts:
                    attached = v[pos + 1:]
                    value = Word(attached, True) if attached else (args[i + 1] if i + 1 < n else None)
                    if not attached:
                        i += 1
                    if c in name_opts and value is not None:
                        names.append(value)
                    break
            i += 1
        if first >= 0:
            names.extend(positional[first:] if name in ("read", "mapfile", "readarray") else positional[first:first + 1])
        if not names and default:
            names.append(Word(default, True))
        for w in names:
            if "[" in w.value and _CODE_IN_TEXT.search(w.value):
                # The subscript of the name is evaluated on assignment (`wait -p 'x[$(cmd)]'`). The
                # builtin's action was emitted just before this follow-up; the text is the one
                # `_check_varnames` gives, so a name found by both is one reason.
                d = self.actions[-1]
                r = _reason("argument", _subscript_code_text(name, w.value), HIGH)
                if r not in d.reasons:
                    d.reasons.append(r)
                    d.ineligible.append(r.text)
            if w.literal:
                self.set_var(w.value, False, f"{name} into")
            else:
                self.mutates = True
                self.arith_exp = True  # the expanded name's subscript is evaluated
                self.line_reason("shell-state", f"{name} assigns a variable whose name is not literal", MEDIUM)

    def set_options(self, _name: str, args: Sequence[Word], _cmd: _Cmd, _ctx: _Ctx) -> None:
        """`set -k` (`-o keyword`) makes NAME=value words anywhere on a later command line
        environment assignments (`bash -c : BASH_ENV=x` then sources x): not modelled, so later
        lines of this one are not judged as bash runs them."""
        self.history_options(args, shopt=False)
        for i, a in enumerate(args):
            v = a.value
            if not a.literal:
                if i == 0 or not (args[i - 1].literal and args[i - 1].value == "--"):
                    self.line_reason("shell-state", "set with an option that is not literal", MEDIUM)
                return
            if v == "--" or not v.startswith(("-", "+")):
                return
            keyword = v.startswith("-") and not v.startswith("--") and "k" in v[1:]
            if v in ("-o", "+o") or (len(v) > 1 and v[-1] == "o" and not v.startswith("--")):
                nxt = args[i + 1] if i + 1 < len(args) else None
                keyword = keyword or (nxt is not None and (not nxt.literal or nxt.value == "keyword")
                                      and v.startswith("-"))
            if keyword:
                self.mutates = True
                self.line_reason("set-keyword", "set -k makes NAME=value words after a command name environment "
                                                "assignments, which this analysis does not follow", MEDIUM)
                return

    def history_options(self, args: Sequence[Word], *, shopt: bool) -> None:
        """Record `set -o history`, `set -H` / `-o histexpand` (and `shopt -so ...`, `shopt -s
        expand_aliases`): they make bash run text again (fc, `!!`) or read alias text as code."""
        on = not shopt  # shopt without -s only reports
        named_o = False  # shopt -o: the operands are `set -o` names
        i = 0
        n = len(args)
        while i < n:
            a = args[i]
            v = a.value
            i += 1
            if not a.literal:
                return
            if v == "--":
                if shopt:
                    self.history_names([x.value for x in args[i:] if x.literal], on, not named_o)
                return  # set: positional parameters follow
            if len(v) > 1 and v[0] in "-+" and v[1] != "-":
                if shopt:
                    on = on or "s" in v[1:]
                    named_o = named_o or "o" in v[1:]
                elif v[0] == "-":
                    if "H" in v[1:]:
                        self.histexpand = self.mutates = True
                    if v[-1] == "o" and i < n:
                        self.history_names([args[i].value], True, False)
                        i += 1
                elif v[-1] == "o":
                    i += 1
                continue
            if not shopt:
                return  # set: positional parameters from here
            self.history_names([v], on, not named_o)

    def history_names(self, names: Sequence[str], on: bool, shopt_name: bool) -> None:
        if not on:
            return
        for v in names:
            if shopt_name:
                if v == "expand_aliases":
                    self.expand_aliases = True
            elif v == "history":
                self.history = self.mutates = True
            elif v == "histexpand":
                self.histexpand = self.mutates = True

    def shopt_options(self, _name: str, args: Sequence[Word], _cmd: _Cmd, _ctx: _Ctx) -> None:
        self.history_options(args, shopt=True)

    def global_options(self, entry: Program, name: str, args: Sequence[Word], reasons: list[Reason],
                       ineligible: list[str]) -> tuple[list[int], str]:
        """Skip the global options before a subcommand (`git -C dir push`). Returns every index
        where the subcommand may start, and the first option not in the table ('' if none): an
        unknown option may or may not take the next word as its value, so both readings are kept
        (linear: each index is looked at once)."""
        n = len(args)
        reach = [False] * (n + 1)
        reach[0] = True
        starts: list[int] = []
        unknown = ""
        for j in range(n + 1):
            if not reach[j]:
                continue
            wd = args[j] if j < n else None
            v = wd.value if wd is not None else ""
            if wd is None or not wd.literal or not v.startswith("-") or v == "-":
                starts.append(j)
                continue
            opt_name = v.split("=", 1)[0]
            g = entry.global_opts.get(opt_name)
            attached = "=" in v
            if g is None and not v.startswith("--") and len(v) > 2:
                g = entry.global_opts.get(v[:2])  # attached value: -Cdir
                attached = True
                if g is not None and not g.value:
                    # a cluster of flags (-qq, -qv): known when every one is a flag without a value
                    flags = [entry.global_opts.get("-" + c) for c in v[1:]]
                    g = g if all(f is not None and not f.value for f in flags) else None
            if g is None:
                unknown = unknown or opt_name
                reach[j + 1] = True
                if "=" not in v:  # it may take the next word (so may a short cluster's last option)
                    reach[min(j + 2, n)] = True
                continue
            if g.reason:
                r = _reason("global-option", f"{opt_name}: {g.reason}", g.risk)
                if r not in reasons:
                    reasons.append(r)
            if g.ineligible:
                ineligible.append(f"{name} {opt_name} changes what the command does")
            attached = attached or (not v.startswith("--") and len(v) > 2)
            if g.net and g.value and not attached and j + 1 < n and not args[j + 1].literal:
                r = _reason("non-literal-argument", f"{opt_name} names a server with a value that is not literal "
                                                    "(a way out for data)", MEDIUM)
                if r not in reasons:
                    reasons.append(r)
            reach[min(j + (2 if g.value and not attached else 1), n)] = True
        return starts, unknown

    def hash_p(self, _name: str, args: Sequence[Word], _cmd: _Cmd, _ctx: _Ctx) -> None:
        """Record `hash -p PATH NAME...`: later calls of NAME run PATH (unknown PATH: `?`, high)."""
        for i, w in enumerate(args):
            if w.literal and w.value == "-p" and i + 1 < len(args):
                target = program_name(args[i + 1].value) if args[i + 1].literal else None
                for name in args[i + 2:]:
                    if name.literal and not name.value.startswith("-"):
                        self.hashed[name.value] = target
                return

    def script_commands(self, name: str, args: Sequence[Word], cmd: _Cmd, ctx: _Ctx) -> None:
        """Walk the literal command lines a sed (`e`) or awk (system(), pipes) script runs."""
        values = tuple((a.value, a.literal) for a in args)
        scan = sed_scan(values) if name == "sed" else awk_scan(values, name)
        for text in scan[1]:
            self.nested_line(Word(text, True), f"the {name} script runs a command line with sh -c", cmd, ctx)

    def find_exec(self, _name: str, args: Sequence[Word], cmd: _Cmd, ctx: _Ctx) -> None:
        i = 0
        n = len(args)
        while i < n:
            w = args[i]
            if w.literal and w.value in ("-exec", "-execdir", "-ok", "-okdir"):
                j = i + 1
                while j < n and not (args[j].literal and args[j].value in (";", "+")):
                    j += 1
                # find puts each file name where `{}` is: such a word is not literal (`sh -c {}`).
                inner = [Word(x.value, False, "find replaces {} with a file name", x.subst) if "{}" in x.value
                         else x for x in args[i + 1 : j]]
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


def _subcommand(entry: Program, name: str, args: Sequence[Word], j: int, risk: Risk, index: tables.FlagIndex,
                ) -> tuple[Risk, bool, list[str], int, str, tables.FlagIndex, str, str]:
    """The subcommand starting at args[j]: (risk, whether the table knows it, key, index of the
    first word after it, reason, flag index, flag style, why rules must not match it ('' if
    they may))."""
    key = [name]
    style = entry.style
    arity = tables.ARITY.get(name, 2)
    k = j
    while len(key) < arity and k < len(args) and args[k].literal and not args[k].value.startswith("-"):
        key.append(args[k].value)
        k += 1
        arity = tables.ARITY.get(" ".join(key), arity)
    sub = _lookup_sub(entry, key[1:])
    if len(key) == 1 and k < len(args) and not args[k].literal:
        sub = Sub(MEDIUM, "subcommand is not literal")
    sub_reason = ""
    if sub is not None:
        risk = sub.risk
        sub_reason = f"{' '.join(key)}: {sub.reason}"
        index = sub.flag_index
        style = "gnu"
    sub_args = _SUB_ARGS.get(" ".join(key[:2]))
    hidden = ""
    if sub_args:
        # The sub-argument is the word right after the subcommand (`git stash -- list` is `git
        # stash push -- list`). A later word may still raise the risk (`git remote -v add`).
        if len(key) > 2:
            first: Word | None = Word(key[2], True)
        elif k < len(args) and args[k].literal and not args[k].value.startswith("-"):
            first = args[k]
        else:
            first = next((w for w in args[k:] if w.literal and not w.value.startswith("-")), None)
            if first is not None and first.value in sub_args and sub_args[first.value][0] <= risk:
                # `git stash -- list` pushes a stash of the file list: not what a rule naming the
                # subcommand's words expects.
                hidden = f"{' '.join(key[:2])} {first.value!r} after an option or `--` is not that subcommand"
                first = None
        if first is not None and first.value in sub_args:
            risk, text = sub_args[first.value]
            sub_reason = f"{' '.join(key[:2])} {first.value}: {text}"
    known = sub is not None and sub is not entry.unknown_sub and sub is not entry.no_sub
    return risk, known, key, k, sub_reason, index, style, hidden


def _lookup_sub(entry: Program, sub_words: list[str]) -> Sub | None:
    subs = entry.subs or {}
    for k in range(len(sub_words), 0, -1):
        hit = subs.get(" ".join(sub_words[:k]))
        if hit is not None:
            return hit
    if not sub_words:
        return entry.no_sub
    return entry.unknown_sub


_PARALLEL_REPLACE = re.compile(r"\{[^{}\s]*\}")  # {}, {.}, {/}, {#}, {1} ...
_START_0 = [0]  # read-only: global_options() when the subcommand comes first
_ENV_SPLIT = frozenset({"-S", "--split-string"})
_LONGS: dict[str, tuple[str, ...]] = {}


def _wrapper_longs(name: str, w: tables.Wrapper) -> tuple[str, ...]:
    """The long options the WRAPPERS row knows for `name` (what abbreviations resolve against)."""
    longs = _LONGS.get(name)
    if longs is None:
        every = w.value_opts | w.optional_value_opts | w.shell_opts | w.no_exec_opts
        if name == "env":
            every = every | _ENV_SPLIT
        longs = _LONGS[name] = tuple(sorted(o for o in every if o.startswith("--")))
    return longs


def _wrapper_flags(w: tables.Wrapper, own: Sequence[Word], longs: tuple[str, ...], reasons: list[Reason],
                   ineligible: list[str]) -> None:
    """Add the reasons of the wrapper's own options in `own` (its name, options and positionals,
    before the wrapped program) that `w.flags` lists (GNU `time -o FILE`). Option values are
    skipped: `time -f -o ls` formats with '-o'."""
    index = w.flag_index
    i = 1
    n = len(own)
    while i < n:
        word = own[i]
        v = word.value
        i += 1
        if not word.literal or len(v) < 2 or v[0] != "-":
            continue
        if v == "--":
            break
        spelled = v
        takes_next = False
        if v[1] == "-":
            takes_next = "=" not in v and resolve_long(v, longs) in w.value_opts
        else:
            # A short cluster ends at its first option taking a value (`-vf%o` is -v -f '%o').
            for pos in range(1, len(v)):
                if "-" + v[pos] in w.value_opts:
                    spelled = v[: pos + 1]
                    takes_next = pos + 1 == len(v)
                    break
        fl = index.match(spelled, "gnu")
        if fl is not None:
            reasons.append(_reason("flag", f"{v}: {fl.reason}", fl.risk))
            if fl.ineligible:
                ineligible.append(f"{v}: {fl.reason}")
        if takes_next:
            i += 1


def _no_exec_sets(w: tables.Wrapper, argv: Sequence[Word], longs: tuple[str, ...]) -> bool:
    """Whether a wrapper in no-exec mode (`chrt -p`, `taskset -p`, `ionice -p`) changes the process
    it names rather than showing it: an option of `w.no_exec_sets`, more operands than a query
    takes, or a word that is not literal."""
    operands = 0
    i = 1
    n = len(argv)
    while i < n:
        word = argv[i]
        v = word.value
        i += 1
        if not word.literal:
            return True
        if v == "--":
            operands += n - i
            break
        if not v.startswith("-") or v == "-":
            operands += 1
            continue
        if v.startswith("--"):
            opt, eq, _ = v.partition("=")
            if len(opt) > 2 and any(o.startswith(opt) for o in w.no_exec_sets):  # GNU prefixes: --fi is --fifo
                return True
            opt = resolve_long(opt, longs)
            if opt in w.value_opts and not eq:
                i += 1
            continue
        for pos in range(1, len(v)):
            flag = "-" + v[pos]
            if flag in w.no_exec_sets:
                return True
            if flag in w.value_opts:
                i += 0 if pos + 1 < len(v) else 1
                break
    return operands > w.no_exec_query_args


def _xargs_replace(opts: Sequence[Word], longs: tuple[str, ...]) -> str:
    """The replace string xargs options set (`-I R`, `-IR`, `-i[R]`, `--replace[=R]`; '' if none)."""
    replace = ""
    i = 0
    n = len(opts)
    while i < n:
        v = opts[i].value
        i += 1
        if not opts[i - 1].literal or not v.startswith("-") or v == "-":
            continue
        if v.startswith("--"):
            opt, eq, attached = v.partition("=")
            opt = resolve_long(opt, longs)
            if opt == "--replace":
                replace = attached if eq else "{}"
            elif opt in tables.WRAPPERS["xargs"].value_opts and not eq:
                i += 1
            continue
        for pos in range(1, len(v)):
            c = v[pos]
            if c == "I":
                if pos + 1 < len(v):
                    replace = v[pos + 1:]
                elif i < n:
                    replace = opts[i].value
                    i += 1
                break
            if c == "i":
                replace = v[pos + 1:] or "{}"
                break
            if "-" + c in tables.WRAPPERS["xargs"].value_opts:
                i += 0 if pos + 1 < len(v) else 1
                break
            if "-" + c in tables.WRAPPERS["xargs"].optional_value_opts:
                break
    return replace


# Builtins that assign variables: (options taking a value, options naming a variable, index of the
# first positional naming a variable (-1: none), the variable assigned when none is named).
_VAR_BUILTINS: dict[str, tuple[str, str, int, str]] = {
    "read": ("dinNptu", "a", 0, "REPLY"),
    "mapfile": ("dnOsuCc", "", 0, "MAPFILE"),
    "readarray": ("dnOsuCc", "", 0, "MAPFILE"),
    "printf": ("", "v", -1, ""),
    "getopts": ("", "", 1, ""),
    "wait": ("", "p", -1, ""),
}

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


_DATE_VALUE_OPTS = frozenset({"-d", "--date", "-f", "--file", "-r", "--reference", "-s", "--set", "--rfc-3339"})
_DATE_LONGS = ("--date", "--debug", "--file", "--iso-8601", "--reference", "--resolution", "--rfc-2822",
               "--rfc-3339", "--rfc-email", "--set", "--universal", "--utc", "--help", "--version")


def _check_date(_w: _Walker, args: Sequence[Word], _k: list[str]) -> list[tuple[Risk | None, str]]:
    """GNU date with an operand that is not a +FORMAT sets the clock (`date 010100002030`)."""
    i = 0
    n = len(args)
    only_operands = False
    while i < n:
        a = args[i]
        v = a.value
        i += 1
        if not a.literal:
            continue  # judged by the caller (an argument that is not literal)
        if not only_operands and v == "--":
            only_operands = True
            continue
        if not only_operands and v.startswith("-") and len(v) > 1:
            if v.startswith("--"):
                opt = resolve_long(v.split("=", 1)[0], _DATE_LONGS)
                if opt in _DATE_VALUE_OPTS and "=" not in v:
                    i += 1
                continue
            for pos in range(1, len(v)):
                if v[pos] == "s":
                    return [(MEDIUM, "date -s sets the system clock")]
                if "-" + v[pos] in _DATE_VALUE_OPTS:
                    i += 0 if pos + 1 < len(v) else 1
                    break
                if v[pos] == "I":
                    break  # -I[FMT]: the rest is its value
            continue
        if not v.startswith("+"):
            return [(MEDIUM, f"date {v[:40]} sets the system clock")]
    return []


def _check_second_positional(_w: _Walker, args: Sequence[Word], k: list[str]) -> list[tuple[Risk | None, str]]:
    return [(MEDIUM, f"{k[0]} with two file arguments writes the second")] if len(_positionals(args)) >= 2 else []


def _check_net_args(_w: _Walker, args: Sequence[Word], k: list[str]) -> list[tuple[Risk | None, str]]:
    if any(not a.literal for a in args):
        return [(MEDIUM, f"{k[0]} sends an expanded argument to a name server or host (a way out for data)")]
    return []


def _check_tee(w: _Walker, args: Sequence[Word], _k: list[str]) -> list[tuple[Risk | None, str]]:
    files = [a for a in _positionals(args)
             if not (a.literal and tables.harmless_target(a.value) and w.harmless_write(a.value))]
    system = [a.value for a in files if a.literal and tables.system_path(a.value)]
    if system:
        return [(HIGH, "tee overwrites the system file or device " + system[0])]
    return [(MEDIUM, "tee writes " + ", ".join(a.value for a in files))] if files else [
        (None, "tee writes only to standard output or /dev/null")]


def _check_file_targets(_w: _Walker, args: Sequence[Word], k: list[str]) -> list[tuple[Risk | None, str]]:
    """chmod, chown, mv, cp ... on system files (HIGH); a recursive chmod/chown/chgrp of a system
    or home tree, and a chmod that sets the setuid/setgid bit (HIGH)."""
    prog = k[0] if k else ""
    pos = _positionals(args)
    names = [a.value for a in pos if a.literal]
    targets = names
    if prog in ("cp", "ln", "install") and not any(a.literal and (a.value.startswith("--target") or (
            a.value.startswith("-") and not a.value.startswith("--") and "t" in a.value)) for a in args):
        targets = names[-1:] if len(pos) >= 2 else []  # the sources are only read
    out: list[tuple[Risk | None, str]] = []
    hit = next((t for t in targets if tables.system_path(t)), None)
    if hit is not None:
        out.append((HIGH, f"{prog} changes the system file {hit}"))
    if prog in ("chmod", "chown", "chgrp") and _recursive(args):
        tree = next((a.value for a in pos if tables.broad_tree(a.value)), None)
        if tree is not None:
            out.append((HIGH, f"{prog} -R changes every file under {tree}"))
    if prog == "chmod" and names and _sets_setid(names[0]):
        out.append((HIGH, f"chmod {names[0]} sets the setuid/setgid bit"))
    return out


def _recursive(args: Sequence[Word]) -> bool:
    for a in args:
        if not a.literal:
            continue
        v = a.value
        if v == "--":
            return False
        if v.startswith("--"):
            if len(v) > 4 and "--recursive".startswith(v.split("=", 1)[0]):
                return True
        elif v.startswith("-") and "R" in v:
            return True
    return False


_MODE_CLAUSE = re.compile(r"([-+=])([rwxXstugo]*)")


def _sets_setid(mode: str) -> bool:
    """Whether a chmod mode (`4755`, `u+s`, `+s`, `g=rxs`) sets the setuid or setgid bit."""
    if mode.isdigit():
        return len(mode) >= 4 and set(mode) <= set("01234567") and int(mode[-4]) & 6 != 0
    return any(op in "+=" and "s" in perms for op, perms in _MODE_CLAUSE.findall(mode))


def _check_crontab(_w: _Walker, args: Sequence[Word], _k: list[str]) -> list[tuple[Risk | None, str]]:
    """`crontab FILE` and `crontab -` replace the whole crontab with new jobs."""
    skip = False
    for a in args:
        if skip:
            skip = False
            continue
        v = a.value
        if a.literal and v == "-u":
            skip = True
        elif not a.literal or v == "-" or not v.startswith("-"):
            return [(HIGH, "crontab replaces the crontab with the jobs in " + (v if a.literal else "a file"))]
    return []


_SERVICE_STOP = frozenset({"stop", "force-stop", "disable", "mask", "kill"})


def _check_service(_w: _Walker, args: Sequence[Word], _k: list[str]) -> list[tuple[Risk | None, str]]:
    if any(not a.literal or a.value in _SERVICE_STOP for a in args):
        return [(HIGH, "service stops or disables a system service")]
    return []


_DOCKER_HOST_NS = re.compile(r"--(?:net|network|pid|ipc|uts|userns|cgroupns)(?:=host|$)")
_DOCKER_MOUNTS = frozenset({"-v", "--volume", "--mount"})


def _check_docker(_w: _Walker, args: Sequence[Word], k: list[str]) -> list[tuple[Risk | None, str]]:
    """docker run/create: a bind mount of a system path (`-v /:/host`, the docker socket) or the
    host's namespaces (`--net=host`, `--pid=host`) hand the container the host."""
    if not any(w in ("run", "create") for w in k[1:]):
        return []
    out: list[tuple[Risk | None, str]] = []
    for i, a in enumerate(args):
        v = a.value
        if not a.literal:
            continue
        nxt = args[i + 1].value if i + 1 < len(args) and args[i + 1].literal else ""
        m = _DOCKER_HOST_NS.match(v)
        if m is not None and (v.endswith("=host") or nxt == "host"):
            out.append((HIGH, f"docker {v} shares a host namespace with the container"))
        source = ""
        if v in _DOCKER_MOUNTS:
            source = nxt
        elif v.startswith(("--volume=", "--mount=")):
            source = v.split("=", 1)[1]
        elif v.startswith("-v") and not v.startswith("--"):
            source = v[2:]
        if source.startswith(("type=", "src=", "source=")) or ",source=" in source or ",src=" in source:
            source = next((p.split("=", 1)[1] for p in source.split(",") if p.startswith(("source=", "src="))), "")
        else:
            source = source.split(":", 1)[0]
        if source and (tables.system_path(source) or source.endswith("docker.sock")):
            out.append((HIGH, f"docker mounts the host path {source} into the container"))
    return out


def _subscript_code_text(program: str, name: str) -> str:
    return f"{program} evaluates the subscript in {name[:60]!r}, which runs code"


def _check_varnames(_w: _Walker, args: Sequence[Word], k: list[str]) -> list[tuple[Risk | None, str]]:
    for a in args:
        if "[" in a.value and _CODE_IN_TEXT.search(a.value):
            return [(HIGH, _subscript_code_text(k[0], a.value))]
    return []


def _check_unset(w: _Walker, args: Sequence[Word], k: list[str]) -> list[tuple[Risk | None, str]]:
    """unset NAME: besides subscripts with code, unsetting a behaviour variable changes how later
    commands run (`unset PATH; ls` runs ./ls: bash then searches the current directory)."""
    out = _check_varnames(w, args, k)
    functions = False
    options = True
    for a in args:
        v = a.value
        if options and a.literal and v.startswith("-") and len(v) > 1:
            if v == "--":
                options = False
            functions = functions or "f" in v
            continue
        options = False
        if a.literal and not functions and tables.behaviour_var(v) and v not in tables.SAFE_UNSET:
            w.mutates = True
            out.append((MEDIUM, f"{k[0]} {v} changes how later commands run"))
    return out


def _check_printf(_w: _Walker, args: Sequence[Word], k: list[str]) -> list[tuple[Risk | None, str]]:
    for i, a in enumerate(args):
        if a.literal and a.value == "-v" and i + 1 < len(args):
            return _check_varnames(_w, args[i + 1 : i + 2], k)
        if a.literal and a.value.startswith("-v") and len(a.value) > 2:
            return _check_varnames(_w, [Word(a.value[2:], True)], k)
    return []


def _check_arith_args(w: _Walker, args: Sequence[Word], k: list[str]) -> list[tuple[Risk | None, str]]:
    for a in args:
        w.names().arith.update(_IDENT_ANY.findall(a.value))  # `let x`: x's value is evaluated too
        m = _LET_ASSIGN.match(a.value)
        if m:
            w.set_var(m.group(1), True, f"{k[0]} assigning")
    for a in args:
        if _CODE_IN_TEXT.search(a.value):
            return [(HIGH, f"{k[0]} evaluates {a.value[:60]!r} as arithmetic, which runs code")]
        if not a.literal:
            return [(MEDIUM, f"{k[0]} evaluates an expanded value as arithmetic")]
    return []


# compgen/complete options that take a value (the next word, or the rest of a cluster: `-oW`
# is -o with the value W).
_COMPLETION_VALUE_OPTS = frozenset("oAGWXPSFC")


def _check_word_list(_w: _Walker, args: Sequence[Word], k: list[str]) -> list[tuple[Risk | None, str]]:
    """compgen/complete -W WORDLIST: bash expands the list as shell words (for complete, at each
    completion), so a command substitution in it runs. A list that is not literal may hold one
    after expansion; a literal list of plain words is harmless."""
    out: list[tuple[Risk | None, str]] = []
    i = 0
    n = len(args)
    while i < n:
        a = args[i]
        v = a.value
        i += 1
        if not a.literal or v == "--" or not v.startswith("-") or v == "-":
            break  # options end at the first operand (a word that is not literal: see the caller)
        for pos in range(1, len(v)):
            c = v[pos]
            if c not in _COMPLETION_VALUE_OPTS:
                continue
            if pos + 1 < len(v):
                value: Word | None = Word(v[pos + 1:], True)
            else:
                value = args[i] if i < n else None
                i += 1
            if c == "W" and value is not None:
                if not value.literal:
                    out.append((MEDIUM, f"{k[0]} -W word list is not literal"))
                elif _CODE_IN_TEXT.search(value.value):
                    out.append((HIGH, f"{k[0]} -W expands its word list as shell words, which runs the code in "
                                      f"{value.value[:60]!r}"))
            break
    return out


def _check_declare(w: _Walker, args: Sequence[Word], k: list[str]) -> list[tuple[Risk | None, str]]:
    out: list[tuple[Risk | None, str]] = []
    flags = "".join(a.value[1:] for a in args if a.literal and a.value.startswith("-") and a.value != "--")
    arith = any(c in flags for c in "iaAn")
    exports = k[0] == "export" or "x" in flags
    for a in args:
        v = a.value
        if a.literal and v.startswith(("-", "+")):
            if v.startswith("-") and "f" in v and (k[0] == "export" or "x" in v):  # declare -fx too
                w.mutates = True
                out.append((None, f"{k[0]} {v} exports a shell function"))
            continue
        m = _ASSIGN_WORD.match(v)
        name = m.group(1) if m else v.split("=", 1)[0]
        value = v[m.end():] if m else None
        if ("[" in v.split("=", 1)[0] or arith) and _CODE_IN_TEXT.search(v):
            out.append((HIGH, f"{k[0]} evaluates {v[:60]!r} as arithmetic, which runs code"))
        if "i" in flags:
            w.names().ints.add(name)  # later assignments to it are evaluated as arithmetic
            if value is not None:
                w.names().arith.update(_IDENT_ANY.findall(value))
        if "n" in flags and value is None and a.literal:
            w.namerefs.add(name)  # pointed by its first assignment (see _Walker.nameref_target)
        elif name in w.namerefs and value is not None and "n" not in flags:
            verdict = w.nameref_target(name, Word(value, a.literal), k[0])
            if verdict is not None:
                out.append(verdict)
        if "n" in flags and value is not None:
            # A nameref: assigning `name` assigns the variable it names.
            target = value.split("[", 1)[0]
            w.names().texts.add(name)
            w.names().unknown.add(name)
            if target in _HASH_VARS:
                w.mutates = True
                out.append((HIGH, f"{k[0]} -n {name} refers to {target}: assigning {name} can make any later "
                                  "command run something else"))
            elif tables.behaviour_var(target) or not a.literal:
                if not a.literal:
                    target = "a variable whose name is not literal"
                w.mutates = True
                out.append((MEDIUM, f"{k[0]} -n {name} refers to {target}: assigning {name} changes how later "
                                    "commands run"))
        if tables.behaviour_var(name) and (m or exports):
            w.mutates = True
            out.append((MEDIUM, f"{k[0]} {name} changes how later commands run"))
        elif (tables.behaviour_var(name) and a.literal and k[0] != "readonly" and name not in tables.SAFE_UNSET
              and not any(c in flags for c in "pfF")):
            # `local PATH` (declare/typeset in a function) makes an unset local: with PATH unset
            # bash looks commands up in the current directory.
            w.mutates = True
            out.append((MEDIUM, f"{k[0]} {name} without a value unsets it in a function"))
        if not a.literal and not m:
            w.arith_exp = True  # the expanded name's subscript is evaluated
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


# -- sed and awk scripts: commands they run and files they write -------------------------------
# The analysis is `vshell.scripts` (pure, over the argument strings). Here: the checks, which add
# what only the walker knows (whether fd 1 or 2 points at a file), and `_Walker.script_commands`,
# which walks the literal command lines a script runs. Each finding makes the action not
# rule-eligible (`_SCRIPT_CHECKS`).


def _std_findings(w: _Walker, prog: str, std: Sequence[str]) -> list[tuple[Risk | None, str]]:
    """/dev/stdout and /dev/stderr written by a script: a file write when the line reopened that
    descriptor read-only (`1<victim`), as for a redirection."""
    return [(MEDIUM, f"{prog} writes {t}, which this line points at a file") for t in dict.fromkeys(std)
            if not w.harmless_write(t)]


def _check_sed(w: _Walker, args: Sequence[Word], _k: list[str]) -> list[tuple[Risk | None, str]]:
    scan = sed_scan(tuple((a.value, a.literal) for a in args))
    return [*scan[0], *_std_findings(w, "the sed script", scan[2])]


def _check_awk(w: _Walker, args: Sequence[Word], key: list[str]) -> list[tuple[Risk | None, str]]:
    scan = awk_scan(tuple((a.value, a.literal) for a in args), key[0])
    return [*scan[0], *_std_findings(w, "the awk program", scan[2])]


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


# Checks for scripts a rule's words do not show: no finding of theirs may be absorbed by a rule.
_SCRIPT_CHECKS = frozenset({"sed", "awk"})
# Checks whose findings mean the words hide code: no rule may absorb them.
_CODE_CHECKS = frozenset({"varname_args", "unset", "printf_v", "arith_args", "declare", "ssh", "pager_plus", "word_list"})

CHECKS: dict[str, Check] = {
    "file_targets": _check_file_targets,
    "crontab": _check_crontab,
    "service": _check_service,
    "docker": _check_docker,
    "pager_plus": _check_pager_plus,
    "hostname_set": _check_hostname,
    "date_set": _check_date,
    "second_positional_writes": _check_second_positional,
    "tee": _check_tee,
    "literal_net_args": _check_net_args,
    "varname_args": _check_varnames,
    "unset": _check_unset,
    "printf_v": _check_printf,
    "arith_args": _check_arith_args,
    "word_list": _check_word_list,
    "declare": _check_declare,
    "ssh": _check_ssh,
    "sed": _check_sed,
    "awk": _check_awk,
    "git": _check_git,
}


def _fc_lists(args: Sequence[Word]) -> bool:
    """Whether `fc ARGS` only lists history. bash reads fc's options as `:e:lnrs` up to the first
    operand, and re-executes when -s or `-e -` is among them, whatever -l says."""
    lists = execute = False
    i = 0
    n = len(args)
    while i < n:
        a = args[i]
        v = a.value
        i += 1
        if not a.literal:
            return False
        if v == "--" or not v.startswith("-") or v == "-" or v[1:].isdigit():
            break
        for pos in range(1, len(v)):
            c = v[pos]
            if c == "l":
                lists = True
            elif c == "s":
                execute = True
            elif c == "e":
                value = v[pos + 1:]
                if pos + 1 == len(v):
                    if i < n and not args[i].literal:
                        return False
                    value = args[i].value if i < n else ""
                    i += 1
                execute = execute or value == "-"
                break
            elif c not in "nr":
                return False
    return lists and not execute


def _fc(w: _Walker, argv: list[Word], name: str, cmd: _Cmd, ctx: _Ctx) -> None:
    lists = _fc_lists(argv[1:])
    risk = LOW if lists else HIGH
    w.emit(argv, name, [name], argv[1:], risk,
           [_reason("table", "fc -l lists history" if lists else "fc re-runs commands from history", risk)], ctx, cmd)


# What a table program does to the rest of the line after it is judged (by program name).
_FOLLOW_UPS: dict[str, Callable[[_Walker, str, Sequence[Word], _Cmd, _Ctx], None]] = {
    "hash": _Walker.hash_p,
    "set": _Walker.set_options,
    "shopt": _Walker.shopt_options,
    "find": _Walker.find_exec,
    "sed": _Walker.script_commands,
    **dict.fromkeys(("awk", "gawk", "mawk", "nawk"), _Walker.script_commands),
    **dict.fromkeys(_VAR_BUILTINS, _Walker.var_builtin),
}

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


def missing_name_only(name: Node) -> bool:
    """Whether `name` (a command_name) is the empty word tree-sitter invents for a command made of
    assignments and redirections only (`x=1 2>/dev/null`), which bash accepts as it stands."""
    kids = name.children
    cmd = name.parent
    if len(kids) != 1 or not kids[0].is_missing or kids[0].type != "word" or cmd is None or cmd.type != "command":
        return False
    seen_assignment = False
    for c in cmd.children:
        if c.type == "variable_assignment":
            seen_assignment = True
        elif c.type not in _REDIRECT_KINDS and c != name:
            return False
    return seen_assignment and cmd.children[-1] == name


# Where bash starts a comment: a `#` that begins a word, so at the start of the text or after an
# unquoted blank, newline or operator character (or the backtick opening a command substitution).
# Loop conditions that never end the loop (`while :`, `while true`, `until false`, `while ((1))`).
_ALWAYS_TRUE = re.compile(r"(?:(?:/usr)?/bin/)?true|:|\(\(\s*0*[1-9][0-9]*\s*\)\)|\[\[?\s+1\s+\]\]?")
_ALWAYS_FALSE = re.compile(r"(?:(?:/usr)?/bin/)?false|\(\(\s*0+\s*\)\)")
_TRUE_ARITH = re.compile(r"\s*0*[1-9][0-9]*\s*")
_LOOP_EXIT = re.compile(r"(?<![\w-])(?:break|exit|return)(?![\w-])")
_COMMENT_MAY_FOLLOW = frozenset(b" \t\n;&|()<>`")
_ESCAPED_BLANK = re.compile(rb"(\\+)[ \t]")
_LEAF_TEXT_KINDS = frozenset({"word", "string_content", "raw_string", "ansi_c_string", "comment", "heredoc_body",
                              "heredoc_content", "regex", "extglob_pattern", "translated_string"})


def lexical_mismatch(root: Node, src: bytes) -> str | None:
    """Why tree-sitter's tokens differ from bash's reading of `src` (None: no difference found).
    Checked here because the walker trusts the tokens: a `comment` node where bash's `#` is inside
    a word (`ls "a"\\ #; rm -rf x`: tree-sitter drops the escaped blank and hides `; rm -rf x`),
    an escaped blank left between nodes (bash joins the words around it), and a `$'...'` or
    '...' string that does not end where bash ends it (`$'\\'` is unterminated for bash)."""
    for m in _ESCAPED_BLANK.finditer(src):
        if len(m.group(1)) % 2 == 0:
            continue  # `\\ `: an escaped backslash, then a real blank
        p = m.end(1) - 1
        node = root.descendant_for_byte_range(p, p + 2)
        if node is None or node.child_count or node.type not in _LEAF_TEXT_KINDS:
            return "an escaped blank that the parser reads as a separator (bash keeps it inside the word)"
    if b"#" not in src and b"'" not in src:
        return None
    cursor = root.walk()
    while True:
        node = cursor.node
        if node is not None:
            kind = node.type
            if kind == "comment" and not _comment_may_start(src, node.start_byte):
                return "a `#` that the parser reads as a comment, where bash reads it as part of a word"
            if (kind == "ansi_c_string" or kind == "raw_string") and not _string_closes_at(
                    src, node.start_byte, node.end_byte, ansi=kind == "ansi_c_string"):
                return "a quoted string that does not end where bash ends it"
        if cursor.goto_first_child():
            continue
        while not cursor.goto_next_sibling():
            if not cursor.goto_parent():
                return None


def _comment_may_start(src: bytes, start: int) -> bool:
    if start == 0:
        return True
    if src[start - 1] not in _COMMENT_MAY_FOLLOW:
        return False
    k = start - 1
    while k > 0 and src[k - 1] == 0x5C:  # backslashes escaping that character
        k -= 1
    return (start - 1 - k) % 2 == 0


def _string_closes_at(src: bytes, start: int, end: int, *, ansi: bool) -> bool:
    """Whether the '...' (or $'...', where backslash escapes) string at `start` closes at `end`."""
    i = start + (2 if ansi else 1)
    while i < end:
        ch = src[i]
        if ansi and ch == 0x5C:
            i += 2
            continue
        if ch == 0x27:
            return i + 1 == end
        i += 1
    return False


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


def _heredoc_delimiter(word: str) -> str:
    """The line that ends a here-document whose operator is followed by `word`: the word after
    quote removal, with `$'...'` decoded and `$"..."` read as "..."; nothing is expanded."""
    out: list[str] = []
    i = 0
    n = len(word)
    while i < n:
        ch = word[i]
        if ch == "\\" and i + 1 < n:
            out.append(word[i + 1])
            i += 2
        elif ch == "'":
            j = word.find("'", i + 1)
            j = n if j < 0 else j
            out.append(word[i + 1:j])
            i = j + 1
        elif ch == "$" and i + 1 < n and word[i + 1] == "'":
            j = words.closing_single_quote(word, i + 2, ansi=True)
            out.append(words.ansi_c_decode(word[i + 2:max(i + 2, j - 1)]))
            i = j
        elif ch == "$" and i + 1 < n and word[i + 1] == '"':
            i += 1
        elif ch == '"':
            j = i + 1
            while j < n and word[j] != '"':
                j += 2 if word[j] == "\\" else 1
            out.append(words.dquoted_piece(word[i + 1:j]).value)
            i = j + 1
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _unescape_backticks(body: str, dquoted: bool) -> str:
    """The text bash parses for the body of a backtick substitution: `\\$`, `\\``, `\\\\` (and `\\"`
    directly inside double quotes) lose their backslash; other backslashes stay."""
    specials = '$`\\"' if dquoted else "$`\\"
    out: list[str] = []
    i = 0
    n = len(body)
    while i < n:
        ch = body[i]
        if ch == "\\" and i + 1 < n and body[i + 1] in specials:
            out.append(body[i + 1])
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _heredoc_regions(body: str) -> list[tuple[int, int]] | None:
    """The spans of the substitutions an unquoted here-document body expands: `$(...)`, `$((...))`,
    `${...}`, `$[...]` and backticks (None when one is unterminated)."""
    out: list[tuple[int, int]] = []
    i = 0
    n = len(body)
    while i < n:
        ch = body[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "`":
            j = _skip_backticks(body, i + 1)
        elif ch == "$" and i + 1 < n and body[i + 1] in "({[":
            j = _skip_dollar(body, i)
        else:
            i += 1
            continue
        if j is None:
            return None
        out.append((i, j))
        i = j
    return out


def _skip_backticks(s: str, i: int) -> int | None:
    """Index just past the backtick closing a substitution whose body starts at `i`."""
    n = len(s)
    while i < n:
        ch = s[i]
        if ch == "\\":
            i += 2
        elif ch == "`":
            return i + 1
        else:
            i += 1
    return None


def _skip_dollar(s: str, i: int) -> int | None:
    """`s[i:]` starts with `$(`, `${` or `$[`: the index just past its matching close."""
    return _skip_code(s, i + 2, {"(": ")", "{": "}", "[": "]"}[s[i + 1]])


def _skip_dquoted(s: str, i: int) -> int | None:
    """Index just past the `"` closing a string whose content starts at `i`."""
    n = len(s)
    while i < n:
        ch = s[i]
        if ch == "\\":
            i += 2
            continue
        if ch == '"':
            return i + 1
        j: int | None = i + 1
        if ch == "`":
            j = _skip_backticks(s, i + 1)
        elif ch == "$" and i + 1 < n and s[i + 1] in "({[":
            j = _skip_dollar(s, i)
        if j is None:
            return None
        i = j
    return None


def _skip_code(s: str, i: int, close: str) -> int | None:
    """Index just past the `close` that ends shell text starting at `i` (after `$(`, `${`, `$[`),
    skipping quotes, nested substitutions and (in `$(`) comments. An approximation of bash's
    parser: callers check that tree-sitter ends the substitution at the same place."""
    opener = {")": "(", "}": "{", "]": "["}[close]
    depth = 0
    n = len(s)
    word_start = True
    while i < n:
        ch = s[i]
        j: int | None = i + 1
        if ch == "\\":
            j = i + 2
        elif ch == "'":
            k = s.find("'", i + 1)
            j = None if k < 0 else k + 1
        elif ch == '"':
            j = _skip_dquoted(s, i + 1)
        elif ch == "`":
            j = _skip_backticks(s, i + 1)
        elif ch == "$" and i + 1 < n and s[i + 1] == "'":
            j = words.closing_single_quote(s, i + 2, ansi=True)
        elif ch == "$" and i + 1 < n and s[i + 1] in "({[":
            j = _skip_dollar(s, i)
        elif ch == "#" and word_start and close == ")":
            k = s.find("\n", i)
            j = n if k < 0 else k
        elif ch == opener:
            depth += 1
        elif ch == close:
            if depth == 0:
                return i + 1
            depth -= 1
        if j is None:
            return None
        word_start = ch in " \t\n;&|()<>"
        i = j
    return None


def _first_suspicious(text: str) -> str | None:
    for ch in text:
        if words.suspicious_char(ch):
            return ch
    return None
