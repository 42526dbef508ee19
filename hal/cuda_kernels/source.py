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

import itertools
import os
import re
import subprocess
from dataclasses import dataclass

from pycparser import c_ast
from pycparser.c_lexer import CLexer
from pycparser.c_parser import CParser, ParseError

from hal.errors import CompileError

INCLUDE_DIR = os.path.join(os.path.dirname(__file__), "include")
PRELUDE = os.path.join(INCLUDE_DIR, "hal_cuda_prelude.h")
SOURCE_NAME = "kernel.cu"
# The type parameters of a template helper called without template arguments: typedefs the
# translator binds to the types the arguments have, per call (GENERIC_PREFIX + f + "__" + T)
GENERIC_PREFIX = "hal_tp_"

# Identifiers that start a construct hal cannot run: what the token pass rejects.
_UNSUPPORTED_WORDS = {
    "asm": "inline assembly (asm)", "__asm__": "inline assembly (asm)", "__asm": "inline assembly (asm)",
    "namespace": "C++ namespaces", "class": "C++ classes",
    "texture": "textures", "surface": "surfaces",
    "cooperative_groups": "cooperative groups", "new": "C++ new", "delete": "C++ delete",
    "cudaTextureObject_t": "textures", "cudaSurfaceObject_t": "surfaces",
    **dict.fromkeys(("half2", "__half2"), "__half2"),
    **dict.fromkeys(("__nv_bfloat16", "nv_bfloat16", "__nv_bfloat162", "nv_bfloat162"), "bfloat16"),
}
# Texture and surface functions called with template arguments (tex1Dfetch<float>(t, i)), which C cannot parse
_TEXTURE_CALL = re.compile(r"(tex|surf)(1D|2D|3D|Cubemap)\w*$")
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


def parse(code: str, typedef_names=(), options=(), name_expressions=()) -> c_ast.FileAST:
    """The pycparser tree of CUDA source ``code``. ``typedef_names`` are extra type names
    the source uses as functional casts (``T(x)``) and declares itself; of the compiler
    ``options``, the macro definitions (``-DNAME=VALUE``) apply; ``name_expressions``
    (``"scale<float>"``) instantiate the source's function templates (``template_symbol``
    names each instance)."""
    expanded = _preprocess(code, [o for o in options if o.startswith("-D")])
    tokens = _default_arguments(_instantiate(_tokens(expanded, code), name_expressions, code))
    text = _relay(_rewrite(tokens, code, set(typedef_names) | _TYPEDEF_NAMES))
    try:
        return CParser().parse(text, filename=SOURCE_NAME)
    except ParseError as e:
        raise CompileError("CUDA translation", f"{e} (hal parses CUDA as C99 plus the CUDA words "
                           f"listed in README, 'CUDA kernels on every device')", code) from None


def user_tokens(code: str) -> list:
    """(token, line) of ``code``'s own tokens, preprocessed (the prelude's left out): for
    checks on a fragment such as an ElementwiseKernel's operation."""
    return [(tok, line) for tok, file, line in _tokens(_preprocess(code, []), code) if file == SOURCE_NAME]


def is_prelude(node: c_ast.Node) -> bool:
    """Whether ``node`` comes from the prelude header rather than the user's source."""
    return node.coord is not None and os.path.basename(str(node.coord.file)) == os.path.basename(PRELUDE)


def _closing(tokens: list, i: int) -> int:
    """The index of the parenthesis closing the one at ``i``."""
    depth = 0
    for k in range(i, len(tokens)):
        depth += {"LPAREN": 1, "RPAREN": -1}.get(tokens[k][0].type, 0)
        if depth == 0:
            return k
    return len(tokens) - 1


def _arguments(tokens: list, i: int, end: int) -> list:
    """The comma-separated token runs between the parentheses at ``i`` and ``end``."""
    runs, run, depth = [], [], 0
    for k in range(i + 1, end):
        t = tokens[k][0].type
        depth += {"LPAREN": 1, "LBRACKET": 1, "LBRACE": 1, "RPAREN": -1, "RBRACKET": -1, "RBRACE": -1}.get(t, 0)
        if t == "COMMA" and depth == 0:
            runs.append(run)
            run = []
        else:
            run.append(tokens[k])
    return runs + [run] if run or runs else []


