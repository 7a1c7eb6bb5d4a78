"""Safe YAML loading that remembers the line of every key and item.

PyYAML's safe loader forgets positions and silently lets a duplicate key
overwrite the first one. This loader composes the node tree itself, so each
value's line is known for error messages and duplicate keys are errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from codegen.spec.errors import SpecProblem, display_path, key_path

Loc = tuple[str | int, ...]

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

    def resolve(self, kind, value, implicit):
        if kind is not yaml.ScalarNode:
            return super().resolve(kind, value, implicit)
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


def _build(node: yaml.Node, loc: Loc, doc: SourceDoc, loader: yaml.SafeLoader,
           problems: list[SpecProblem]) -> Any:
    doc.lines.setdefault(loc, node.start_mark.line + 1)
    if node.tag == _STR_TAG and isinstance(node, yaml.ScalarNode):
        return node.value  # what the safe constructor returns for a string, without its bookkeeping
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)  # resolves YAML merge keys (<<)
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = (key_node.value if key_node.tag == _STR_TAG and isinstance(key_node, yaml.ScalarNode)
                   else loader.construct_object(key_node, deep=True))
            if not isinstance(key, (str, int, float, bool)) or key is None:
                problems.append(SpecProblem(doc.name, key_node.start_mark.line + 1,
                                            _kp(loc), f"unsupported mapping key {key!r}"))
                continue
            if key in out:
                problems.append(SpecProblem(
                    doc.name, key_node.start_mark.line + 1, _kp(loc + (key,)),
                    f"duplicate key (first given on line {doc.lines[loc + (key,)]})"))
                continue
            doc.lines[loc + (key,)] = key_node.start_mark.line + 1
            out[key] = _build(value_node, loc + (key,), doc, loader, problems)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, loc + (i,), doc, loader, problems)
                for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def _kp(loc: Loc) -> str:
    return key_path(loc)


def load_yaml(path: Path, text: str | None = None) -> tuple[SourceDoc | None, list[SpecProblem]]:
    """Parse one file. Returns the document, or None and the problems that stopped it."""
    name = display_path(path)
    if text is None:
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            return None, [SpecProblem(name, 1, "", f"not UTF-8 text: {exc}")]
    loader = _Loader(text)
    problems: list[SpecProblem] = []
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        what = " ".join(str(x) for x in (exc.context, exc.problem) if x)
        return None, [SpecProblem(name, line, "", f"YAML syntax error: {what}")]
    except yaml.YAMLError as exc:
        return None, [SpecProblem(name, 1, "", f"YAML error: {exc}")]
    finally:
        loader.dispose()
    if root is None:
        return None, [SpecProblem(name, 1, "", "empty file: expected a mapping with a `kind` key")]
    doc = SourceDoc(path=path, data=None)
    try:
        doc.data = _build(root, (), doc, loader, problems)
    except yaml.YAMLError as exc:
        return None, [SpecProblem(name, 1, "", f"YAML error: {exc}")]
    if problems:
        return None, problems
    return doc, []
