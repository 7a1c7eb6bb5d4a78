"""Load a specs directory into a validated `SpecSet`, or raise `SpecError` with every problem."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from codegen.spec.crosscheck import cross_check
from codegen.spec.errors import Loc, SpecError, SpecProblem, display_path, one_of
from codegen.spec.kinds import KINDS
from codegen.spec.limits import RUST_INT_TYPES
from codegen.spec.models import ITEM_MARK
from codegen.spec.source import SourceDoc, load_yaml
from codegen.spec.specset import Entry, SpecSet

# Entry and SpecSet are re-exported: callers load specs and name what they get from one module.
__all__ = ["Entry", "SpecSet", "load_file", "load_specs", "spec_files"]


def spec_files(root: Path) -> tuple[list[Path], list[SpecProblem]]:
    """Every YAML file under `root`, in a stable order, and a problem per directory that cannot be
    listed (a spec there would otherwise be skipped without a word)."""
    problems: list[SpecProblem] = []

    def unreadable(exc: OSError) -> None:
        where = Path(exc.filename) if exc.filename else root
        problems.append(
            SpecProblem(
                display_path(where), 1, "", f"cannot list the directory: {exc.strerror or exc}"
            )
        )

    found = []
    for dirpath, dirnames, filenames in os.walk(root, onerror=unreadable, followlinks=True):
        dirnames.sort()
        found += [
            Path(dirpath) / f
            for f in filenames
            if Path(f).suffix in (".yaml", ".yml") and not (Path(dirpath) / f).is_dir()
        ]
    return sorted(found), problems


_ITEM = re.compile(re.escape(ITEM_MARK).replace(r"\{\}", r"(\d+)") + "$")


def _validation_problems(doc: SourceDoc, exc: ValidationError) -> list[SpecProblem]:
    problems = []
    for err in exc.errors():
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key (not allowed here)"
        elif err["type"] == "missing":
            msg = "required key is missing"
        elif err["type"].endswith("_type") and not isinstance(err.get("input"), (dict, list)):
            msg += f", not {_yaml_value(err.get('input'))}"  # "a valid integer, not true"
        loc = tuple(err["loc"])
        rust = RUST_INT_TYPES.get(str(loc[-1])) if loc else None
        if rust is not None and err["type"] in ("less_than_equal", "greater_than_equal"):
            msg += f" (it becomes a Rust constant of type {rust.name})"
        if item := _ITEM.search(msg):
            loc, msg = loc + (int(item[1]),), msg[: item.start()].rstrip()
        problems.append(doc.problem(_path_in_file(doc.data, loc), msg))
    return problems


def _yaml_value(value: object) -> str:
    """A value as the YAML file wrote it: `true`, `null`, `'twelve'`, `2.5`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null (an empty value)"
    return repr(value)


def _path_in_file(data: Any, loc: Loc) -> Loc:
    """Pydantic's error path, reduced to keys that name something in the file.

    Tagged unions insert their tag (`decode.abs_cutoff.cutoff`): a part that is
    not a key but is a value of the mapping is such a tag and is skipped. A
    missing key is kept, since it names what to add, and ends the path.
    """
    out: list[str | int | float] = []
    for part in loc:
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
            data = data[part]
        elif isinstance(data, dict) and part in data.values():
            continue
        elif isinstance(data, dict):
            out.append(part)
            break
        else:
            break
        out.append(part)
    return tuple(out)


def load_file(
    path: Path, text: str | None = None
) -> tuple[Entry[BaseModel] | None, list[SpecProblem]]:
    doc, problems = load_yaml(path, text)
    if doc is None:
        return None, problems
    if not isinstance(doc.data, dict):
        return None, [doc.problem((), "expected a mapping with a `kind` key at the top level")]
    kind = doc.data.get("kind")
    if kind is None:
        return None, [doc.problem((), f"missing `kind` (one of: {', '.join(sorted(KINDS))})")]
    if not isinstance(kind, str) or kind not in KINDS:
        return None, [
            doc.problem(("kind",), f"unknown kind {kind!r} {one_of(kind, sorted(KINDS))}")
        ]
    model: type[BaseModel] = KINDS[kind].model
    try:
        return Entry(doc, model.model_validate(doc.data)), []
    except ValidationError as exc:
        return None, _validation_problems(doc, exc)


def load_specs(root: Path | str, codegen_only: bool = False) -> SpecSet:
    """Parse, validate and cross-check every spec under `root`.

    With `codegen_only`, only the kinds that code generation reads are loaded;
    files of other kinds are skipped unread beyond their `kind`, so an old
    revision (for `storyml diff`) may predate today's data kinds.
    """
    root = Path(root)
    if not root.is_dir():
        raise SpecError([SpecProblem(display_path(root), 1, "", "specs directory not found")])
    specs = SpecSet(root=root)
    paths, problems = spec_files(root)
    wanted = {name for name, kind in KINDS.items() if kind.codegen or not codegen_only}
    for path in paths:
        if codegen_only and _declared_kind(path) not in wanted | {None}:
            continue
        entry, found = load_file(path)
        problems.extend(found)
        if (
            entry is not None
        ):  # filed under the `kind:` whose row of KINDS load_file validated it with
            specs.entries[entry.doc.data["kind"]].append(entry)
    if (
        problems
    ):  # a file that failed to load may be the missing singleton: report only its problems
        raise SpecError(problems)
    for name in sorted(wanted):
        count = len(specs.of_kind(name))
        if KINDS[name].singleton and count != 1:
            where = ", ".join(e.doc.name for e in specs.of_kind(name)) or "none found"
            problems.append(
                SpecProblem(
                    display_path(root),
                    1,
                    "kind",
                    f"expected exactly one `kind: {name}` file ({where})",
                )
            )
    if problems:
        raise SpecError(problems)
    problems = cross_check(specs, codegen_only=codegen_only)
    if problems:
        raise SpecError(problems)
    return specs


def _declared_kind(path: Path) -> str | None:
    """The file's `kind`, or None when it cannot be read (then it is loaded to report why)."""
    doc, _ = load_yaml(path)
    kind = doc.data.get("kind") if doc is not None and isinstance(doc.data, dict) else None
    return kind if isinstance(kind, str) and kind in KINDS else None
