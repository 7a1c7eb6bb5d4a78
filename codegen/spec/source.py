"""Safe YAML loading that remembers the line of every key and item.

PyYAML's safe loader forgets positions and silently lets a duplicate key
overwrite the first one. This loader composes the node tree itself, so each
value's line is known for error messages and duplicate keys are errors.

Nothing in a file can make loading slow, deep or fail with a traceback: the
size is bounded, characters YAML forbids are reported at their line, one pass
over the parser's events checks nesting depth, recursive and undefined aliases
and how far aliases expand (a billion-laughs file) before any value is built,
and syntax errors are said in plain words at the key being read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from codegen.spec.errors import Loc, SpecProblem, display_path, key_path
from codegen.spec.limits import MAX_ALIAS_EXPANSION, MAX_SPEC_BYTES, MAX_YAML_DEPTH

# libyaml's parser when PyYAML was built with it (it keeps node marks): much faster on big specs.
_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STR_TAG = "tag:yaml.org,2002:str"


class _Loader(_BaseLoader):  # type: ignore[misc,valid-type]
    """The safe loader, with the implicit tag of a plain scalar remembered per value.

    The parser asks for it once per scalar (a regular-expression scan); the specs repeat their
    keys and many values thousands of times. The safe loader has no path resolvers, so the tag
    depends on the value and the implicit flags only.
    """

    _resolved: dict[tuple[str, tuple[bool, bool]], str] = {}

    def resolve(self, kind: type[yaml.Node], value: str, implicit: tuple[bool, bool]) -> str:
        if kind is not yaml.ScalarNode:
            node_tag: str = super().resolve(kind, value, implicit)
            return node_tag
        key = (value, implicit)
        tag = self._resolved.get(key)
        if tag is None:
            tag = super().resolve(kind, value, implicit)
            if len(self._resolved) < 1 << 16:
                self._resolved[key] = tag
        return tag


@dataclass
class SourceDoc:
    """One parsed YAML file: its data and the 1-based line of every key path."""

    path: Path
    data: Any
    lines: dict[Loc, int] = field(default_factory=dict)

    @cached_property
    def name(self) -> str:
        return display_path(self.path)  # resolves the path: once per document, not per message

    def line_of(self, loc: Loc) -> int:
        """Line of the deepest recorded prefix of `loc` (pydantic locs may go deeper)."""
        loc = tuple(loc)
        while loc:
            if loc in self.lines:
                return self.lines[loc]
            loc = loc[:-1]
        return self.lines.get((), 1)

    def problem(self, loc: Loc, message: str) -> SpecProblem:
        return SpecProblem(self.name, self.line_of(loc), key_path(loc), message)


# What a YAML tag asks a scalar to be, for "'twenty' is not an integer (tagged !!int)".
_TAG_MEANING = {
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "null": "null",
    "timestamp": "a date",
    "binary": "base64 data",
    "str": "text",
}


def _scalar(
    node: yaml.Node, loc: Loc, doc: SourceDoc, loader: yaml.SafeLoader, problems: list[SpecProblem]
) -> Any:
    try:
        value = loader.construct_object(node, deep=True)
    except (yaml.YAMLError, ValueError, TypeError, OverflowError):
        tag = str(node.tag)
        short = tag.rsplit(":", 1)[-1] if tag.startswith("tag:yaml.org,2002:") else tag
        shown = _quoted(node.value) if isinstance(node.value, str) else "this value"
        if short in _TAG_MEANING:
            why = f"{shown} cannot be read as {_TAG_MEANING[short]} (!!{short})"
        else:
            why = f"unknown tag {tag!r}: specs hold plain YAML values (text, numbers, lists, mappings)"
        problems.append(SpecProblem(doc.name, node.start_mark.line + 1, key_path(loc), why))
        return None
    if isinstance(value, str) and (bad := _surrogate(value)):
        problems.append(
            SpecProblem(
                doc.name,
                node.start_mark.line + 1,
                key_path(loc),
                f"a lone surrogate U+{ord(bad):04X} in {_quoted(value)}: not a character "
                f"any file or Rust string can hold",
            )
        )
    return value


def _quoted(s: str) -> str:
    return repr(s if len(s) <= 40 else s[:40] + "...")


def _surrogate(s: str) -> str | None:
    return next((ch for ch in s if 0xD800 <= ord(ch) <= 0xDFFF), None)


def _build(
    node: yaml.Node, loc: Loc, doc: SourceDoc, loader: yaml.SafeLoader, problems: list[SpecProblem]
) -> Any:
    doc.lines.setdefault(loc, node.start_mark.line + 1)
    if node.tag == _STR_TAG and isinstance(node, yaml.ScalarNode) and not _surrogate(node.value):
        return node.value  # what the safe constructor returns for a string, without its bookkeeping
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)  # resolves YAML merge keys (<<)
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = (
                _build(key_node, loc, doc, loader, problems)
                if isinstance(key_node, yaml.ScalarNode)
                else None
            )
            if not isinstance(key, (str, int, float, bool)) or key is None:
                if (
                    isinstance(key_node, yaml.ScalarNode)
                    and key is None
                    and key_node.value not in ("", "~", "null")
                ):
                    continue  # reported by _scalar
                problems.append(
                    SpecProblem(
                        doc.name,
                        key_node.start_mark.line + 1,
                        _kp(loc) or _TOP,
                        f"unsupported mapping key {_shown(key_node)}: a key is a plain name",
                    )
                )
                continue
            if key in out:
                problems.append(
                    SpecProblem(
                        doc.name,
                        key_node.start_mark.line + 1,
                        _kp(loc + (key,)),
                        f"duplicate key (first given on line {doc.lines[loc + (key,)]})",
                    )
                )
                continue
            doc.lines[loc + (key,)] = key_node.start_mark.line + 1
            out[key] = _build(value_node, loc + (key,), doc, loader, problems)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [
            _build(item, loc + (i,), doc, loader, problems) for i, item in enumerate(node.value)
        ]
    return _scalar(node, loc, doc, loader, problems)


def _shown(node: yaml.Node) -> str:
    if isinstance(node, yaml.ScalarNode):
        return repr(node.value)[:40] if node.value not in ("", "~") else "null"
    return "a list" if isinstance(node, yaml.SequenceNode) else "a mapping"


_TOP = "(top level)"  # the key of a YAML problem outside every key


def _kp(loc: Loc) -> str:
    return key_path(loc)


# ---------------------------------------------------------------- reading the text

# Characters YAML does not allow in a file (the YAML 1.1 printable set PyYAML checks).
_NOT_YAML = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _read(path: Path, name: str) -> tuple[str | None, list[SpecProblem]]:
    try:
        size = path.stat().st_size
        if size > MAX_SPEC_BYTES:
            return None, [
                SpecProblem(
                    name, 1, "", f"the file is {size:,} bytes; a spec is at most {MAX_SPEC_BYTES:,}"
                )
            ]
        data = path.read_bytes()
    except OSError as exc:
        return None, [SpecProblem(name, 1, "", f"cannot read the file: {exc.strerror or exc}")]
    try:
        return data.decode("utf-8"), []
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        return None, [
            SpecProblem(
                name,
                line,
                "",
                f"not UTF-8 text: byte 0x{data[exc.start]:02x} at column "
                f"{column}; save the file as UTF-8",
            )
        ]


def _forbidden_character(text: str, name: str) -> SpecProblem | None:
    m = _NOT_YAML.search(text)
    if m is None:
        return None
    line = text.count("\n", 0, m.start()) + 1
    column = m.start() - (text.rfind("\n", 0, m.start()) + 1) + 1
    code = ord(m[0])
    what = (
        "a NUL character"
        if code == 0
        else "a lone surrogate"
        if 0xD800 <= code <= 0xDFFF
        else "a control character"
    )
    return SpecProblem(
        name,
        line,
        _EventCheck(name).path_at(text[: m.start()]),
        f"{what} (U+{code:04X}) at column {column}: a YAML file cannot hold it raw; inside a "
        f'double-quoted string write it as "\\u{code:04x}"',
    )


# ---------------------------------------------------------------- one pass over the events


@dataclass
class _Frame:
    mapping: bool
    anchor: str | None
    line: int
    key: Any = None  # mapping: the key being read or last read; sequence: the item index
    expect_key: bool = True
    size: int = 1
    height: int = 0


class _EventCheck:
    """Depth, aliases and their expansion, from the parser's events alone (nothing is built)."""

    def __init__(self, name: str):
        self.name = name
        self.stack: list[_Frame] = []
        self.anchors: dict[
            str, tuple[int, int, int]
        ] = {}  # anchor -> (line, expanded size, height)
        self.open_anchors: dict[str, int] = {}
        self.expansion = 0
        self.documents = 0
        self.problem: SpecProblem | None = None
        self.last = ""  # the key path of the last node started

    def path(self) -> str:
        parts = tuple(
            f.key if f.mapping else (f.key or 0)
            for f in self.stack
            if f.key is not None or not f.mapping
        )
        shown = key_path(parts[:_SHOWN_DEPTH])
        return shown + ("..." if len(parts) > _SHOWN_DEPTH else "")

    def fail(self, line: int, message: str) -> None:
        self.problem = SpecProblem(self.name, line, self.path() or _TOP, message)

    def run(self, text: str) -> SpecProblem | None:
        try:
            for event in yaml.parse(text, Loader=_Loader):
                self.event(event)
                if self.problem is not None:
                    return self.problem
        except yaml.MarkedYAMLError as exc:
            return _syntax_problem(exc, self.name, self.path() or _TOP, text)
        except (
            yaml.YAMLError
        ) as exc:  # pragma: no cover - the reader's errors are caught before parsing
            return SpecProblem(self.name, 1, _TOP, f"not valid YAML ({type(exc).__name__})")
        return None

    def path_at(self, prefix: str) -> str:
        """The key being read where `prefix` ends (the text before a problem the parser cannot see)."""
        try:
            for event in yaml.parse(prefix, Loader=_Loader):
                self.event(event)
        except yaml.YAMLError:
            pass
        return self.last or _TOP

    def event(self, event: yaml.Event) -> None:
        # The parser marks every event it emits; the stubs allow None for hand-made events.
        line = event.start_mark.line + 1 if event.start_mark is not None else 1
        if isinstance(event, yaml.DocumentStartEvent):
            self.documents += 1
            if self.documents > 1:
                self.fail(line, "a second YAML document (`---`): a spec file is one document")
        elif isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            self.anchor(event, line)
            self.before_node()
            self.stack.append(_Frame(isinstance(event, yaml.MappingStartEvent), event.anchor, line))
            if event.anchor:
                self.open_anchors[event.anchor] = line
            if len(self.stack) > MAX_YAML_DEPTH:
                self.fail(line, f"nested more than {MAX_YAML_DEPTH} levels deep")
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            frame = self.stack.pop()
            if frame.anchor:
                self.open_anchors.pop(frame.anchor, None)
                self.anchors[frame.anchor] = (frame.line, frame.size, frame.height + 1)
            self.after_node(frame.size, frame.height + 1)
        elif isinstance(event, yaml.ScalarEvent):
            self.anchor(event, line)
            self.before_node(event.value)
            self.last = self.path()
            if event.anchor:
                self.anchors[event.anchor] = (line, 1, 1)
            self.after_node(1, 1)
        elif (
            isinstance(event, yaml.AliasEvent) and event.anchor is not None
        ):  # an alias names its anchor
            self.before_node()
            self.alias(event.anchor, line)

    def anchor(self, event: yaml.NodeEvent, line: int) -> None:
        if not event.anchor:
            return
        if event.anchor in self.open_anchors:
            first = self.open_anchors[event.anchor]
        elif event.anchor in self.anchors:
            first = self.anchors[event.anchor][0]
        else:
            return
        self.fail(line, f"anchor &{event.anchor} is defined twice (first on line {first})")

    def alias(self, anchor: str, line: int) -> None:
        if anchor in self.open_anchors:
            self.fail(
                line,
                f"*{anchor} refers to the value that contains it (&{anchor}, line "
                f"{self.open_anchors[anchor]}): it would be infinitely deep",
            )
            return
        if anchor not in self.anchors:
            self.fail(line, f"*{anchor} refers to no anchor &{anchor} defined above it")
            return
        _, size, height = self.anchors[anchor]
        self.expansion += size
        if self.expansion > MAX_ALIAS_EXPANSION:
            self.fail(
                line,
                f"aliases expand to more than {MAX_ALIAS_EXPANSION:,} values (*{anchor} alone "
                f"to {size:,}); write the values out or use fewer aliases",
            )
        elif len(self.stack) + height > MAX_YAML_DEPTH:
            self.fail(line, f"*{anchor} nests the values more than {MAX_YAML_DEPTH} levels deep")
        else:
            self.after_node(size, height)

    def before_node(self, scalar: Any = None) -> None:
        """A node starts: as a key, a value or an item of the innermost collection."""
        if not self.stack:
            return
        top = self.stack[-1]
        if top.mapping and top.expect_key:
            top.key = scalar if scalar is not None else "?"
        elif not top.mapping and top.key is None:
            top.key = 0

    def after_node(self, size: int, height: int) -> None:
        if not self.stack:
            return
        top = self.stack[-1]
        top.size += size
        top.height = max(top.height, height)
        if top.mapping:
            top.expect_key = not top.expect_key
        else:
            top.key = (top.key or 0) + 1


