"""Compatibility of two contracts, like a schema registry's check.

Ordered lists are the contract: a label or feature keeps its index forever.
Appending is compatible (models need retraining to use the new entries);
removing, renaming or reordering moves indices and is BREAKING. A changed
decode rule changes what an output means and is BREAKING too. Every finding
names its rule (`codegen.spec.breaking.RULES`: id, category, breaking or not).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Iterator, Mapping

from codegen.spec.breaking import Rule, rule
from codegen.spec.contract import Contract
from codegen.spec.layout import OutputLayout


@dataclass(frozen=True)
class Change:
    rule: Rule
    where: str
    detail: str

    @property
    def severity(self) -> str:
        return self.rule.severity

    @property
    def breaking(self) -> bool:
        return self.rule.breaking

    def __str__(self) -> str:
        return (
            f"{self.severity:<10} {self.rule.id} ({self.rule.category}) {self.where}: {self.detail}"
        )


def compare_lists(
    where: str, old: list[str], new: list[str], noun: str, rules: tuple[str, str]
) -> list[Change]:
    """Index-stable lists: only appending keeps every old index meaning the same thing.

    A breaking change is said as plainly as its shape allows: entries swapped in place, renamed in
    place, inserted before the end, or else what was removed, added or reordered and the first index
    whose meaning changed. `rules`: the ids of the breaking rule and of the appending one.
    """
    breaking, appended = rule(rules[0]), rule(rules[1])
    if old == new:
        return []
    if new[: len(old)] == old:
        tail = ", ".join(new[len(old) :])
        return [Change(appended, where, f"appended {noun} {tail} (retrain to use them)")]
    plain = _swaps(old, new) or _renames(old, new, noun) or _insertions(old, new, noun)
    if plain:
        return [Change(breaking, where, plain)]
    first = next(
        i
        for i in range(min(len(old), len(new)) + 1)
        if i >= len(old) or i >= len(new) or old[i] != new[i]
    )
    removed = [x for x in old if x not in new]
    added = [x for x in new if x not in old]
    parts = []
    if removed:
        parts.append(f"removed {', '.join(removed)}")
    if added:
        parts.append(f"added {', '.join(added)}")
    if not removed and not added:
        parts.append("reordered")
    was = old[first] if first < len(old) else "(nothing)"
    now = new[first] if first < len(new) else "(nothing)"
    return [Change(breaking, where, f"{'; '.join(parts)}: {noun} {first} was {was}, now {now}")]


def _differing(old: list[str], new: list[str]) -> list[int]:
    return [i for i, (a, b) in enumerate(zip(old, new)) if a != b]


def _swaps(old: list[str], new: list[str]) -> str | None:
    """'A and B swapped (indices i and j)' when the lists differ only by pairs trading places."""
    if len(old) != len(new) or sorted(old) != sorted(new):
        return None
    pairs, done = [], set()
    for i in _differing(old, new):
        if i in done:
            continue
        j = next(
            (
                j
                for j in range(len(old))
                if j not in done and j != i and old[j] == new[i] and new[j] == old[i]
            ),
            None,
        )
        if j is None:
            return None
        done |= {i, j}
        pairs.append(f"{old[i]} and {old[j]} swapped (indices {i} and {j})")
    return "; ".join(pairs) or None


def _renames(old: list[str], new: list[str], noun: str) -> str | None:
    """'renamed A to B (index i)' when only some entries changed name, each in its place."""
    if len(old) != len(new):
        return None
    changed = _differing(old, new)
    if not changed or any(new[i] in old or old[i] in new for i in changed):
        return None
    return "; ".join(f"renamed {noun} {old[i]} to {new[i]} (index {i})" for i in changed)


def _insertions(old: list[str], new: list[str], noun: str) -> str | None:
    """'inserted A at index i' / 'removed A (index i)' when entries were only inserted before the end,
    or only removed, and everything else kept its order."""
    if len(new) > len(old) and [x for x in new if x in old] == old:
        verb, changed = "inserted", [(i, x) for i, x in enumerate(new) if x not in old]
    elif len(new) < len(old) and [x for x in old if x in new] == new:
        verb, changed = "removed", [(i, x) for i, x in enumerate(old) if x not in new]
    else:
        return None
    first = changed[0][0]
    if verb == "removed" and first == len(new):
        return f"removed {noun} {', '.join(f'{x} (index {i})' for i, x in changed)} from the end"
    what = ", ".join(
        f"{x} at index {i}" if verb == "inserted" else f"{x} (index {i})" for i, x in changed
    )
    was = old[first] if first < len(old) else "(nothing)"
    now = new[first] if first < len(new) else "(nothing)"
    return f"{verb} {noun} {what}: every later {noun} moves ({noun} {first} was {was}, now {now})"


def _value(where: str, old: object, new: object, rule_id: str, what: str) -> list[Change]:
    if old == new:
        return []
    return [
        Change(
            rule(rule_id), where, f"{what} changed from {_as_written(old)} to {_as_written(new)}"
        )
    ]


def _as_written(value: object) -> str:
    """A value as a spec spells it (true, null, "text"), not as Python prints it (True, None)."""
    return json.dumps(value, ensure_ascii=False, default=str)


def _matched(
    noun: str,
    old: Mapping[str, object],
    new: Mapping[str, object],
    changes: list[Change],
    rules: tuple[str, str],
) -> Iterator[tuple[str, str]]:
    """(name, where) for names on both sides; `rules`: the ids for a removed and an added name."""
    for name in sorted(old.keys() | new.keys()):
        where = f"{noun} {name}"
        if name not in new:
            changes.append(Change(rule(rules[0]), where, "removed"))
        elif name not in old:
            changes.append(Change(rule(rules[1]), where, "added"))
        else:
            yield name, where


def compare_contracts(old: Contract, new: Contract) -> list[Change]:
    changes: list[Change] = []
    for name, where in _matched(
        "enum", old.enums, new.enums, changes, ("ENUM_NO_DELETE", "ENUM_ADDED")
    ):
        changes += compare_lists(
            where,
            old.enums[name],
            new.enums[name],
            "variant",
            ("ENUM_VARIANTS_APPEND_ONLY", "ENUM_VARIANTS_APPENDED"),
        )
        changes += _value(
            where, old.enum_defaults[name], new.enum_defaults[name], "ENUM_DEFAULT_SAME", "default"
        )
    changes += compare_lists(
        "event kinds",
        old.event_kinds,
        new.event_kinds,
        "label",
        ("EVENT_KINDS_APPEND_ONLY", "EVENT_KINDS_APPENDED"),
    )
    changes += _value(
        "event kinds", old.event_threshold, new.event_threshold, "EVENT_THRESHOLD_SAME", "threshold"
    )
    changes += _value(
        "event kinds",
        old.event_multi_label,
        new.event_multi_label,
        "EVENT_MULTI_LABEL_SAME",
        "multi_label",
    )
    changes += _value(
        "event kinds",
        old.event_at_least_one,
        new.event_at_least_one,
        "EVENT_AT_LEAST_ONE_SAME",
        "at_least_one",
    )
    changes += compare_lists(
        "BIO labels",
        old.bio_labels,
        new.bio_labels,
        "label",
        ("BIO_LABELS_APPEND_ONLY", "BIO_LABELS_APPENDED"),
    )
    changes += compare_lists(
        "entity roles",
        old.entity_roles,
        new.entity_roles,
        "role",
        ("ENTITY_ROLES_APPEND_ONLY", "ENTITY_ROLES_APPENDED"),
    )
    changes += compare_lists(
        "registers",
        old.registers,
        new.registers,
        "register",
        ("REGISTERS_APPEND_ONLY", "REGISTERS_APPENDED"),
    )
    changes += _value(
        "text", old.max_seq_length, new.max_seq_length, "MAX_SEQ_LENGTH_CHANGED", "max_seq_length"
    )
    changes += _value(
        "text", old.ignore_index, new.ignore_index, "IGNORE_INDEX_CHANGED", "ignore_index"
    )
    for name, where in _matched(
        "features", old.features, new.features, changes, ("FEATURES_NO_DELETE", "FEATURES_ADDED")
    ):
        changes += compare_lists(
            where,
            list(old.features[name].leaves),
            list(new.features[name].leaves),
            "feature",
            ("FEATURES_APPEND_ONLY", "FEATURES_APPENDED"),
        )
    for name, where in _matched(
        "outputs", old.outputs, new.outputs, changes, ("OUTPUTS_NO_DELETE", "OUTPUTS_ADDED")
    ):
        changes += _compare_heads(where, old.outputs[name], new.outputs[name])
    old_models, new_models = old.artifacts.models, new.artifacts.models
    for name, where in _matched(
        "artifact", old_models, new_models, changes, ("ARTIFACT_NO_DELETE", "ARTIFACT_ADDED")
    ):
        changes += _value(
            where, old_models[name].file, new_models[name].file, "ARTIFACT_FILE_SAME", "file"
        )
        changes += compare_lists(
            f"{where} inputs",
            list(old_models[name].inputs),
            list(new_models[name].inputs),
            "input",
            ("ARTIFACT_INPUTS_APPEND_ONLY", "ARTIFACT_INPUTS_APPENDED"),
        )
        changes += compare_lists(
            f"{where} outputs",
            old.head_outputs(name),
            new.head_outputs(name),
            "output",
            ("ARTIFACT_OUTPUTS_APPEND_ONLY", "ARTIFACT_OUTPUTS_APPENDED"),
        )
    changes += _value(
        "artifacts",
        old.artifacts.tokenizer,
        new.artifacts.tokenizer,
        "TOKENIZER_FILE_SAME",
        "tokenizer file",
    )
    changes += _value(
        "artifacts", old.artifacts.opset, new.artifacts.opset, "OPSET_CHANGED", "opset"
    )
    changes += _value(
        "artifacts",
        old.artifacts.metadata,
        new.artifacts.metadata,
        "METADATA_KEYS_SAME",
        "metadata keys",
    )
    changes += _value(
        "contract version",
        old.version.metadata_key,
        new.version.metadata_key,
        "METADATA_KEYS_SAME",
        "metadata key",
    )
    return changes


def _compare_heads(where: str, o: OutputLayout, n: OutputLayout) -> list[Change]:
    """Output positions, head order, and per field its decode rule (meaning) and loss (training)."""
    changes = compare_lists(
        where, list(o.leaves), list(n.leaves), "output", ("OUTPUTS_APPEND_ONLY", "OUTPUTS_APPENDED")
    )
    changes += compare_lists(
        f"{where} heads",
        [h.name for h in o.heads],
        [h.name for h in n.heads],
        "head",
        ("HEADS_APPEND_ONLY", "HEADS_APPENDED"),
    )
    new_heads = {h.name: h for h in n.heads}
    new_fields = {(h.name, f.name): f for h in n.heads for f in h.fields}
    for h in o.heads:
        for f in h.fields:
            nf = new_fields.get((h.name, f.name))
            if nf is None:
                continue
            fw = f"{where} {h.name}.{f.name}"
            changes += _value(
                fw, f.spec.decode.model_dump(), nf.spec.decode.model_dump(), "DECODE_SAME", "decode"
            )
            changes += _value(fw, f.spec.loss, nf.spec.loss, "LOSS_CHANGED", "loss (retrain)")
        if h.name in new_heads:
            changes += _value(
                f"{where} {h.name}",
                h.weight,
                new_heads[h.name].weight,
                "LOSS_WEIGHT_CHANGED",
                "loss weight (retrain)",
            )
    return changes
