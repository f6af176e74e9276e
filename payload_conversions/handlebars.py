"""A small, exact subset of handlebars.js for prompt templates.

Supported: text; `{{path}}` (escaped like handlebars.js), `{{{path}}}` and `{{& path}}` (raw);
`{{! comment}}` and `{{!-- comment --}}`; `~` whitespace control; the standalone-line rule; block
helpers `message` (role hash argument), `each` (with `@index`, `@first`, `@last`, `@key`, `this`),
`if` and `unless`, with `{{else}}`; paths `a.b`, `this`, `../a`, `@root.a`. Missing simple values are an
error, as with handlebars.js `strict: true`; block parameters may be missing (then falsy), as there.
Anything else (partials, inline helpers, `{{else if}}`, `\\{{`) is refused rather than misrendered.

The whitespace handling is a port of handlebars.js 4.7 `compiler/whitespace-control.js`; the golden
table in fixtures/conversions/handlebars_golden.json was produced by handlebars.js itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from payload_conversions.conversational import CHAT_ROLES
from payload_conversions.errors import ConversionError
from payload_conversions.escaping import escape_content

# ---------------------------------------------------------------- AST


@dataclass
class Content:
    original: str
    value: str
    left_stripped: bool = False
    right_stripped: bool = False


@dataclass
class Strip:
    open: bool = False
    close: bool = False


@dataclass
class Mustache:
    path: str
    escaped: bool
    strip: Strip
    offset: int


@dataclass
class Comment:
    strip: Strip


@dataclass
class Program:
    body: list[Any] = field(default_factory=list)


@dataclass
class Block:
    name: str
    params: list[Any]
    hash: dict[str, Any]
    open_strip: Strip
    offset: int
    program: Program = field(default_factory=Program)
    inverse: Program | None = None
    inverse_strip: Strip = field(default_factory=Strip)
    close_strip: Strip = field(default_factory=Strip)


@dataclass
class PathExpr:
    text: str


BLOCK_HELPERS = ("message", "each", "if", "unless")
MAX_BLOCK_DEPTH = 64  # deeper nesting is refused: a clear error instead of Python's RecursionError

# ---------------------------------------------------------------- lexer and parser

_COMMENT_LONG = re.compile(r"\{\{(~?)!--(.*?)--(~?)\}\}", re.S)
_COMMENT_SHORT = re.compile(r"\{\{(~?)!(.*?)(~?)\}\}", re.S)
_TRIPLE = re.compile(r"\{\{(~?)\{(.*?)\}(~?)\}\}", re.S)
_MUSTACHE = re.compile(r"\{\{(~?)(.*?)(~?)\}\}", re.S)
_ARG = re.compile(r"\s*(?:([^\s=\"']+)=)?(?:\"([^\"]*)\"|'([^']*)'|([^\s\"'=]+))")
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")


def _where(template: str, offset: int) -> str:
    line = template.count("\n", 0, offset) + 1
    return f"line {line}, column {offset - (template.rfind(chr(10), 0, offset) + 1) + 1}"


def _literal(token: str, quoted: str | None) -> Any:
    if quoted is not None:
        return quoted
    if token in ("true", "false"):
        return token == "true"
    if token in ("null", "undefined"):
        return None
    if _NUMBER.fullmatch(token):
        return float(token) if "." in token else int(token)
    return PathExpr(token)


def _arguments(text: str, template: str, offset: int) -> tuple[list[Any], dict[str, Any]]:
    params: list[Any] = []
    hash_args: dict[str, Any] = {}
    position = 0
    while position < len(text.rstrip()):
        match = _ARG.match(text, position)
        if not match or match.end() == position:
            raise ConversionError(f"cannot read the arguments {text!r} at {_where(template, offset)}")
        quoted = match.group(2) if match.group(2) is not None else match.group(3)
        value = _literal(match.group(4) or "", quoted)
        if match.group(1):
            hash_args[match.group(1)] = value
        elif hash_args:
            raise ConversionError(f"positional argument after hash arguments at {_where(template, offset)}")
        else:
            params.append(value)
        position = match.end()
    return params, hash_args


def parse(template: str) -> Program:
    """Template text -> AST (a Program), with handlebars.js's whitespace control applied."""
    if not isinstance(template, str):
        raise ConversionError("template must be a string")
    root = Program()
    stack: list[tuple[Program, Block | None]] = [(root, None)]
    position = 0
    while position < len(template):
        start = template.find("{{", position)
        if start < 0:
            start = len(template)
        if start > position:
            text = template[position:start]
            stack[-1][0].body.append(Content(text, text))
        if start >= len(template):
            break
        if start > 0 and template[start - 1] == "\\":
            raise ConversionError(f"escaped mustaches (\\{{{{) are not supported ({_where(template, start)})")
        for pattern in (_COMMENT_LONG, _COMMENT_SHORT, _TRIPLE, _MUSTACHE):
            match = pattern.match(template, start)
            if match:
                break
        if not match:
            raise ConversionError(f"unclosed mustache at {_where(template, start)}")
        position = match.end()
        strip = Strip(bool(match.group(1)), bool(match.group(3)))
        program, block = stack[-1]
        if pattern is _COMMENT_LONG or pattern is _COMMENT_SHORT:
            program.body.append(Comment(strip))
        elif pattern is _TRIPLE:
            program.body.append(Mustache(_simple_path(match.group(2), template, start), False, strip, start))
        else:
            _statement(match.group(2).strip(), strip, start, template, stack)
    unclosed = stack[-1][1] if len(stack) > 1 else None  # every open level but the root has its block
    if unclosed is not None:
        where = _where(template, unclosed.offset)
        raise ConversionError(f"{{{{#{unclosed.name}}}}} at {where} is never closed")
    _WhitespaceControl().program(root, is_root=True)
    return root