def _default_arguments(tokens: list) -> list:
    """C++'s default arguments (``float scale(float x, float a = 2.0f)``): taken out of the
    functions' declarations and written into the calls that leave them out."""
    defaults, out, i = {}, [], 0  # (function name -> (its parameter count, {index: default tokens}))
    while i < len(tokens):
        tok = tokens[i][0]
        prev = out[-1][0] if out else None
        if (tok.type == "ID" and i + 1 < len(tokens) and tokens[i + 1][0].type == "LPAREN" and prev is not None
                and (prev.type in _TYPE_KEYWORDS or prev.type in ("VOID", "ID", "TIMES", "_BOOL"))):
            end = _closing(tokens, i + 1)
            params = _arguments(tokens, i + 1, end)
            given = {k: p[[t.type for t, _, _ in p].index("EQUALS") + 1:] for k, p in enumerate(params)
                     if any(t.type == "EQUALS" for t, _, _ in p)}
            if given and end + 1 < len(tokens) and tokens[end + 1][0].type in ("LBRACE", "SEMI"):
                defaults[tok.value] = (len(params), given)
                out += tokens[i:i + 2]
                for k, p in enumerate(params):
                    kept = p[:[t.type for t, _, _ in p].index("EQUALS")] if k in given else p
                    out += ([(_tok("COMMA", ","), *tokens[i][1:])] if k else []) + kept
                out.append(tokens[end])
                i = end + 1
                continue
        out.append(tokens[i])
        i += 1
    return _fill_defaults(out, defaults) if defaults else out


def _fill_defaults(tokens: list, defaults: dict) -> list:
    """The calls of functions with default arguments, the arguments left out written in."""
    out, i = [], 0
    while i < len(tokens):
        tok, file, line = tokens[i]
        if tok.type == "ID" and tok.value in defaults and i + 1 < len(tokens) and tokens[i + 1][0].type == "LPAREN":
            end = _closing(tokens, i + 1)
            count, given = defaults[tok.value]
            args = _arguments(tokens, i + 1, end)
            missing = [k for k in range(len(args), count) if k in given]
            inner = _fill_defaults(tokens[i + 2:end], defaults)
            out += tokens[i:i + 2] + inner
            for k in missing:
                out += ([(_tok("COMMA", ","), file, line)] if args or k > missing[0] else []) + \
                    [(_tok("LPAREN", "("), file, line)] + [(t, file, line) for t, _, _ in given[k]] + \
                    [(_tok("RPAREN", ")"), file, line)]
            out.append(tokens[end])
            i = end + 1
            continue
        out.append(tokens[i])
        i += 1
    return out


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
    complex_names = {}  # (typedef complex<float> T: T(re, im) constructs, as complex<float>(re, im) does)
    declared = None  # (in a declaration of complex values: its type's tokens and parenthesis depth)
    while i < len(tokens):
        tok, name, line = tokens[i]
        nxt = tokens[i + 1][0] if i + 1 < len(tokens) else None
        prev = out[-1][0] if out else None
        if tok.type == "ID" and tok.value in _UNSUPPORTED_WORDS:
            raise unsupported(_UNSUPPORTED_WORDS[tok.value], line, code)
        if tok.type == "ID" and nxt is not None and nxt.type == "LT" and _TEXTURE_CALL.match(tok.value):
            raise unsupported("textures" if tok.value.startswith("tex") else "surfaces", line, code)
        if tok.type in _UNSUPPORTED_KEYWORDS and name == SOURCE_NAME:  # (the prelude's vector types are structs)
            raise unsupported(_UNSUPPORTED_KEYWORDS[tok.type], line, code)
        if (tok.type == "AND" and nxt is not None and nxt.type == "ID" and prev is not None
                and (prev.type in _TYPE_KEYWORDS or prev.type == "VOID" or prev.value in type_names)):
            raise unsupported("C++ references (T&)", line, code)
        if tok.type in ("LSHIFT", "LT") and _is_launch(tokens, i):
            raise unsupported("dynamic parallelism (a kernel launch <<<...>>> inside a kernel)", line, code)
        if tok.type == "COLON" and nxt is not None and nxt.type == "COLON":
            raise unsupported("C++ scope resolution (::)", line, code)
        if tok.type == "ID" and tok.value == "static_assert":  # (a check at compile time: nothing runs)
            i = next((k for k in range(i, len(tokens)) if tokens[k][0].type == "SEMI"), len(tokens)) + 1
            continue
        if tok.type == "ID" and tok.value == "using":
            tokens = _using(tokens, i, code)  # (as a typedef, which this loop then rewrites: complex<float>...)
            continue
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
        in_body = braces > len(skip_close)  # (inside a function: extern "C" { } is no scope)
        if tok.type == "ID" and tok.value == "complex":
            if (prev is not None and prev.type == "TYPEDEF" and i + 5 < len(tokens)
                    and tokens[i + 2][0].value in _COMPLEX):
                complex_names[tokens[i + 4][0].value] = _COMPLEX[tokens[i + 2][0].value]
            start, i = i, _complex(tokens, i, out, code)
            if in_body and i < len(tokens) and tokens[i][0].type == "ID":
                declared = (tokens[start:i], parens)
                tokens = _direct_initialization(tokens, declared[0], i)
            continue
        if tok.type == "ID" and tok.value in complex_names and nxt is not None and nxt.type == "LPAREN":
            out.append((_tok("ID", "hal_make_" + complex_names[tok.value]), name, line))
            i += 1
            continue
        if tok.type == "ID" and tok.value in complex_names and in_body and nxt is not None and nxt.type == "ID":
            declared = ([tokens[i]], parens)
            tokens = _direct_initialization(tokens, declared[0], i + 1)
        if tok.type == "COMMA" and declared and declared[1] == parens:  # (the declaration's next declarator)
            tokens = _direct_initialization(tokens, declared[0], i + 1)
        if tok.type == "SEMI":
            declared = None
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
        is_type = tok.type in _TYPE_KEYWORDS or (tok.type == "ID" and (tok.value in type_names
                                                                      or tok.value.startswith(GENERIC_PREFIX)))
        if is_type and nxt is not None and nxt.type == "LPAREN" and not (prev and prev.type == "SIZEOF"
                                                                         or prev and prev.type in _TYPE_KEYWORDS
                                                                         or _pointer_declarator(tokens, i + 1)):
            # a functional cast float(x): C's (float)(x)
            out += [(_tok("LPAREN", "("), name, line), tokens[i], (_tok("RPAREN", ")"), name, line)]
            i += 1
            continue
        out.append(tokens[i])
        i += 1
    return out


