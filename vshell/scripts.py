"""What sed scripts and awk programs do besides editing text: commands they run, files they write
or read. Pure functions over argument strings; `vshell.shellparse` calls `sed_scan` / `awk_scan`
from its checks and walks the command lines they return.

Why: a `sed *` or `awk *` rule must not absorb what the script does beyond editing text, since the
words of the line do not show it. What counts:

- Runs a command line: sed's `e` command (with text: that line; bare: the pattern space, built at
  run time) and the `s///e` flag (the replacement when it is plain text, else unknown); awk's
  `system()`, `print ... | "cmd"`, `"cmd" | getline`, gawk's coprocess `|&` and indirect calls
  (`@f(...)`). A literal command line is returned to be walked as one; an unknown one is HIGH.
- Writes a file: sed `w`/`W` and the `s///w` flag; awk `print > FILE` / `>> FILE`, and gawk's
  -o/-p/-d. `/dev/null` is harmless; `/dev/stdout` and `/dev/stderr` are returned apart, as they
  are harmless only when the line has not pointed fd 1 or 2 at a file (which only the walker
  knows); any other name, `/dev/fd/N` and `/proc/self/fd/N` included, is opened again as a file.
- Reads a file: sed `r`/`R` and `-f`; awk `-f`/`-E`/`-i`, `@include`, `getline < FILE` (gawk's
  /inet special files are sockets). Loading code (awk `-l`, `@load`) is HIGH.

Every such finding makes the action not rule-eligible (see `_SCRIPT_CHECKS` in shellparse).

How ambiguity is resolved, fail-closed: both parsers follow the grammar of the real programs (GNU
sed's compile.c; the awk lexers of gawk, mawk and the one true awk) rather than matching patterns,
since a parser that falls out of step with the program reads the program's commands as text, and
its text as commands. All -e scripts of sed are one program. Where the implementations differ
(whether a `/` starts an awk regex, how a bracket expression ends, how an escape decodes), every
reading is analysed and their findings are combined; a string whose value differs between awks is
"unknown" (a command line of unknown value is HIGH). A script no reading understands, or one with
too many readings, is "could not be analysed" (MEDIUM, not rule-eligible). Options are read as the
programs read them: awk's end at the program (a later `-e` or `--sandbox` is an ARGV entry, and
only gawk honours `--sandbox`, which refuses commands, output redirection and /inet); sed reads
them anywhere, and when `-e`/`-f` follow an operand that operand is analysed as a script too (it
is the script under POSIXLY_CORRECT).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from functools import lru_cache

from vshell.model import Risk
from vshell.tables import HIGH, MEDIUM


# GNU getopt_long abbreviations, for sed and awk options here and for wrappers in shellparse.
def resolve_long(opt: str, longs: tuple[str, ...]) -> str:
    """`opt` (a `--name`) as GNU getopt_long reads it: itself when known, else the one known long
    option it abbreviates (unchanged when none or several)."""
    if opt in longs or len(opt) < 3:
        return opt
    hit = ""
    for o in longs:
        if o.startswith(opt):
            if hit:
                return opt
            hit = o
    return hit or opt


# -- sed ---------------------------------------------------------------------------------------

_SED_LONGS = ("--binary", "--debug", "--expression", "--file", "--follow-symlinks", "--help", "--in-place",
              "--line-length", "--null-data", "--posix", "--quiet", "--regexp-extended", "--sandbox", "--separate",
              "--silent", "--unbuffered", "--version", "--zero-terminated")
_SED_PLAIN = frozenset("=dDFgGhHnNpPxz")  # commands that take no argument (then the end of the command)
_SED_EOF = "\0"  # ends each -e script (argv strings cannot hold NUL)
_SED_ESCAPES = {"a": "\a", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\n": "\n"}

# (risk, text) findings, the literal command lines the script runs, and the standard streams it
# writes by name (/dev/stdout, /dev/stderr): harmless unless the line points fd 1 or 2 at a file
# it opened read-only, which only the walker knows.
ScriptScan = tuple[tuple[tuple[Risk | None, str], ...], tuple[str, ...], tuple[str, ...]]
# What a script does besides editing text: (kind, argument), kind one of exec (argument: the
# command line, None when built at run time), write, read (the file), load, include.
ScriptEffect = tuple[str, str | None]


def _script_output(target: str) -> str:
    """What a file name a sed/awk script writes to is: "null" (/dev/null), "std" (/dev/stdout or
    /dev/stderr: their own output, unless the line reopened that descriptor read-only) or "file".
    sed and awk open every other name, `/dev/fd/1` and `/proc/self/fd/1` included, as a file:
    that opens again, writable, whatever the descriptor points at (`sed 'w /dev/fd/1' f 1<victim`)."""
    if target == "/dev/null":
        return "null"
    if target in ("/dev/stdout", "/dev/stderr"):
        return "std"
    return "file"


def _sed_bracket_end(s: str, j: int) -> int | None:
    """Index after the `]` closing the bracket expression whose `[` is at j-1, as GNU sed's
    snarf_char_class reads it (`[]/]`, `[^]/]`, `[[:alpha:]/]`, `[[.-.]/]` hold a `/`; a
    backslash is an ordinary character there). None when the line or script ends first."""
    n = len(s)
    if j < n and s[j] == "^":
        j += 1
    if j < n and s[j] == "]":
        j += 1
    state = 0  # 0 plain, 1 after `[`, 2 inside [: [. [=, 3 after the closing : . =
    delim = ""
    while j < n:
        ch = s[j]
        j += 1
        if ch in "\n" + _SED_EOF:
            return None
        if ch in ".:=":
            if state == 1:
                delim, state = ch, 2
                continue
            if state == 2 and ch == delim:
                state = 3
                continue
        elif ch == "[":
            if state == 0:
                state = 1
            continue
        elif ch == "]":
            if state in (0, 1):
                return j
            if state == 3:
                state = 0
        state &= ~1
    return None


def _sed_delim_end(s: str, i: int, delim: str, regex: bool = True) -> int | None:
    """Index of the `delim` ending a regex (or, with regex False, a replacement or y string) that
    starts at i, as GNU sed's match_slash finds it: a backslash takes the next character, and in a
    regex a bracket expression is skipped whole (`s/[/]/x/`). None when it does not end on the line."""
    n = len(s)
    while i < n:
        c = s[i]
        if c == "\n" or c == _SED_EOF:
            return None
        if c == delim:
            return i
        if c == "\\":
            if i + 1 >= n or s[i + 1] == _SED_EOF:
                return None
            # `\cX` is one unit in a regex (so `\c/` does not end it).
            i += 3 if regex and s[i + 1] == "c" else 2
            continue
        if c == "[" and regex:
            end = _sed_bracket_end(s, i + 1)
            if end is None:
                return None
            i = end
            continue
        i += 1
    return None


def _sed_unescape(raw: str) -> str:
    """a/i/c and `e` text as GNU sed's normalize_text leaves it: \\t, \\n, \\dNNN, \\oNNN, \\xHH,
    \\cX decoded, and a backslash before any other character dropped (`e rm\\x20-rf\\x20x` runs
    `rm -rf x`)."""
    out: list[str] = []
    p = 0
    n = len(raw)
    while p < n:
        c = raw[p]
        if c != "\\" or p + 1 >= n:
            out.append(c)
            p += 1
            continue
        e = raw[p + 1]
        p += 2
        if e in _SED_ESCAPES:
            out.append(_SED_ESCAPES[e])
        elif e in "dox":
            base = {"d": 10, "o": 8, "x": 16}[e]
            value = digits = 0
            limit = 1
            while p < n and limit <= 255:
                d = int(raw[p], 16) if raw[p] in "0123456789abcdefABCDEF" else -1
                if d < 0 or d >= base:
                    break
                value, digits, limit, p = value * base + d, digits + 1, limit * base, p + 1
            out.append(chr(value & 0xFF) if digits else e)
        elif e == "c":
            if p < n:
                out.append(chr((ord(raw[p].upper()) ^ 0x40) & 0xFF))
                p += 2 if raw[p] == "\\" else 1
        else:
            out.append(e)
    return "".join(out)


def _sed_effects(scripts: Sequence[str]) -> list[ScriptEffect] | None:
    """What GNU sed does besides editing, given its -e scripts in order (they are one program: a
    `{` or an a/i/c text ending in a backslash carries on into the next). ("exec", command line or
    None when built at run time), ("write", file), ("read", file). None when the script cannot be
    read, or sed would reject it."""
    s = _SED_EOF.join(scripts)
    n = len(s)
    out: list[ScriptEffect] = []
    depth = 0
    i = 0

    def at(j: int) -> str:
        return s[j] if j < n else _SED_EOF

    def blanks(j: int) -> int:
        while j < n and s[j] in " \t":
            j += 1
        return j

    def end_of_cmd(j: int) -> int | None:
        """read_end_of_cmd: only blanks, then `;`, a newline, `}`, `#` or the end may follow."""
        j = blanks(j)
        c = at(j)
        if c in "}#":
            return j
        return j + 1 if c in ";\n" + _SED_EOF else None

    def label(j: int) -> tuple[str, int]:
        """read_label: after blanks, up to a blank, `;`, newline, `}`, `#` or the end."""
        j = k = blanks(j)
        while k < n and s[k] not in " \t\n;}#" + _SED_EOF:
            k += 1
        return s[j:k], k

    def filename(j: int) -> tuple[str, int]:
        j = blanks(j)
        k = j
        while k < n and s[k] not in "\n" + _SED_EOF:
            k += 1
        return s[j:k], k

    def text(j: int) -> tuple[str, int]:
        """read_text from j: to an unescaped newline; a backslash escapes the next character (so
        `foo\\\\` NL ends the text), and one just before the end of a -e script continues it in
        the next script."""
        parts: list[str] = []
        start = j
        while j < n and s[j] != "\n":
            c = s[j]
            if c == _SED_EOF:
                parts.append(s[start:j])
                return "".join(parts), j
            if c == "\\":
                if at(j + 1) == _SED_EOF:
                    parts.append(s[start:j] + "\n")
                    j += 2
                    start = j
                    continue
                j += 2
                continue
            j += 1
        parts.append(s[start:min(j, n)])
        return "".join(parts), j

    def address(j: int, second: bool) -> int | None:
        """compile_address: index after the address at j (j itself when there is none)."""
        c = at(j)
        if c in "/\\":
            if c == "\\":
                j += 1
            delim = at(j)
            if delim in "\n" + _SED_EOF:
                return None
            end = _sed_delim_end(s, j + 1, delim)
            if end is None:
                return None
            j = end + 1
            while True:
                k = blanks(j)
                if at(k) not in "IM":
                    return k
                j = k + 1
        if c.isdigit():
            while at(j).isdigit():
                j += 1
            k = blanks(j)
            if at(k) == "~":
                j = blanks(k + 1)
                while at(j).isdigit():
                    j += 1
            return j
        if c in "+~":
            if not second:
                return None
            j = blanks(j + 1)
            while at(j).isdigit():
                j += 1
            return j
        if c == "$":
            return j + 1
        return j

    while True:
        while i < n and (s[i].isspace() or s[i] in ";" + _SED_EOF):
            i += 1
        if i >= n:
            break
        j = address(i, False)
        if j is None:
            return None
        has_address = j != i
        if has_address:
            j = blanks(j)
            if at(j) == ",":
                k = blanks(j + 1)
                j2 = address(k, True)
                if j2 is None or j2 == k:
                    return None
                j = blanks(j2)
        i = j
        if at(i) == "!":
            i = blanks(i + 1)
            if at(i) == "!":
                return None
        c = at(i)
        i += 1
        if c in _SED_PLAIN:
            nxt = end_of_cmd(i)
            if nxt is None:
                return None
            i = nxt
        elif c == "#":
            if has_address:
                return None
            while i < n and s[i] not in "\n" + _SED_EOF:
                i += 1
        elif c in ":btTv":
            name, i = label(i)
            if c == ":" and (has_address or not name):
                return None
        elif c == "{":
            depth += 1
        elif c == "}":
            if depth == 0 or has_address:
                return None
            depth -= 1
            nxt = end_of_cmd(i)
            if nxt is None:
                return None
            i = nxt
        elif c in "aice":
            k = blanks(i)
            ch = at(k)
            if c == "e" and ch in "\n" + _SED_EOF:
                out.append(("exec", None))  # runs the pattern space
                i = k
                continue
            if ch == _SED_EOF:
                return None
            lead = ""
            if ch == "\\":
                lead = at(k + 1)
                k += 2
                if lead in "\n" + _SED_EOF:  # `a\` NL, or `a\` ending a -e script: the text is the next one
                    lead = ""
            body, i = text(k)
            if c == "e":
                command = _sed_unescape(lead + body)
                out.append(("exec", command if command.strip() else None))
        elif c in "rRwW":
            name, i = filename(i)
            if not name:
                return None
            out.append(("read" if c in "rR" else "write", name))
        elif c in "qQl":
            k = blanks(i)
            while at(k).isdigit():
                k += 1
            nxt = end_of_cmd(k)
            if nxt is None:
                return None
            i = nxt
        elif c in "sy":
            delim = at(i)
            if delim in "\n" + _SED_EOF:
                return None
            mid = _sed_delim_end(s, i + 1, delim, regex=c == "s")
            end = _sed_delim_end(s, mid + 1, delim, regex=False) if mid is not None else None
            if mid is None or end is None:
                return None
            replacement = s[mid + 1:end]
            i = end + 1
            if c == "y":
                nxt = end_of_cmd(i)
                if nxt is None:
                    return None
                i = nxt
                continue
            while True:  # mark_subst_opts
                i = blanks(i)
                f = at(i)
                if f in "gpiImMe" or f.isdigit():
                    if f == "e":
                        # The pattern space after the substitution runs: the replacement is what
                        # is known of it (unknown when it copies matched text or has escapes).
                        known = "&" not in replacement and "\\" not in replacement and replacement.strip()
                        out.append(("exec", replacement if known else None))
                    i += 1
                elif f == "w":
                    name, i = filename(i + 1)
                    if not name:
                        return None
                    out.append(("write", name))
                    break
                elif f in "}#":
                    break
                elif f in ";\n" + _SED_EOF:
                    i += 1
                    break
                elif f == "\r" and at(i + 1) == "\n":
                    i += 2
                    break
                else:
                    return None
        else:
            return None
    if depth:
        return None
    return out


def _std_writes(effects: Sequence[ScriptEffect]) -> list[str]:
    return [arg for kind, arg in effects if kind == "write" and arg is not None and _script_output(arg) == "std"]


@lru_cache(maxsize=1024)
def sed_scan(args: tuple[tuple[str, bool], ...]) -> ScriptScan:
    """Findings for sed with these (value, literal) arguments."""
    scripts: list[str] = []
    findings: list[tuple[Risk | None, str]] = []
    operands: list[tuple[str, bool]] = []
    from_file = False
    late_script = False  # -e/-f after an operand: with POSIXLY_CORRECT the operand is the script
    i = 0
    n = len(args)
    while i < n:
        v, lit = args[i]
        i += 1
        if not lit:
            operands.append((v, lit))
            continue
        if v == "--":
            operands.extend(args[i:])
            break
        value: tuple[str, bool] | None = None
        which = ""
        if v.startswith("--"):
            opt, eq, attached = v.partition("=")
            opt = resolve_long(opt, _SED_LONGS)
            if opt in ("--expression", "--file", "--line-length"):
                which = opt
                value = (attached, True) if eq else (args[i] if i < n else ("", True))
                i += 0 if eq else 1
        elif v.startswith("-") and len(v) > 1:
            for pos in range(1, len(v)):
                c = v[pos]
                if c in "efl":
                    which = {"e": "--expression", "f": "--file", "l": "--line-length"}[c]
                    value = (v[pos + 1:], True) if pos + 1 < len(v) else (args[i] if i < n else ("", True))
                    i += 0 if pos + 1 < len(v) else 1
                    break
                if c == "i":
                    break  # -i[SUFFIX]: the rest of the word is the suffix
        else:
            operands.append((v, lit))
            continue
        late_script = late_script or (bool(operands) and which in ("--expression", "--file"))
        if which == "--expression" and value is not None:
            from_file = from_file or not value[1]  # an expanded script: judged as not literal
            if value[1]:
                scripts.append(value[0])
        elif which == "--file" and value is not None:
            from_file = True
            findings.append((MEDIUM, f"sed reads its script from {value[0][:60]!r}, which this line does not show"))
    programs = [scripts] if scripts else []
    if ((not scripts and not from_file) or late_script) and operands and operands[0][1]:
        programs.append([operands[0][0]])
    commands: list[str] = []
    std: list[str] = []
    for program in programs:
        effects = _sed_effects(program)
        shown = "\n".join(program)[:40]
        if effects is None:
            findings.append((MEDIUM, f"sed script {shown!r} could not be analysed"))
            continue
        std.extend(_std_writes(effects))
        for kind, arg in effects:
            if kind == "exec":
                if arg is None:
                    findings.append((HIGH, f"sed script {shown!r} runs text built at run time as a command"))
                else:
                    findings.append((MEDIUM, f"sed script runs the command line {arg[:60]!r}"))
                    commands.append(arg)
            elif kind == "write":
                if arg is None or _script_output(arg) == "file":
                    findings.append((MEDIUM, f"sed script writes the file {arg!r}"))
            else:
                findings.append((MEDIUM, f"sed script reads the file {arg!r}"))
    return tuple(findings), tuple(commands), tuple(std)


# -- awk ---------------------------------------------------------------------------------------

_AWK_LONGS = ("--assign", "--bignum", "--characters-as-bytes", "--copyright", "--debug", "--dump-variables",
              "--exec", "--field-separator", "--file", "--gen-pot", "--help", "--include", "--lint", "--lint-old",
              "--load", "--no-optimize", "--non-decimal-data", "--optimize", "--posix", "--pretty-print",
              "--profile", "--re-interval", "--sandbox", "--source", "--trace", "--traditional",
              "--use-lc-numeric", "--version")
_AWK_VALUE = frozenset("fvFeEilW")  # short options that take a value (attached or the next word)
_AWK_OPTIONAL = frozenset("dDoLp")  # gawk options whose value is optional (attached only)
_AWK_TWO_CHAR = frozenset({"||", "&&", ">>", ">=", "<=", "==", "!=", "++", "--", "+=", "-=", "*=", "/=", "%=",
                           "^=", "**", "|&"})
# Escapes gawk and mawk decode alike; any other (`\m`: gawk drops the backslash, mawk keeps it)
# makes the string's value unknown.
_AWK_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "/": "/", "r": "\r", "a": "\a", "b": "\b",
                "f": "\f", "v": "\v"}
# After these words awk reads an operand, so `/` starts a regex (`print /#/`).
_AWK_OPERAND_NEXT = frozenset({"print", "printf", "return", "case", "do", "else", "in", "delete", "exit", "if",
                               "while", "for", "switch", "BEGIN", "END", "BEGINFILE", "ENDFILE", "function", "func"})
# Words after which `/` may be either (a call without parentheses, getline's optional variable).
_AWK_EITHER = frozenset({"getline", "length", "next", "nextfile", "break", "continue", "default", "substr",
                         "index", "split", "sub", "gsub", "match", "sprintf", "sin", "cos", "atan2", "exp", "log",
                         "sqrt", "int", "rand", "srand", "tolower", "toupper", "system", "close", "fflush",
                         "gensub", "strftime", "systime", "mktime", "and", "or", "xor", "lshift", "rshift",
                         "compl", "asort", "asorti", "patsplit", "isarray", "typeof", "strtonum"})
_AWK_MAX_READINGS = 32
_AWK_CONTINUES = frozenset({",", "&&", "||", "{", "?", ":", "(", "["})  # a newline after these continues
AwkToken = tuple[str, str | None]  # (kind, text); a str token's text is None when its value is unknown


def _awk_string(p: str, i: int) -> tuple[str | None, int] | None:
    """The string literal whose opening quote is at i-1: (value or None when unknown, index after
    the closing quote). None when it does not end on the line."""
    buf: list[str] = []
    known = True
    n = len(p)
    while i < n and p[i] != '"':
        c = p[i]
        if c == "\n":
            return None
        if c != "\\":
            buf.append(c)
            i += 1
            continue
        if i + 1 >= n:
            return None
        e = p[i + 1]
        i += 2
        if e in _AWK_ESCAPES:
            buf.append(_AWK_ESCAPES[e])
        elif e in "01234567":
            j = i - 1
            while j < n and j < i + 2 and p[j] in "01234567":
                j += 1
            buf.append(chr(int(p[i - 1:j], 8) & 0xFF))
            i = j
        elif e == "x" and i < n and p[i] in "0123456789abcdefABCDEF":
            j = i
            while j < n and p[j] in "0123456789abcdefABCDEF":
                j += 1
            if j - i > 2:
                known = False  # older gawk reads every hex digit, mawk and newer gawk two
            buf.append(chr(int(p[i:i + 2], 16)))
            i = min(j, i + 2)
        else:
            known = False
    if i >= n:
        return None
    return ("".join(buf) if known else None), i + 1


def _awk_regex_ends(p: str, i: int) -> set[int]:
    """Where a regex literal starting at i (after its `/`) may end (the index of the closing `/`):
    awks differ on bracket expressions. The one true awk ends at the first unescaped `/`; gawk
    and mawk skip `[...]` with a `]` first (`[^]/]`) and `[:class:]` inside; POSIX also skips
    `[.x.]` and `[=x=]`."""
    n = len(p)
    ends: set[int] = set()

    def plain(j: int) -> None:
        while j < n and p[j] not in "/\n":
            j += 2 if p[j] == "\\" else 1
        if j < n and p[j] == "/":
            ends.add(j)

    def gawk(j: int) -> None:
        depth = 0
        start = -1
        while j < n:
            c = p[j]
            if c == "\n":
                return
            if c == "\\":
                j += 2
                continue
            if c == "[":
                if depth == 0 or p[j + 1:j + 2] == ":":
                    depth += 1
                if depth == 1 and start < 0:
                    start = j
            elif c == "]" and depth:
                if not (j == start + 1 or (j == start + 2 and p[start + 1] == "^")):
                    depth -= 1
                    if depth == 0:
                        start = -1
            elif c == "/" and depth == 0:
                ends.add(j)
                return
            j += 1

    def posix(j: int, escapes_in_brackets: bool) -> None:
        while j < n:
            c = p[j]
            if c == "\n":
                return
            if c == "\\":
                j += 2
                continue
            if c == "/":
                ends.add(j)
                return
            if c == "[":
                end = _sed_bracket_end(_mask_escapes(p) if escapes_in_brackets else p, j + 1)
                if end is None:
                    return
                j = end
                continue
            j += 1

    plain(i)
    gawk(i)
    posix(i, False)
    posix(i, True)
    return ends


def _mask_escapes(p: str) -> str:
    """`p` with each escaped character replaced by a letter, so a bracket scan skips `\\]`."""
    return re.sub(r"\\(.)", lambda m: "\\x", p, flags=re.S)


def _awk_slash_starts_regex(toks: Sequence[AwkToken], cond_close: bool) -> str:
    """Whether a `/` after these tokens starts a regex ("re"), divides ("div"), or may be read
    either way ("either"): awk reads a regex where its grammar wants an operand."""
    if not toks:
        return "re"
    kind, text = toks[-1]
    if kind == "nl":
        return "re"
    if kind in ("str", "num", "re"):
        return "div"
    if kind == "word":
        assert text is not None
        if text in _AWK_OPERAND_NEXT:
            return "re"
        if text in _AWK_EITHER or text.startswith("@"):
            return "either"
        return "div"
    if text == "]":
        return "div"
    if text == ")":
        return "re" if cond_close else "div"
    if text in ("++", "--"):
        return "either"
    return "re"


def _awk_lex(p: str) -> list[list[AwkToken]] | None:
    """Every way the awks may tokenise the program: strings (decoded), regex literals, words,
    numbers, operators and newlines. None when there are too many, or none that ends properly."""
    done: list[list[AwkToken]] = []
    # (index, tokens so far, open parentheses (True: an if/while/for/switch condition), whether
    # the last token closed a condition)
    pending: list[tuple[int, list[AwkToken], tuple[bool, ...], bool]] = [(0, [], (), False)]
    n = len(p)
    while pending:
        if len(done) + len(pending) > _AWK_MAX_READINGS:
            return None
        i, toks, parens, cond_close = pending.pop()
        ok = True
        while i < n:
            c = p[i]
            closed = False
            if c in " \t\r":
                i += 1
                continue
            if c == "\\" and i + 1 < n and p[i + 1] in "\r\n":
                i += 2
                continue
            if c == "\n":
                toks.append(("nl", c))
                i += 1
            elif c == "#":
                k = p.find("\n", i)
                i = n if k < 0 else k
                continue
            elif c == '"':
                got = _awk_string(p, i + 1)
                if got is None:
                    ok = False
                    break
                toks.append(("str", got[0]))
                i = got[1]
            elif c == "/" and (how := _awk_slash_starts_regex(toks, cond_close)) != "div":
                ends = sorted(_awk_regex_ends(p, i + 1))
                if how == "either":
                    division = [*toks, ("op", "/=" if p[i + 1:i + 2] == "=" else "/")]
                    pending.append((i + len(division[-1][1] or "/"), division, parens, False))
                if not ends:
                    ok = False
                    break
                for end in ends[1:]:
                    pending.append((end + 1, [*toks, ("re", "")], parens, False))
                toks.append(("re", ""))
                i = ends[0] + 1
            elif c.isalpha() or c == "_" or c == "@":
                j = i + 1
                while j < n and (p[j].isalnum() or p[j] == "_"):
                    j += 1
                toks.append(("word", p[i:j]))
                i = j
            elif c.isdigit() or (c == "." and i + 1 < n and p[i + 1].isdigit()):
                j = i + 1
                while j < n and (p[j].isalnum() or p[j] == "."):
                    j += 1
                toks.append(("num", p[i:j]))
                i = j
            elif p[i:i + 2] in _AWK_TWO_CHAR:
                toks.append(("op", p[i:i + 2]))
                i += 2
            else:
                if c == "(":
                    prev = toks[-1] if toks else ("", "")
                    parens = (*parens, prev[0] == "word" and prev[1] in ("if", "while", "for", "switch"))
                elif c == ")" and parens:
                    closed = parens[-1]
                    parens = parens[:-1]
                toks.append(("op", c))
                i += 1
            cond_close = closed
        if ok:
            done.append(toks)
    return done or None


def _awk_stream_effects(toks: Sequence[AwkToken]) -> list[tuple[str, str | None, str | None]]:
    """Effects of one reading of an awk program: (kind, argument, printed text). Kinds: exec,
    pipe (a print piped into a command line; the text printed when it is one literal string),
    write, load, include, net (gawk /inet special files)."""
    out: list[tuple[str, str | None, str | None]] = []
    n = len(toks)
    in_print = False
    depth = 0
    print_depth = 0
    print_from = 0

    def ends_expr(t: AwkToken) -> bool:
        return t[0] in ("nl", "") or t[1] in (";", "}", ")")

    for k, (kind, text) in enumerate(toks):
        nxt = toks[k + 1] if k + 1 < n else ("", "")
        after = toks[k + 2] if k + 2 < n else ("", "")
        if kind == "word":
            assert text is not None
            if text in ("print", "printf"):
                in_print, print_depth, print_from = True, depth, k + 1
            elif text == "system":
                # Without parentheses the one true awk calls system($0) (as `length` means length($0)).
                lit = nxt == ("op", "(") and after[0] == "str" and k + 3 < n and toks[k + 3] == ("op", ")")
                out.append(("exec", after[1] if lit else None, None))
            elif text == "@load":
                out.append(("load", nxt[1], None))
            elif text == "@include":
                out.append(("include", nxt[1], None))
            elif text.startswith("@") and text != "@namespace" and nxt == ("op", "("):
                out.append(("exec", None, None))  # gawk's indirect call: `f = "system"; @f("...")`
            elif text == "getline":
                source = _getline_source(toks, k + 1)
                if source is not None:
                    target = source[1]
                    if target is None or target.startswith("/inet"):
                        out.append(("net", target, None))
            continue
        if kind == "nl":
            prev = toks[k - 1] if k else ("nl", "")
            if depth <= print_depth and not (prev[0] == "op" and prev[1] in _AWK_CONTINUES) and not (
                    prev[0] == "word" and prev[1] in ("do", "else")):
                in_print = False
            continue
        if kind != "op":
            continue
        if text in (";", "{", "}"):
            in_print = False
        elif text in ("(", "["):
            depth += 1
        elif text in (")", "]"):
            depth -= 1
        elif text in ("|", "|&"):
            if nxt == ("word", "getline"):
                prev = toks[k - 1] if k else ("", "")
                before = toks[k - 2] if k > 1 else ("nl", "")
                lit = prev[0] == "str" and (before[0] in ("nl", "") or before[1] in (";", "{", "}", "(", ","))
                out.append(("exec", prev[1] if lit else None, None))
            elif text == "|&":
                out.append(("exec", None, None))  # a coprocess: it reads and writes at will
            else:
                target = nxt[1] if nxt[0] == "str" and ends_expr(after) else None
                printed = toks[print_from:k] if in_print else []
                said = printed[0][1] if len(printed) == 1 and printed[0][0] == "str" else None
                out.append(("pipe", target, said))
        elif text in (">", ">>") and in_print and depth == print_depth:
            lit = nxt[0] == "str" and ends_expr(after)
            out.append(("write", nxt[1] if lit else None, None))
    return out


def _getline_source(toks: Sequence[AwkToken], j: int) -> tuple[bool, str | None] | None:
    """The file `getline [VAR] < FILE` reads, for the tokens after `getline`: None when it reads
    no file; (True, name) for a literal name, (True, None) for one built at run time."""
    n = len(toks)
    depth = 0
    while j < n:
        kind, text = toks[j]
        if kind == "nl" or (kind == "op" and text in (";", "{", "}", "|", "|&")):
            return None
        if kind == "op" and text in ("(", "["):
            depth += 1
        elif kind == "op" and text in (")", "]"):
            depth -= 1
            if depth < 0:
                return None
        elif kind == "op" and text == "<" and depth == 0:
            target = toks[j + 1] if j + 1 < n else ("", "")
            after = toks[j + 2] if j + 2 < n else ("", "")
            literal = target[0] == "str" and (after[0] in ("nl", "") or after[1] in (";", "}", ")"))
            return True, target[1] if literal else None
        elif (kind == "op" and text != "$") or (kind == "word" and text in _AWK_OPERAND_NEXT):
            return None
        j += 1
    return None


def _awk_effects(p: str) -> list[tuple[str, str | None, str | None]] | None:
    """What an awk program does besides computing, under every reading the awks may give it (see
    `_awk_stream_effects`). None: unreadable."""
    streams = _awk_lex(p)
    if streams is None:
        return None
    return list(dict.fromkeys(e for toks in streams for e in _awk_stream_effects(toks)))


def _piped_line(command: str, said: str | None) -> str:
    """The shell line equivalent to awk's `print TEXT | "COMMAND"`: COMMAND reads TEXT on its
    standard input, as in `printf '%s\\n' TEXT | COMMAND` (an unknown TEXT is an expansion)."""
    text = shlex.quote(said) if said is not None else '"$awk_output"'
    return f"printf '%s\\n' {text} | {command}"


@lru_cache(maxsize=1024)
def awk_scan(args: tuple[tuple[str, bool], ...], name: str = "awk") -> ScriptScan:
    """Findings for awk (`name`: awk, gawk, mawk or nawk) with these (value, literal) arguments.
    Options end at the first operand, the program (POSIX; gawk and mawk alike): a later `-e` or
    `--sandbox` is an ARGV entry."""
    programs: list[str] = []
    findings: list[tuple[Risk | None, str]] = []
    from_file = False
    sandbox = False
    operands: list[tuple[str, bool]] = []
    i = 0
    n = len(args)
    while i < n:
        v, lit = args[i]
        i += 1
        if not lit:
            operands.append((v, lit))
            operands.extend(args[i:])
            break
        if v == "--":
            operands.extend(args[i:])
            break
        opts: list[tuple[str, str]] = []  # (option letter or long name, value)
        if v.startswith("--"):
            opt, eq, attached = v.partition("=")
            opt = resolve_long(opt, _AWK_LONGS)
            value = attached
            if not eq and opt in ("--assign", "--exec", "--field-separator", "--file", "--include", "--load",
                                  "--source"):
                value = args[i][0] if i < n else ""
                i += 1
            opts.append((opt, value))
        elif v.startswith("-") and len(v) > 1:
            for pos in range(1, len(v)):
                c = v[pos]
                if c in _AWK_VALUE or c in _AWK_OPTIONAL:
                    value = v[pos + 1:]
                    if not value and c in _AWK_VALUE:
                        value = args[i][0] if i < n else ""
                        i += 1
                    opts.append((c, value))
                    break
                opts.append((c, ""))
        else:
            operands.append((v, lit))
            operands.extend(args[i:])
            break
        for opt, value in opts:
            if opt in ("e", "--source"):
                programs.append(value)
            elif opt in ("f", "--file", "E", "--exec", "i", "--include"):
                from_file = True
                findings.append((MEDIUM, f"awk reads program text from {value[:60]!r}, which this line does not "
                                         "show"))
            elif opt in ("l", "--load"):
                findings.append((HIGH, f"awk loads the shared library {value[:60]!r}"))
            elif opt in ("o", "p", "d", "--pretty-print", "--profile", "--dump-variables"):
                findings.append((MEDIUM, f"awk {opt} writes a file"))
            elif opt in ("D", "--debug", "W"):
                findings.append((MEDIUM, f"awk {opt} {value[:30]!r} changes how the program is read or run"))
            elif opt == "--sandbox":
                # Only gawk has it (the one true awk ignores options it does not know).
                sandbox = name == "gawk"
    if not programs and not from_file and operands and operands[0][1]:
        programs.append(operands[0][0])
    commands: list[str] = []
    std: list[str] = []
    for prog in programs:
        effects = _awk_effects(prog)
        if effects is None:
            findings.append((MEDIUM, f"awk program {prog[:40]!r} could not be analysed"))
            continue
        for kind, arg, said in effects:
            if kind == "load":
                findings.append((HIGH, f"awk @load loads the shared library {arg!r}"))
            elif kind == "include":
                findings.append((MEDIUM, f"awk @include reads program text from {arg!r}"))
            elif sandbox:
                continue  # gawk --sandbox refuses system(), pipes, output redirection and /inet
            elif kind == "net":
                findings.append((MEDIUM, f"the awk program reads {arg!r}" if arg is not None else
                                 "the awk program reads a file it names at run time (gawk: maybe a network socket)"))
            elif kind in ("exec", "pipe"):
                if arg is None:
                    findings.append((HIGH, "the awk program runs a command line built at run time"))
                elif kind == "exec":
                    findings.append((MEDIUM, f"the awk program runs the command line {arg[:60]!r}"))
                    commands.append(arg)
                else:
                    findings.append((MEDIUM, f"the awk program prints into the command line {arg[:60]!r}"))
                    commands.append(_piped_line(arg, said))
            elif arg is None:
                findings.append((MEDIUM, "the awk program writes a file it names at run time"))
            else:
                where = _script_output(arg)
                if where == "std":
                    std.append(arg)
                elif where == "file":
                    findings.append((MEDIUM, f"the awk program writes the file {arg!r}"))
    return tuple(findings), tuple(commands), tuple(std)