def _simple_path(text: str, template: str, offset: int) -> str:
    params, hash_args = _arguments(text, template, offset)
    if len(params) != 1 or hash_args or not isinstance(params[0], PathExpr):
        raise ConversionError(
            f"only a plain variable is supported in {{{{{text.strip()}}}}} ({_where(template, offset)})"
        )
    return params[0].text


def _statement(inner: str, strip: Strip, start: int, template: str, stack: list) -> None:
    program, block = stack[-1]
    where = _where(template, start)
    if inner[:1] == "#":
        params, hash_args = _arguments(inner[1:], template, start)
        if not params or not isinstance(params[0], PathExpr) or params[0].text not in BLOCK_HELPERS:
            raise ConversionError(
                f"unsupported block {{{{{inner}}}}} at {where}; supported: {', '.join(BLOCK_HELPERS)}"
            )
        if len(stack) > MAX_BLOCK_DEPTH:
            raise ConversionError(f"blocks nest deeper than {MAX_BLOCK_DEPTH} levels at {where}")
        new = Block(params[0].text, params[1:], hash_args, strip, start)
        program.body.append(new)
        stack.append((new.program, new))
    elif inner[:1] == "/":
        name = inner[1:].strip()
        if block is None or name != block.name:
            expected = f"{{{{/{block.name}}}}}" if block else "no closing tag"
            raise ConversionError(f"{{{{/{name}}}}} at {where} does not match: expected {expected}")
        block.close_strip = strip
        stack.pop()
    elif inner == "else":
        if block is None or block.inverse is not None or block.name == "message":
            raise ConversionError(f"{{{{else}}}} at {where} is not inside an each/if/unless block")
        block.inverse = Program()
        block.inverse_strip = strip
        stack[-1] = (block.inverse, block)
    elif inner[:1] == "&":
        program.body.append(Mustache(_simple_path(inner[1:], template, start), False, strip, start))
    elif inner[:1] in ("^", ">", "*", "#>") or inner.startswith("else "):
        raise ConversionError(f"{{{{{inner}}}}} at {where} is outside the supported Handlebars subset")
    else:
        program.body.append(Mustache(_simple_path(inner, template, start), True, strip, start))


# ---------------------------------------------------------------- whitespace control (port of handlebars.js)


@dataclass
class _StripInfo:
    open: bool = False
    close: bool = False
    open_standalone: bool = False
    close_standalone: bool = False
    inline_standalone: bool = False


_PREV_WS = re.compile(r"(?:^|\S)[^\S\n]*\n\s*\Z")
_PREV_WS_ROOT = re.compile(r"^\s*\Z|(?:^|\S)[^\S\n]*\n\s*\Z")
_NEXT_WS = re.compile(r"\s*?\r?\n")
_NEXT_WS_ROOT = re.compile(r"\s*?(?:\r?\n|\Z)")


def _is_prev_whitespace(body: list, i: int | None = None, is_root: bool = False) -> bool:
    i = len(body) if i is None else i
    prev = body[i - 1] if i - 1 >= 0 else None
    sibling = body[i - 2] if i - 2 >= 0 else None
    if prev is None:
        return is_root
    if isinstance(prev, Content):
        pattern = _PREV_WS if sibling is not None or not is_root else _PREV_WS_ROOT
        return pattern.search(prev.original) is not None
    return False