# -- function templates: instantiated on tokens, for CuPy's RawModule(name_expressions=...)

@dataclass
class _Template:
    name: str
    params: list        # the parameters' names (type and non-type alike)
    values: list        # for each, whether it is a non-type parameter (a value: substituted in parentheses)
    declaration: list   # the tokens after template<...>, to the end of the function's body
    line: int


def template_symbol(expression: str) -> str:
    """The C name of the instance ``expression`` names (``"scale<float>"`` ->
    ``hal_tpl_scale_float``); the expression's tokens decide it, not its spacing."""
    tokens = [t for t, _, _ in _tokens(expression, expression)]
    return "hal_tpl_" + "_".join(_symbol_part(t.value) for t in tokens if t.value not in "<>,")


def _symbol_part(word: str) -> str:
    return word if word.isidentifier() or word.isalnum() else "".join(
        c if c.isalnum() else {"*": "p", "-": "m", ".": "d"}.get(c, f"x{ord(c):x}") for c in word)


def _instantiate(tokens: list, expressions, code: str) -> list:
    """``tokens`` with each function template replaced by the instances ``expressions``
    name and those their bodies (and the other code) name with explicit arguments
    (``helper<T>(x)``), each a plain function named by ``template_symbol``. Template
    arguments are substituted as tokens: types as written, values in parentheses."""
    rest, templates = _templates(tokens, code)
    if not templates:
        return tokens
    kernels = [t for t in templates.values() if any(tok.value == "_Noreturn" for tok, _, _ in t.declaration)]
    if kernels and not expressions:  # (helpers need none: the code's explicit uses make their instances)
        raise unsupported("C++ templates", kernels[0].line, code,
                          "instantiate them with RawModule(code=..., name_expressions=['f<float>', ...])")
    instances: dict = {name: [] for name in templates}
    made: set = set()

    def uses(body: list) -> list:
        out, i = [], 0
        while i < len(body):
            tok, file, line = body[i]
            template = templates.get(tok.value) if tok.type == "ID" else None
            if template is None:
                out.append(body[i])
                i += 1
                continue
            if i + 1 >= len(body) or body[i + 1][0].type != "LT":
                if not _deducible(template):
                    raise unsupported(f"using the template {tok.value} without template arguments", line, code,
                                      "hal deduces the types of __device__ functions' parameters only: "
                                      "write them, as in f<float>(x)")
                generic(template)
                out.append(body[i])
                i += 1
                continue
            args, i = _template_arguments(body, i + 1, code)
            out.append((_tok("ID", instance(template, args, line)), file, line))
        return out

    def generic(template: _Template) -> None:
        """The template as one function under its own name, each type parameter a
        placeholder type (GENERIC_PREFIX) that the translator binds per call."""
        if template.name in made:
            return
        made.add(template.name)
        file, line = template.declaration[0][1], template.line
        names = [f"{GENERIC_PREFIX}{template.name}__{p}" for p in template.params]
        typedefs = [(_tok(kind, word), file, line) for name in names
                    for kind, word in (("TYPEDEF", "typedef"), ("CHAR", "char"), ("ID", name), ("SEMI", ";"))]
        instances[template.name].append(typedefs + uses(_substitute(template, [[(_tok("ID", n), file, line)]
                                                                                for n in names], template.name)))

    def instance(template: _Template, args: list, line: int) -> str:
        if len(args) != len(template.params):
            raise unsupported(f"{template.name} with {len(args)} template arguments", line, code,
                              f"it takes {len(template.params)}")
        symbol = template_symbol(f"{template.name}<{','.join(' '.join(t.value for t, _, _ in a) for a in args)}>")
        if symbol not in made:
            made.add(symbol)
            instances[template.name].append(uses(_substitute(template, args, symbol)))
        return symbol

    for expression in expressions:
        expression_tokens = _tokens(expression, code)
        head = expression_tokens[0][0] if expression_tokens else None
        if head is None or head.value not in templates or len(expression_tokens) < 2:
            raise CompileError("CUDA translation", f"name expression {expression!r} names no function template of "
                               f"the source (found: {', '.join(sorted(templates))})", code)
        args, end = _template_arguments(expression_tokens, 1, code)
        if end != len(expression_tokens):
            raise CompileError("CUDA translation", f"name expression {expression!r}: text after its arguments", code)
        instance(templates[head.value], args, templates[head.value].line)
    pieces = []  # (the other code first: it may ask for instances too)
    for is_template, group in itertools.groupby(rest, lambda r: isinstance(r, _Template)):
        pieces += list(group) if is_template else [uses(list(group))]
    return [t for piece in pieces
            for t in (piece if isinstance(piece, list) else [t for body in instances[piece.name] for t in body])]


