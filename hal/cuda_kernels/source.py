"""The CUDA C front end: a CuPy-style kernel source into a pycparser tree.

Three steps, none of them a regular expression over the source text:

1. the C preprocessor (``cpp``) expands the user's ``#define``s and ``#include``s, with
   ``include/hal_cuda_prelude.h`` read first: it turns CUDA's declaration words into C99
   words pycparser keeps in its tree (``__global__`` -> ``_Noreturn``, ``__shared__`` ->
   ``_Thread_local``, ``__constant__`` -> ``register``, ``__restrict__`` -> ``restrict``) and
   declares CUDA's type names;
   the CUDA headers a kernel includes (``cuda_fp16.h``, ...) are empty stand-ins there;
2. a pass over pycparser's own lexer tokens removes what C99 cannot parse and what
   hal translates anyway (``extern "C"``, functional casts ``float(x)`` and
   ``static_cast<T>(x)``) and rejects the C++ and CUDA constructs hal does not support
   (inline assembly, templates, namespaces, kernel launches inside kernels, textures)
   with a ``hal.CompileError`` naming the construct and its line;
3. pycparser parses the tokens, re-laid on their original lines.

The CUDA C++ language is NVIDIA's "CUDA C++ Programming Guide", appendix "C++ Language
Support"; pycparser parses C99 (ISO/IEC 9899:1999).
"""
from __future__ import annotations

import os
import subprocess

from pycparser import c_ast
from pycparser.c_lexer import CLexer
from pycparser.c_parser import CParser, ParseError

from hal.errors import CompileError

INCLUDE_DIR = os.path.join(os.path.dirname(__file__), "include")
PRELUDE = os.path.join(INCLUDE_DIR, "hal_cuda_prelude.h")
SOURCE_NAME = "kernel.cu"

# Identifiers that start a construct hal cannot run: what the token pass rejects.
_UNSUPPORTED_WORDS = {
    "asm": "inline assembly (asm)", "__asm__": "inline assembly (asm)", "__asm": "inline assembly (asm)",
    "template": "C++ templates", "namespace": "C++ namespaces", "class": "C++ classes",
    "texture": "textures", "surface": "surfaces",
    "cooperative_groups": "cooperative groups", "new": "C++ new", "delete": "C++ delete",
}
_UNSUPPORTED_KEYWORDS = {"UNION": "unions", "ENUM": "enums",
                         "AUTO": "C++ auto (type deduction)"}
_CASTS = ("static_cast", "reinterpret_cast", "const_cast")
_TYPE_KEYWORDS = {"CHAR", "SHORT", "INT", "LONG", "FLOAT", "DOUBLE", "SIGNED", "UNSIGNED"}
_TYPEDEF_NAMES = {"bool", "half", "__half", "int8_t", "uint8_t", "int16_t", "uint16_t", "int32_t",
                  "uint32_t", "int64_t", "uint64_t", "size_t", "ptrdiff_t"}


def unsupported(construct: str, line, source: str, detail: str = "") -> CompileError:
    """The error for a construct hal does not translate, naming it and its line."""
    where = f"{SOURCE_NAME}:{line}: " if line else ""
    return CompileError("CUDA translation", f"{where}not supported: {construct}"
                        + (f" ({detail})" if detail else ""), source)


def parse(code: str, typedef_names=(), options=()) -> c_ast.FileAST:
    """The pycparser tree of CUDA source ``code``. ``typedef_names`` are extra type names
    the source uses as functional casts (``T(x)``) and declares itself; of the compiler
    ``options``, the macro definitions (``-DNAME=VALUE``) apply."""
    expanded = _preprocess(code, [o for o in options if o.startswith("-D")])
    tokens = _tokens(expanded, code)
    text = _relay(_rewrite(tokens, code, set(typedef_names) | _TYPEDEF_NAMES))
    try:
        return CParser().parse(text, filename=SOURCE_NAME)
    except ParseError as e:
        raise CompileError("CUDA translation", f"{e} (hal parses CUDA as C99 plus the CUDA words "
                           f"listed in README, 'CUDA kernels on every device')", code) from None