def _is_next_whitespace(body: list, i: int | None = None, is_root: bool = False) -> bool:
    i = -1 if i is None else i
    nxt = body[i + 1] if i + 1 < len(body) else None
    sibling = body[i + 2] if i + 2 < len(body) else None
    if nxt is None:
        return is_root
    if isinstance(nxt, Content):
        pattern = _NEXT_WS if sibling is not None or not is_root else _NEXT_WS_ROOT
        return pattern.match(nxt.original) is not None
    return False


def _omit_right(body: list, i: int | None = None, multiple: bool = False) -> None:
    index = 0 if i is None else i + 1
    current = body[index] if index < len(body) else None
    if not isinstance(current, Content) or (not multiple and current.right_stripped):
        return
    original = current.value
    current.value = re.sub(r"\A\s+" if multiple else r"\A[ \t]*\r?\n?", "", current.value, count=1)
    current.right_stripped = current.value != original


def _omit_left(body: list, i: int | None = None, multiple: bool = False) -> bool:
    index = len(body) - 1 if i is None else i - 1
    current = body[index] if index >= 0 else None
    if not isinstance(current, Content) or (not multiple and current.left_stripped):
        return False
    original = current.value
    pattern = r"(^|\S)\s+\Z" if multiple else r"(^|[^ \t])[ \t]+\Z"
    current.value = re.sub(pattern, r"\1", current.value, count=1)
    current.left_stripped = current.value != original
    return current.left_stripped


class _WhitespaceControl:
    def program(self, program: Program, is_root: bool = False) -> None:
        body = program.body
        for i, current in enumerate(body):
            strip = self.accept(current)
            if strip is None:
                continue
            prev_ws = _is_prev_whitespace(body, i, is_root)
            next_ws = _is_next_whitespace(body, i, is_root)
            open_standalone = strip.open_standalone and prev_ws
            close_standalone = strip.close_standalone and next_ws
            inline_standalone = strip.inline_standalone and prev_ws and next_ws
            if strip.close:
                _omit_right(body, i, True)
            if strip.open:
                _omit_left(body, i, True)
            if inline_standalone:
                _omit_right(body, i)
                _omit_left(body, i)
            if open_standalone:
                _omit_right((current.program or current.inverse).body)
                _omit_left(body, i)
            if close_standalone:
                _omit_right(body, i)
                _omit_left((current.inverse or current.program).body)

    def accept(self, node: Any) -> _StripInfo | None:
        if isinstance(node, Mustache):
            return _StripInfo(open=node.strip.open, close=node.strip.close)
        if isinstance(node, Comment):
            return _StripInfo(open=node.strip.open, close=node.strip.close, inline_standalone=True)
        if isinstance(node, Block):
            return self.block(node)
        return None

    def block(self, block: Block) -> _StripInfo:
        self.program(block.program)
        if block.inverse is not None:
            self.program(block.inverse)
        program = block.program
        inverse = block.inverse
        strip = _StripInfo(
            open=block.open_strip.open,
            close=block.close_strip.close,
            open_standalone=_is_next_whitespace(program.body),
            close_standalone=_is_prev_whitespace((inverse or program).body),
        )
        if block.open_strip.close:
            _omit_right(program.body, None, True)
        if inverse is not None:
            if block.inverse_strip.open:
                _omit_left(program.body, None, True)
            if block.inverse_strip.close:
                _omit_right(inverse.body, None, True)
            if block.close_strip.open:
                _omit_left(inverse.body, None, True)
            if _is_prev_whitespace(program.body) and _is_next_whitespace(inverse.body):
                _omit_left(program.body)
                _omit_right(inverse.body)
        elif block.close_strip.open:
            _omit_left(program.body, None, True)
        return strip


# ---------------------------------------------------------------- evaluation

_MISSING = object()
_MESSAGE_TAG_START = re.compile(r"<(/?message)", re.I)