def _deducible(template: _Template) -> bool:
    """Whether calls may leave ``template``'s arguments to deduction: a __device__ function
    whose template parameters are all types, each naming a parameter's type."""
    declaration = template.declaration
    if any(t.value == "_Noreturn" for t, _, _ in declaration) or any(template.values):
        return False
    start = next(k for k, (t, _, _) in enumerate(declaration) if t.type == "ID" and t.value == template.name)
    named = {t.value for t, _, _ in declaration[start + 1:_closing(declaration, start + 1)] if t.type == "ID"}
    return all(p in named for p in template.params)


def _templates(tokens: list, code: str) -> tuple[list, dict]:
    """(the tokens with each template declaration replaced by its _Template, the templates by name)."""
    rest, templates, i = [], {}, 0
    while i < len(tokens):
        tok, _, line = tokens[i]
        if not (tok.type == "ID" and tok.value == "template"):
            rest.append(tokens[i])
            i += 1
            continue
        if i + 2 >= len(tokens) or tokens[i + 1][0].type != "LT" or tokens[i + 2][0].type == "GT":
            raise unsupported("explicit template instantiation and specialization", line, code,
                              "hal instantiates the templates name_expressions name")
        params, values, i = _template_parameters(tokens, i + 2, code, line)
        end = _declaration_end(tokens, i)
        declaration = tokens[i:end]
        names = [k for k in range(len(declaration) - 1)
                 if declaration[k][0].type == "ID" and declaration[k + 1][0].type == "LPAREN"]
        if not names or any(t.type == "STRUCT" for t, _, _ in declaration[:names[0]]):
            raise unsupported("templates of anything but functions", line, code)
        template = _Template(declaration[names[0]][0].value, params, values, declaration, line)
        templates[template.name] = template
        rest.append(template)
        i = end
    return rest, templates