_SHOWN_DEPTH = 8  # a key path deeper than this is shown cut short


def _syntax_problem(exc: yaml.MarkedYAMLError, name: str, key: str, text: str) -> SpecProblem:
    """A YAML syntax error in plain words, at the key being read when it occurred."""
    mark = exc.problem_mark or exc.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    started = exc.context_mark.line + 1 if exc.context_mark else line
    problem, context = exc.problem or "", exc.context or ""
    char = text[mark.index] if mark is not None and 0 <= mark.index < len(text) else ""
    if "',' or ']'" in problem:
        why = f"the [ list opened on line {started} is not closed: expected `,` or `]`"
    elif "',' or '}'" in problem:
        why = f"the {{ mapping opened on line {started} is not closed: expected `,` or `}}`"
    elif "mapping values are not allowed" in problem or "unexpected ':'" in problem:
        why = "a second `: ` on one line; quote a value that holds a colon and a space"
    elif "cannot start any token" in problem or "tab character" in problem:
        why = (
            "a tab: YAML indents with spaces"
            if char == "\t"
            else f"{char!r} cannot start a value; quote the value"
        )
    elif "expected key" in problem:
        why = (
            "this line does not line up with the keys above it (check its indentation, and that nothing "
            "follows a closing bracket or quote)"
        )
    elif "'-' indicator" in problem:
        why = "this line does not line up with the `- ` items above it (check its indentation)"
    elif "expected ':'" in problem:
        why = f"the key on line {started} has no `:`"
    elif "end of stream" in problem and "quoted" in context:
        why = f"the quoted text opened on line {started} is never closed"
    elif "Unicode" in problem:
        why = "a \\u or \\U escape that is no character (a surrogate, or beyond U+10FFFF)"
    elif "escape" in problem:
        why = "an unknown backslash escape in double quotes; write \\\\ for a backslash, or use single quotes"
    elif "anchor" in context or "alias" in context:
        why = "an anchor (&) or alias (*) needs a name of letters and digits"
    elif "directive" in context:
        why = "a line starting with % is a YAML directive; quote a value that starts with %"
    elif "node content" in problem:
        why = "a value is missing here"
    elif "block sequence entries are not allowed" in problem:
        why = "a `- ` item where this line's value was expected; start the list on the next line"
    elif "block scalar" in context:
        why = "a | or > text block is malformed (check the indentation of its lines)"
    else:
        why = "the text here is not valid YAML"
    return SpecProblem(name, line, key, f"YAML syntax error at column {column}: {why}")


def load_yaml(path: Path, text: str | None = None) -> tuple[SourceDoc | None, list[SpecProblem]]:
    """Parse one file. Returns the document, or None and the problems that stopped it."""
    name = display_path(path)
    if text is None:
        text, problems = _read(path, name)
        if text is None:
            return None, problems
    elif len(text) > MAX_SPEC_BYTES:
        return None, [SpecProblem(name, 1, "", f"the file is over {MAX_SPEC_BYTES:,} characters")]
    if (bad := _forbidden_character(text, name)) is not None:
        return None, [bad]
    if (bad := _EventCheck(name).run(text)) is not None:
        return None, [bad]
    loader = _Loader(text)
    problems = []
    try:
        root = loader.get_single_node()
        if root is None:
            return None, [
                SpecProblem(name, 1, "", "empty file: expected a mapping with a `kind` key")
            ]
        doc = SourceDoc(path=path, data=None)
        doc.data = _build(root, (), doc, loader, problems)
    except (
        yaml.MarkedYAMLError
    ) as exc:  # the event pass has seen every syntax error; kept for safety
        return None, [_syntax_problem(exc, name, _TOP, text)]
    finally:
        loader.dispose()
    if problems:
        return None, problems
    return doc, []
