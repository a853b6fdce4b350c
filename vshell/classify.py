"""classify(line): the command model's entry point. Parses with tree-sitter-bash (one Parser per
thread, created lazily), walks the tree (`vshell.shellparse`), and returns a frozen
`Classification`. It never raises: anything unexpected is a HIGH classification with a reason.

Where tree-sitter-bash and bash disagree, bash wins:
* backslash-newline is removed first, as bash's reader does (`r\\<newline>m` is `rm`);
  a line where that mattered and that holds a here-document is refused (HIGH), since here-document
  bodies with quoted delimiters keep their backslash-newlines;
* control, invisible and separator characters outside quotes (CR, NBSP, zero-width, bidi, ...) make
  the line HIGH: tree-sitter splits words on some of them where bash does not.
"""

from __future__ import annotations

import re
import threading

from tree_sitter import Language, Node, Parser

from vshell import shellparse, suggest, words
from vshell.display import visible
from vshell.model import Classification, Reason, Risk
from vshell.tables import HIGH, LOW

_local = threading.local()
_LANGUAGE: list[Language] = []
_SUSPICIOUS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u00a0\u00ad\u034f\u061c\u115f\u1160\u1680\u17b4\u17b5"
                         "\u180b-\u180f\u2000-\u200f\u2028-\u202f\u205f-\u206f\u3000\u3164\ufe00-\ufe0f\ufeff"
                         "\uffa0\ufff0-\ufffb\udc80-\udcff\U000e0000-\U000e0fff]")
_ANY_NON_ASCII = re.compile("[^\x00-\x7f]")
_QUOTED_KINDS = frozenset({"string_content", "raw_string", "ansi_c_string", "heredoc_body", "heredoc_content",
                           "comment", "string", "translated_string"})
TREE_MAX_NODES = 2000


def _parser() -> Parser:
    parser: Parser | None = getattr(_local, "parser", None)
    if parser is None:
        if not _LANGUAGE:
            import tree_sitter_bash

            _LANGUAGE.append(Language(tree_sitter_bash.language()))
        parser = Parser(_LANGUAGE[0])
        _local.parser = parser
    return parser


# tree-sitter-bash 0.25's scanner passes code points to C ctype functions, which read out of bounds
# for non-ASCII (garbage results, and crashes for large code points). The parser therefore only ever
# sees an ASCII shadow of the line: every non-ASCII byte becomes `x` (a word character, as non-ASCII
# characters are to bash), so byte offsets are unchanged and node text is read from the real bytes.
_SHADOW = bytes(range(128)) + b"x" * 128


def parse_line(text: str) -> tuple[Node, bytes]:
    """Parse `text` (no backslash-newline joining): the tree of its ASCII shadow, and its real bytes."""
    src = text.encode("utf-8", "surrogateescape")
    shadow = src if text.isascii() else src.translate(_SHADOW)
    root = _parser().parse(shadow).root_node
    if ("time" in text or "coproc" in text or "!" in text) and _KEYWORD_BEFORE_GROUP.search(text):
        blanked = _blank_keywords(shadow, root)
        if blanked is not None:
            root = _parser().parse(blanked).root_node
    return root, src


# `time`, `coproc [NAME]` and `!` before a compound command are reserved words for bash; tree-sitter
# reads them as a command name and breaks the group apart (`time { ls; }` fails to parse).
_KEYWORD_BEFORE_GROUP = re.compile(
    r"(?<![^\s;&|()])(time(?:[ \t]+-p)?|coproc(?:[ \t]+[A-Za-z_][A-Za-z0-9_]*)?|!)[ \t]+"
    r"(?=[{(]|\[\[|(?:for|if|while|until|case|select)[\s;])")