def _template_parameters(tokens: list, i: int, code: str, line: int) -> tuple[list, list, int]:
    """The names in ``template<typename T, int N>`` from after ``<``; and the index after ``>``."""
    params, values, words = [], [], []
    while i < len(tokens):
        tok = tokens[i][0]
        if tok.type in ("COMMA", "GT"):
            if len(words) < 2 or words[-1].type != "ID":
                raise unsupported("this template parameter", line, code, "hal takes typename T, class T and int N")
            params.append(words[-1].value)
            values.append(words[0].value not in ("typename", "class"))
            words = []
            if tok.type == "GT":
                return params, values, i + 1
        elif tok.type == "EQUALS":
            raise unsupported("default template arguments", line, code)
        else:
            words.append(tok)
        i += 1
    raise unsupported("an unterminated template parameter list", line, code)


def _declaration_end(tokens: list, i: int) -> int:
    """The index after the function declared from ``i``: after its body's closing brace, or its ``;``."""
    depth = 0
    while i < len(tokens):
        kind = tokens[i][0].type
        if kind == "SEMI" and depth == 0:
            return i + 1
        depth += (kind == "LBRACE") - (kind == "RBRACE")
        if kind == "RBRACE" and depth == 0:
            return i + 1
        i += 1
    return i


def _template_arguments(tokens: list, i: int, code: str) -> tuple[list, int]:
    """The argument token lists of ``<...>`` starting at ``tokens[i]`` (``<``), split at
    its top-level commas (``complex<float>`` and parentheses nest); and the index after ``>``."""
    args, current, depth = [], [], 0
    line = tokens[i][2]
    for k in range(i + 1, len(tokens)):
        kind = tokens[k][0].type
        if kind in ("GT", "COMMA") and depth == 0:
            if not current:
                raise unsupported("an empty template argument", line, code)
            args.append(current)
            current = []
            if kind == "GT":
                return args, k + 1
            continue
        depth += (kind in ("LT", "LPAREN")) - (kind in ("GT", "RPAREN"))
        current.append(tokens[k])
    raise unsupported("an unterminated template argument list", line, code)


def _substitute(template: _Template, args: list, symbol: str) -> list:
    """The template's declaration with its parameters replaced by ``args`` and its name by ``symbol``."""
    bound = dict(zip(template.params, zip(args, template.values)))
    out, named = [], False
    for tok, file, line in template.declaration:
        if tok.type == "ID" and tok.value == template.name and not named:
            out.append((_tok("ID", symbol), file, line))
            named = True
        elif tok.type == "ID" and tok.value in bound:
            arg, value = bound[tok.value]
            out += [(_tok("LPAREN", "("), file, line)] * value + [(t, file, line) for t, _, _ in arg] \
                + [(_tok("RPAREN", ")"), file, line)] * value
        else:
            out.append((tok, file, line))
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


def _pointer_declarator(tokens: list, i: int) -> bool:
    """Whether the tokens from ``i`` open a declarator ``(*``: a pointer to an array or a
    function, named or not (``float (*a)[16]``, ``(float (*)[16])p``), not a functional cast
    (the translator names what it does not support)."""
    kinds = [t.type for t, _, _ in tokens[i:i + 2]]
    return kinds == ["LPAREN", "TIMES"]


def _direct_initialization(tokens: list, type_tokens: list, end: int) -> list:
    """The tokens with C++'s direct initialization of the declarator at ``end`` (``NAME(ARGS)``,
    in a function body: ``complex<float> z(re, im);``) as ``NAME = TYPE(ARGS)``, which the
    rest of the pass makes a constructor call; unchanged if no ``NAME(`` is there."""
    if end + 1 >= len(tokens) or tokens[end][0].type != "ID" or tokens[end + 1][0].type != "LPAREN":
        return tokens
    file, line = tokens[end][1], tokens[end][2]
    typed = [(tok, file, line) for tok, _, _ in type_tokens]
    return [*tokens[:end + 1], (_tok("EQUALS", "="), file, line), *typed, *tokens[end + 1:]]


def _using(tokens: list, i: int, code: str) -> list:
    """The tokens with C++'s alias ``using NAME = TYPE;`` at ``i`` as C's ``typedef TYPE NAME;``."""
    file, line = tokens[i][1], tokens[i][2]
    if i + 3 >= len(tokens) or tokens[i + 1][0].type != "ID" or tokens[i + 2][0].type != "EQUALS":
        raise unsupported("C++ using (namespaces)", line, code, "only the alias using NAME = TYPE;")
    end = next((k for k in range(i + 3, len(tokens)) if tokens[k][0].type == "SEMI"), len(tokens))
    return [*tokens[:i], (_tok("TYPEDEF", "typedef"), file, line), *tokens[i + 3:end], tokens[i + 1],
            (_tok("SEMI", ";"), file, line), *tokens[end + 1:]]


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
