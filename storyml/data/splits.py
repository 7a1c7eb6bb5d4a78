"""Three train/test splits of the events dataset, each asking a different question.

- `random`: stratified by primary event kind (the first of `event_kinds`);
  measures fit to the template distribution.
- `held_out_template`: the test templates never occur in training; each event
  kind keeps templates on both sides where it has at least two. Measures
  whether the model learned the kind rather than the sentence shapes.
- `held_out_vocabulary`: some slot fillers (ids from the record's `fillers`)
  occur only in test; every test example uses at least one of them and no
  training example uses any. Lists with a single entry (the player's "I") are
  shared by both sides. Measures generalisation to unseen words and names.

All three are deterministic for a seed and keep the input order within a side.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable

from codegen.spec.build import SPLIT_NAMES, SplitName

from .records import TextRecord


def make_splits(
    records: list[TextRecord], seed: int, test_fraction: float = 0.2
) -> dict[str, dict[str, list[TextRecord]]]:
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be between 0 and 1, got {test_fraction}")
    return {name: split(records, seed, test_fraction) for name, split in SPLIT_FUNCTIONS.items()}


def test_file(split: str) -> str:
    """The file a build writes a split's test side to, and evaluation reads it from."""
    return f"events.test.{split}.jsonl"


def _sides(
    records: list[TextRecord], is_test: Callable[[TextRecord], bool]
) -> dict[str, list[TextRecord]]:
    return {
        "train": [r for r in records if not is_test(r)],
        "test": [r for r in records if is_test(r)],
    }


def random_split(
    records: list[TextRecord], seed: int, test_fraction: float
) -> dict[str, list[TextRecord]]:
    """Each primary kind contributes its share of test examples."""
    rng = random.Random(f"{seed}:random")
    by_kind: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(records):
        by_kind[r["event_kinds"][0]].append(i)
    test: set[int] = set()
    for kind in sorted(by_kind):
        indexes = by_kind[kind]
        rng.shuffle(indexes)
        test.update(indexes[: round(len(indexes) * test_fraction)])
    return {
        "train": [r for i, r in enumerate(records) if i not in test],
        "test": [r for i, r in enumerate(records) if i in test],
    }


def held_out_template_split(
    records: list[TextRecord], seed: int, test_fraction: float
) -> dict[str, list[TextRecord]]:
    """Whole templates go to test, chosen so that every kind keeps training examples.

    A record goes to test when any of its clauses comes from a test template. First one
    template per kind (primary kind preferred), then more in seeded order until the test side
    holds about `test_fraction` of the records. A template never moves when that would leave a
    kind without a training record.
    """
    rng = random.Random(f"{seed}:template")
    size: dict[str, int] = defaultdict(int)
    kinds_of: dict[str, tuple[str, ...]] = {}
    for r in records:
        size[r["template"]] += 1
        kinds_of[r["template"]] = tuple(r["event_kinds"])
    order = sorted(size)
    rng.shuffle(order)
    all_kinds = {k for r in records for k in r["event_kinds"]}
    test: set[str] = set()
    goal = test_fraction * len(records)

    def is_test(r: TextRecord, held: set[str]) -> bool:
        return any(t in held for t in r["clauses"].values())

    def movable(t: str) -> bool:
        held = test | {t}
        return {k for r in records if not is_test(r, held) for k in r["event_kinds"]} == all_kinds

    for kind in sorted(all_kinds):
        if any(kinds_of[t][0] == kind for t in test):  # tested as a primary kind already
            continue
        for t in order:  # prefer a template whose primary kind this is
            if t not in test and kinds_of[t][0] == kind and movable(t):
                test.add(t)
                break
    for t in order:
        held = sum(is_test(r, test) for r in records)
        if held >= goal:
            break
        if (
            t not in test
            and movable(t)
            and sum(is_test(r, test | {t}) for r in records) <= goal * 1.25
        ):
            test.add(t)
    return _sides(records, lambda r: is_test(r, test))


def held_out_vocabulary_split(
    records: list[TextRecord], seed: int, test_fraction: float
) -> dict[str, list[TextRecord]]:
    """Hold out a share of each list's entries, sized so about `test_fraction` of records hold one.

    A record goes to test when any of its fillers is held out. The share of
    entries held out per list is searched on a grid (the same share for every
    list, at least one entry always kept for training) for the test size
    closest to `test_fraction`.
    """
    rng = random.Random(f"{seed}:vocabulary")
    entries: dict[str, list[str]] = defaultdict(list)
    for r in records:
        for filler in r["fillers"].values():
            entries[_list_of(filler)].append(filler)
    # Seeded order of each list's entries; the held-out ones are a prefix of it.
    orders = {}
    for name in sorted(entries):
        unique = sorted(set(entries[name]))
        rng.shuffle(unique)
        orders[name] = unique
    best: tuple[float, set[str]] | None = None
    for step in range(1, 100):
        share = step / 100
        held = {
            f
            for name, order in orders.items()
            if len(order) > 1
            for f in order[: min(round(len(order) * share), len(order) - 1)]
        }
        n_test = sum(any(f in held for f in r["fillers"].values()) for r in records)
        gap = abs(n_test / max(len(records), 1) - test_fraction)
        if best is None or gap < best[0]:
            best = (gap, held)
    held = best[1] if best else set()
    return _sides(records, lambda r: any(f in held for f in r["fillers"].values()))


def _list_of(filler_id: str) -> str:
    return filler_id.split(":", 1)[0]


# Every split, by the name build profiles use (codegen.spec.build.SplitName): the keys of
# make_splits and of the evaluation report.
SPLIT_FUNCTIONS: dict[
    SplitName, Callable[[list[TextRecord], int, float], dict[str, list[TextRecord]]]
] = {
    "random": random_split,
    "held_out_template": held_out_template_split,
    "held_out_vocabulary": held_out_vocabulary_split,
}
if tuple(SPLIT_FUNCTIONS) != SPLIT_NAMES:  # a name a profile may hold out must have a split
    raise ImportError(f"split functions {tuple(SPLIT_FUNCTIONS)} != SplitName {SPLIT_NAMES}")
SPLITS: tuple[SplitName, ...] = SPLIT_NAMES