def _blank_keywords(shadow: bytes, root: Node) -> bytes | None:
    """The line with those keywords (and `-p`, the coproc NAME) turned into blanks, so that the
    compound command parses (offsets unchanged; the walker reads `coproc` from the real bytes).
    None when no match is a keyword at the start of a pipeline."""
    out = bytearray(shadow)
    changed = False
    text = shadow.decode("ascii")
    for m in _KEYWORD_BEFORE_GROUP.finditer(text):
        start = m.start(1)
        node = root.descendant_for_byte_range(start, start + 1)
        if node is None:
            continue
        if m.group(1) == "!":
            if node.type != "!" or node.parent is None or node.parent.type != "negated_command":
                continue
        else:
            name = node.parent
            command = name.parent if name is not None else None
            if node.type != "word" or name is None or name.type != "command_name" or command is None:
                continue
            pipe = command.parent
            if pipe is not None and pipe.type == "pipeline" and pipe.named_children[0] != command:
                continue  # `ls | time { ls; }` is a syntax error for bash: leave it failing
        out[start:m.end(1)] = b" " * (m.end(1) - start)
        changed = True
    return bytes(out) if changed else None


def classify(line: str, *, tree: bool = False) -> Classification:
    """Classify one shell line. `tree=True` also renders the parse tree into `Classification.tree`
    (for `vsh explain`; it costs a second walk)."""
    try:
        return _classify(line, tree)
    except Exception as e:  # fail closed: the classifier must answer for any input
        return Classification(
            command=line, parse_ok=False, risk=Risk.HIGH, actions=(),
            suggestions=(suggest.escape_exact(line),),
            reasons=(Reason("internal-error", f"the line could not be analysed ({type(e).__name__})", Risk.HIGH),),
        )


def _benign_errors(node: Node) -> bool:
    """Whether every error in the tree is a command name tree-sitter invents where bash needs none
    (`x=1 2>/dev/null`; see shellparse.missing_name_only). Only called when the tree has errors."""
    if node.is_error or node.type == "ERROR":
        return False
    if node.is_missing:
        parent = node.parent
        return parent is not None and parent.type == "command_name" and shellparse.missing_name_only(parent)
    return all(_benign_errors(c) for c in node.children if c.has_error or c.is_missing)


def _classify(line: str, want_tree: bool) -> Classification:
    if not line.strip():
        return Classification(command=line, parse_ok=True, risk=Risk.LOW, actions=(), suggestions=())
    reasons: list[Reason] = []
    parse_ok = True
    text = words.join_continuations(line)
    if text != line and "<<" in line:
        parse_ok = False
        reasons.append(Reason("parser-differential",
                              "a backslash-newline next to a here-document: bash and the parser may disagree",
                              Risk.HIGH))
    root, src = parse_line(text)
    # Printable ASCII cannot hold a suspicious character; isprintable() is far cheaper than the search.
    if not text.isascii() or (not text.isprintable() and _SUSPICIOUS.search(text)):
        controls = _unquoted_controls(root, text)
        if controls:
            parse_ok = False
            reasons.extend(controls)
    actions, walk_reasons, walk_ok, mutates = shellparse.walk(root, src, parse_line)
    parse_ok = parse_ok and walk_ok
    all_reasons = reasons + list(walk_reasons) if walk_reasons else reasons
    if parse_ok and root.has_error and not _benign_errors(root):
        parse_ok = False
        all_reasons.append(Reason("parse-error", "the line does not parse", Risk.HIGH))
    risk = LOW
    for a in actions:
        if a.risk > risk:
            risk = a.risk
    for r in all_reasons:
        if r.risk is not None and r.risk > risk:
            risk = r.risk
    if not parse_ok:
        risk = HIGH
    return shellparse.frozen(Classification, {
        "command": line,
        "parse_ok": parse_ok,
        "risk": risk,
        "actions": actions,
        # `simple` only matters for a line that parsed: suggestions() offers the exact line alone otherwise.
        "suggestions": suggest.suggestions(line, actions, parse_ok, all_reasons,
                                           simple=parse_ok and _simple(root)),
        "reasons": tuple(all_reasons),
        "mutates_shell_state": mutates,
        "tree": render_tree(root, src) if want_tree else "",
    })