def _display(value: Any, name: str) -> str:
    """A value as handlebars.js's escapeExpression turns it into text (before escaping)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, str):
        return value
    raise ConversionError(
        f"is a {type(value).__name__}; only strings, numbers, booleans and null can be inserted", name
    )


def _truthy(value: Any) -> bool:
    """handlebars.js `if`: false, null, undefined, "", 0 and [] are false; {} is true."""
    if value is _MISSING or value is None or value is False or value == "":
        return False
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value != 0
    if isinstance(value, Sequence) and not isinstance(value, str):
        return len(value) > 0
    return True


@dataclass
class _Frame:
    context: Any
    data: dict[str, Any]


class _Renderer:
    def __init__(self, root: Any) -> None:
        self.root = root
        self.in_message = False

    def render(self, program: Program, frames: list[_Frame]) -> str:
        out: list[str] = []
        for node in program.body:
            if isinstance(node, Content):
                out.append(node.value)
            elif isinstance(node, Mustache):
                value = self.lookup(node.path, frames, strict=True)
                text = _display(value, node.path)
                out.append(escape_content(text) if node.escaped else text)
            elif isinstance(node, Block):
                out.append(self.block(node, frames))
        return "".join(out)

    def lookup(self, path: str, frames: list[_Frame], strict: bool) -> Any:
        depth = 0
        while path.startswith("../"):
            depth, path = depth + 1, path[3:]
        segments = [s for s in re.split(r"[./]", path) if s]
        frame_index = max(len(frames) - 1 - depth, 0)
        if path.startswith("@"):
            head, *rest = segments
            if head == "@root":
                value: Any = self.root
            else:
                value = frames[-1].data.get(head[1:], _MISSING)
                if value is _MISSING and strict:
                    raise ConversionError(f'"{head[1:]}" not defined', path)
            segments = rest
        else:
            value = frames[frame_index].context
            if segments and segments[0] == "this":
                segments.pop(0)
        for segment in segments:
            if isinstance(value, Mapping) and segment in value:
                value = value[segment]
            elif strict:
                raise ConversionError(f'"{segment}" not defined in the template variables', path)
            else:
                return _MISSING
        return value

    def argument(self, value: Any, frames: list[_Frame]) -> Any:
        return self.lookup(value.text, frames, strict=False) if isinstance(value, PathExpr) else value

    def block(self, block: Block, frames: list[_Frame]) -> str:
        if block.name == "message":
            return self.message(block, frames)
        if len(block.params) != 1 or block.hash:
            raise ConversionError(f"{{{{#{block.name}}}}} takes exactly one parameter", block.name)
        value = self.argument(block.params[0], frames)
        if block.name in ("if", "unless"):
            chosen = block.program if _truthy(value) == (block.name == "if") else block.inverse
            return self.render(chosen, frames) if chosen is not None else ""
        return self.each(block, value, frames)

    def each(self, block: Block, value: Any, frames: list[_Frame]) -> str:
        if isinstance(value, Mapping):
            items = [(key, item, {"key": key}) for key, item in value.items()]
        elif isinstance(value, Sequence) and not isinstance(value, str):
            items = [(i, item, {"key": i}) for i, item in enumerate(value)]
        elif value is _MISSING or value is None or value is False:
            items = []
        else:
            raise ConversionError("{{#each}} needs a list or an object", "each")
        if not items:
            return self.render(block.inverse, frames) if block.inverse is not None else ""
        out = []
        for n, (_key, item, extra) in enumerate(items):
            data = {**frames[-1].data, "index": n, "first": n == 0, "last": n == len(items) - 1, **extra}
            out.append(self.render(block.program, [*frames, _Frame(item, data)]))
        return "".join(out)

    def message(self, block: Block, frames: list[_Frame]) -> str:
        """`{{#message role="..."}}` -> `<message role="...">\\n{content}</message>\\n`.

        The helper protects its block: any `<message`/`</message` in the rendered content (which can
        only come from a raw `{{{value}}}`) is written `&lt;message`, so no value can open or close a
        tag; decoding restores the `<` in the message content.
        """
        if self.in_message:
            raise ConversionError("{{#message}} blocks cannot nest", "message")
        if block.params or set(block.hash) - {"role"}:
            raise ConversionError('{{#message}} takes only the hash argument role="..."', "message")
        role = self.argument(block.hash.get("role"), frames)
        if role not in CHAT_ROLES:
            raise ConversionError(
                f"{{{{#message}}}} role {role!r} is not one of {', '.join(CHAT_ROLES)}", "role"
            )
        self.in_message = True
        try:
            inner = self.render(block.program, frames)
        finally:
            self.in_message = False
        inner = _MESSAGE_TAG_START.sub(r"&lt;\1", inner)
        return f'<message role="{role}">\n{inner}</message>\n'


def render_handlebars(template: str, variables: Mapping[str, Any]) -> str:
    """Render a template of the supported Handlebars subset with `variables` as the root context."""
    if not isinstance(variables, Mapping):
        raise ConversionError("template variables must be an object", "variables")
    program = parse(template)
    return _Renderer(variables).render(program, [_Frame(variables, {})])
