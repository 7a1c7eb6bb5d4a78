"""Coverage: every label can be generated, and the data has as much of it as the spec asks.

Two rules, both checked by `storyml check` with a located message:

- An event kind or entity category that no template generates is an error, whatever the
  settings: `storyml data events` could never write a sentence of it (it used to search for one
  without end). The problem points at the label in the text_labels spec.
- The `coverage` section of the text_training spec sets how many templates each event kind and
  entity category needs, and how often each occurs in each hand-written evaluation set. A label
  that falls short is reported at the setting, naming the label (and the file).

The evaluation sets are read with `json` alone (their records are validated by the runtime's
loader); a path is relative to the storyml checkout, where the build reads them from.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from codegen.spec.errors import SpecProblem, display_path
from codegen.spec.models import TextLabelsFile
from codegen.spec.specset import Entry, SpecSet
from codegen.spec.templates import TemplatesFile
from codegen.spec.training import Coverage, TextTrainingFile

CHECKOUT = Path(__file__).resolve().parents[2]


def template_counts(specs: SpecSet) -> tuple[Counter[str], Counter[str]]:
    """Templates per event kind, and templates with an entity slot per category."""
    kinds: Counter[str] = Counter()
    categories: Counter[str] = Counter()
    for entry in specs.of_kind(TemplatesFile):
        for t in entry.model.templates:
            kinds.update(set(t.event_kinds))
            categories.update(
                {
                    s.entity.category
                    for s in t.slots.values()
                    if s.entity is not None and s.entity.category is not None
                }
            )
    return kinds, categories


def _check_templates(specs: SpecSet, rules: Coverage | None) -> list[SpecProblem]:
    labels_entries = specs.of_kind(TextLabelsFile)
    if not labels_entries or not specs.of_kind(TemplatesFile):
        return []
    labels_entry = labels_entries[0]
    labels = labels_entry.model
    kinds, categories = template_counts(specs)
    training = specs.of_kind(TextTrainingFile)
    where = training[0].doc.name if training else ""
    problems: list[SpecProblem] = []
    for loc, names, counts, what, setting in (
        (
            ("event_kinds", "labels"),
            labels.event_kinds.labels,
            kinds,
            "event kind",
            "per_event_kind",
        ),
        (
            ("entity_categories", "categories"),
            labels.entity_categories.categories,
            categories,
            "entity category",
            "per_entity_category",
        ),
    ):
        for i, name in enumerate(names):
            n = counts[name]
            if n == 0:
                how = (
                    "list it in a template's `event_kinds`"
                    if what == "event kind"
                    else "give a template an entity slot of this category"
                )
                problems.append(
                    labels_entry.doc.problem(
                        loc + (i,),
                        f"no template generates {what} {name!r}, so the training data could "
                        f"never contain it: {how}",
                    )
                )
            elif rules is not None and n < getattr(rules.templates, setting):
                problems.append(
                    training[0].doc.problem(
                        ("coverage", "templates", setting),
                        f"{what} {name!r} is in {n} template(s); {where} asks for "
                        f"{getattr(rules.templates, setting)}",
                    )
                )
    return problems


def read_evalset(path: Path) -> tuple[list[dict[str, object]], list[SpecProblem]]:
    """The JSON objects of a JSONL file, and a problem per line that is not one."""
    records: list[dict[str, object]] = []
    problems: list[SpecProblem] = []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [], [
            SpecProblem(display_path(path), 1, "", f"cannot read the evaluation set: {exc}")
        ]
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(SpecProblem(display_path(path), n, "", f"not JSON: {exc.msg}"))
            continue
        if isinstance(record, dict):
            records.append(record)
        else:
            problems.append(
                SpecProblem(display_path(path), n, "", "a record must be a JSON object")
            )
    return records, problems


def evalset_counts(records: list[dict[str, object]]) -> tuple[Counter[str], Counter[str]]:
    """Sentences per event kind, and entity mentions per category (records not yet validated:
    values of the wrong shape are not counted)."""
    kinds: Counter[str] = Counter()
    categories: Counter[str] = Counter()
    for r in records:
        event_kinds = r.get("event_kinds")
        if isinstance(event_kinds, list):
            kinds.update({k for k in event_kinds if isinstance(k, str)})
        entities = r.get("entities") or []
        for e in entities if isinstance(entities, list) else []:
            if isinstance(e, dict) and isinstance(category := e.get("category"), str):
                categories[category] += 1
    return kinds, categories


def _check_evalsets(specs: SpecSet, entry: Entry[TextTrainingFile]) -> list[SpecProblem]:
    labels_entries = specs.of_kind(TextLabelsFile)
    if not labels_entries:
        return []
    labels = labels_entries[0].model
    problems: list[SpecProblem] = []
    for i, rule in enumerate(entry.model.coverage.evalsets):
        at = ("coverage", "evalsets", i)
        path = CHECKOUT / rule.file
        if not path.is_file():
            problems.append(
                entry.doc.problem(at + ("file",), f"{rule.file} not found in {CHECKOUT}")
            )
            continue
        records, found = read_evalset(path)
        problems += found
        kinds, categories = evalset_counts(records)
        for setting, names, counts, what, unit in (
            ("per_event_kind", labels.event_kinds.labels, kinds, "event kind", "sentence(s)"),
            (
                "per_entity_category",
                labels.entity_categories.categories,
                categories,
                "entity category",
                "mention(s)",
            ),
        ):
            needed = getattr(rule, setting)
            for name in names:
                if counts[name] < needed:
                    problems.append(
                        entry.doc.problem(
                            at + (setting,),
                            f"{rule.file} has {counts[name]} {unit} of {what} {name!r}; "
                            f"needs {needed}",
                        )
                    )
    return problems


def check_coverage(specs: SpecSet) -> list[SpecProblem]:
    """Every label has a template; templates and evaluation sets cover each label as the spec asks."""
    training = specs.of_kind(TextTrainingFile)
    rules = training[0].model.coverage if training else None
    problems = _check_templates(specs, rules)
    if training:
        problems += _check_evalsets(specs, training[0])
    return problems