_SIMPLE_KINDS = frozenset({"command", "list", "pipeline", "redirected_statement", "comment", "declaration_command",
                           "variable_assignment"})


def _simple(root: Node) -> bool:
    """Only plain commands (in lists and pipelines) at the top of the line."""
    stack = list(root.children)
    while stack:
        node = stack.pop()
        if not node.is_named:
            continue
        kind = node.type
        if kind not in _SIMPLE_KINDS:
            return False
        if kind == "list" or kind == "pipeline":
            stack.extend(node.children)
    return True


def _unquoted_controls(root: Node, text: str) -> list[Reason]:
    """Reasons for control/invisible characters that are not inside a quoted string or comment."""
    out: list[Reason] = []
    raw = text.encode("utf-8", "surrogateescape")
    for m in _suspicious_chars(text):
        offset = len(text[: m.start()].encode("utf-8", "surrogateescape"))
        node = root.descendant_for_byte_range(offset, min(offset + 1, len(raw)))
        if node is not None and node.type in _QUOTED_KINDS and node.start_byte <= offset < node.end_byte:
            continue
        out.append(Reason("control-char", f"the character {visible(m.group())} outside quotes: "
                                          "bash and the parser may split words differently", Risk.HIGH))
        break
    return out


def _suspicious_chars(text: str) -> list[re.Match[str]]:
    found = list(_SUSPICIOUS.finditer(text))
    if not text.isascii():
        found += [m for m in _ANY_NON_ASCII.finditer(text) if words.suspicious_char(m.group())]
    return sorted(found, key=lambda m: m.start())


def render_tree(root: Node, src: bytes) -> str:
    """An indented rendering of the parse tree (iterative; at most TREE_MAX_NODES nodes)."""
    lines: list[str] = []
    stack: list[tuple[Node, int, str | None]] = [(root, 0, None)]
    while stack and len(lines) < TREE_MAX_NODES:
        node, depth, fld = stack.pop()
        label = node.type if node.is_named else repr(node.type)
        if node.is_missing:
            label = f"MISSING {label}"
        text = ""
        if node.child_count == 0 and node.is_named:
            raw = src[node.start_byte:node.end_byte].decode("utf-8", "surrogateescape")
            text = " " + visible(raw[:60] + ("…" if len(raw) > 60 else ""))
        lines.append("  " * min(depth, 60) + (f"{fld}: " if fld else "") + label + text)
        kids = node.children
        for i in range(len(kids) - 1, -1, -1):
            stack.append((kids[i], depth + 1, node.field_name_for_child(i)))
    if stack:
        lines.append("  …")
    return "\n".join(lines)


def render_human(c: Classification) -> str:
    """Multi-line text for people: actions with risk and reasons, line reasons, suggestions."""
    out = [f"command: {visible(c.command)}", f"risk: {c.risk.label}" + ("" if c.parse_ok else " (did not parse)")]
    for r in c.reasons:
        out.append(f"  ! {visible(r.text)}" + (f" [{r.risk.label}]" if r.risk is not None else ""))
    if c.mutates_shell_state:
        out.append("  ! the line changes shell state (functions, aliases, traps or behaviour variables)")
    out.append(f"actions ({len(c.actions)}):")
    for i, a in enumerate(c.actions, 1):
        argv = " ".join(visible(x) for x in a.argv)
        extra = "" if a.origin == "top" else f", from {a.origin}"
        out.append(f"  {i}. [{a.risk.label}] {visible(a.key)}: {argv}{extra}")
        if a.cwd:
            out.append(f"     in directory: {visible(a.cwd)}")
        for r in a.reasons:
            out.append(f"     - {visible(r.text)}" + (f" [{r.risk.label}]" if r.risk is not None else ""))
        if not a.rule_eligible:
            out.append("     rules cannot allow it: " + "; ".join(visible(x) for x in a.ineligible_reasons))
    out.append("suggestions:")
    out.extend(f"  {visible(s)}" for s in c.suggestions)
    return "\n".join(out)