def is_prelude(node: c_ast.Node) -> bool:
    """Whether ``node`` comes from the prelude header rather than the user's source."""
    return node.coord is not None and os.path.basename(str(node.coord.file)) == os.path.basename(PRELUDE)


def _preprocess(code: str, defines: list) -> str:
    cmd = ["cpp", "-x", "c", "-std=c99", "-undef", "-nostdinc", "-I", INCLUDE_DIR, "-include", PRELUDE,
           *defines, "-", "-o", "-"]
    try:
        proc = subprocess.run(cmd, input=code.replace("\r\n", "\n"), capture_output=True, text=True)
    except OSError as e:
        raise CompileError("CUDA translation", f"cannot run the C preprocessor (cpp): {e}", code) from None
    if proc.returncode:
        raise CompileError("CUDA translation", proc.stderr.replace("<stdin>", SOURCE_NAME), code)
    # cpp names standard input "<stdin>" in its line markers
    return proc.stdout


def _tokens(text: str, code: str) -> list:
    """(token, file, line) for every token, through pycparser's own lexer."""
    def error(msg, line, column):
        raise CompileError("CUDA translation", f"{SOURCE_NAME}:{line}:{column}: {msg}", code)

    try:
        lexer = CLexer(error)  # pycparser 3.1 and later
    except TypeError:  # 3.0 takes the parser's scope callbacks too
        lexer = CLexer(error, lambda: None, lambda: None, lambda name: False)
    lexer.input(text)
    out = []
    while (tok := lexer.token()) is not None:
        if tok.type in ("PPPRAGMA", "PPPRAGMASTR"):
            continue  # (#pragma unroll: a hint the targets' compilers make on their own)
        name = "kernel.cu" if lexer.filename in ("<stdin>", "") else lexer.filename
        out.append((tok, name, tok.lineno))
    return out


def _rewrite(tokens: list, code: str, type_names: set) -> list:
    """The token list with ``extern "C"`` and C++ casts rewritten to C; unsupported
    constructs raise."""
    out, i, braces, skip_close = [], 0, 0, []
    parens, close_cast = 0, []  # (a C++ cast's argument: its closing parenthesis closes the cast too)
    struct_tags = set()  # (C++ names a struct without the word struct: C needs it)
    while i < len(tokens):
        tok, name, line = tokens[i]
        nxt = tokens[i + 1][0] if i + 1 < len(tokens) else None
        prev = out[-1][0] if out else None
        if tok.type == "ID" and tok.value in _UNSUPPORTED_WORDS:
            raise unsupported(_UNSUPPORTED_WORDS[tok.value], line, code)
        if tok.type in _UNSUPPORTED_KEYWORDS and name == SOURCE_NAME:  # (the prelude's vector types are structs)
            raise unsupported(_UNSUPPORTED_KEYWORDS[tok.type], line, code)
        if (tok.type == "AND" and nxt is not None and nxt.type == "ID" and prev is not None
                and (prev.type in _TYPE_KEYWORDS or prev.type == "VOID" or prev.value in type_names)):
            raise unsupported("C++ references (T&)", line, code)
        if tok.type in ("LSHIFT", "LT") and _is_launch(tokens, i):
            raise unsupported("dynamic parallelism (a kernel launch <<<...>>> inside a kernel)", line, code)
        if tok.type == "COLON" and nxt is not None and nxt.type == "COLON":
            raise unsupported("C++ scope resolution (::)", line, code)
        if tok.type == "EXTERN" and nxt is not None and nxt.type == "STRING_LITERAL":
            i += 2  # extern "C": C linkage is what every target has
            if i < len(tokens) and tokens[i][0].type == "LBRACE":  # extern "C" { ... }: drop the braces
                skip_close.append(braces)
                braces += 1
                i += 1
            continue
        if tok.type == "LBRACE":
            braces += 1
        if tok.type == "RBRACE":
            braces -= 1
            if skip_close and skip_close[-1] == braces:
                skip_close.pop()
                i += 1
                continue
        if tok.type == "ID" and prev is not None and prev.type == "STRUCT" and name == SOURCE_NAME:
            struct_tags.add(tok.value)
        elif tok.type == "ID" and tok.value in struct_tags and not (prev is not None and prev.type in ("PERIOD",
                                                                                                      "ARROW")):
            out.append((_tok("STRUCT", "struct"), name, line))
        if tok.type == "ID" and tok.value == "complex":
            i = _complex(tokens, i, out, code)
            continue
        if tok.type == "ID" and tok.value in _CASTS:
            i = _cpp_cast(tokens, i, out, code)
            close_cast.append(parens)
            continue
        if tok.type == "LPAREN":
            parens += 1
        if tok.type == "RPAREN":
            parens -= 1
            if close_cast and close_cast[-1] == parens:
                close_cast.pop()
                out += [tokens[i], (_tok("RPAREN", ")"), name, line)]
                i += 1
                continue
        is_type = tok.type in _TYPE_KEYWORDS or (tok.type == "ID" and tok.value in type_names)
        if is_type and nxt is not None and nxt.type == "LPAREN" and not (prev and prev.type in ("SIZEOF", "LPAREN")
                                                                         or prev and prev.type in _TYPE_KEYWORDS):
            # a functional cast float(x): C's (float)(x)
            out += [(_tok("LPAREN", "("), name, line), tokens[i], (_tok("RPAREN", ")"), name, line)]
            i += 1
            continue
        out.append(tokens[i])
        i += 1
    return out


_COMPLEX = {"float": "c64", "double": "c128"}


def _complex(tokens: list, i: int, out: list, code: str) -> int:
    """``complex<float>`` (CuPy's cupy/complex.cuh) as the type name ``hal_c64``, or, before
    ``(``, as the constructor ``hal_make_c64``; returns the index after ``>``."""
    name, line = tokens[i][1], tokens[i][2]
    words = [t.value for t, _, _ in tokens[i + 1:i + 4]]
    if len(words) < 3 or words[0] != "<" or words[2] != ">" or words[1] not in _COMPLEX:
        raise unsupported("complex<T> other than complex<float> and complex<double>", line, code)
    after = tokens[i + 4][0] if i + 4 < len(tokens) else None
    constructor = after is not None and after.type == "LPAREN"
    word = ("hal_make_" if constructor else "hal_") + _COMPLEX[words[1]]
    out.append((_tok("ID", word), name, line))
    return i + 4


def _is_launch(tokens: list, i: int) -> bool:
    """``<<<`` (lexed as ``<<`` ``<``)."""
    a = tokens[i][0]
    b = tokens[i + 1][0] if i + 1 < len(tokens) else None
    return a.type == "LSHIFT" and b is not None and b.type == "LT"


def _cpp_cast(tokens: list, i: int, out: list, code: str) -> int:
    """``static_cast<T>(x)`` as ``((T)(x))`` (the caller closes the outer parenthesis
    after ``(x)``); returns the index after ``>``."""
    line = tokens[i][2]
    if i + 1 >= len(tokens) or tokens[i + 1][0].type != "LT":
        raise unsupported(tokens[i][0].value + " without <type>", line, code)
    j = i + 2
    out += [(_tok("LPAREN", "("), tokens[i][1], line), (_tok("LPAREN", "("), tokens[i][1], line)]
    while j < len(tokens) and tokens[j][0].type != "GT":
        out.append(tokens[j])
        j += 1
    out.append((_tok("RPAREN", ")"), tokens[i][1], line))
    if j + 1 >= len(tokens) or tokens[j + 1][0].type != "LPAREN":
        raise unsupported(tokens[i][0].value + "<type> without (expression)", line, code)
    return j + 1


class _Tok:
    __slots__ = ("type", "value")

    def __init__(self, type_, value):
        self.type, self.value = type_, value


def _tok(type_: str, value: str) -> _Tok:
    return _Tok(type_, value)


def _relay(tokens: list) -> str:
    """Tokens back to text, each on its original line (``#line`` where the file changes),
    so pycparser's coordinates are the user's lines."""
    lines, current_file, current_line = [], None, 0
    for tok, name, line in tokens:
        if name != current_file or line < current_line or line > current_line + 8:
            lines.append(f'\n#line {line} "{name}"\n')
            current_file, current_line = name, line
        while current_line < line:
            lines.append("\n")
            current_line += 1
        lines.append(tok.value + " ")
    return "".join(lines)
