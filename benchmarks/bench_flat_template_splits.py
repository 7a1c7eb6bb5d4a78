"""A build's text models on the template test splits of an earlier revision, beside its own.

    python benchmarks/bench_flat_template_splits.py --artifacts artifacts/default [--revision a1ed6d4]

The template splits a build reports are drawn from today's templates, which compose clauses and
so are harder than the flat templates the first builds were scored on. To compare template
competence on the same sentences, this script makes the test splits of an earlier revision
(default a1ed6d4, the last one before composition) with that revision's own code, in a temporary
git worktree with its generated package first on the path, at the seed and profile of its
default build, and scores today's models on them and on the build's own splits, side by side.

The earlier splits carry that revision's labels. Where the annotation guideline
(evalsets/GUIDELINES.md) has since changed a convention, today's models follow the guideline and
the per-label rows show the difference. One change is mechanical and is also scored applied: the
guideline tags the player's "I" outside quotation marks as CHARACTER (section 4, Pronouns), which
the flat templates wrote as untagged text.

The build's own splits are those its profile held out of training (`held_out_splits`). A profile
that trains on the held-out-template or held-out-vocabulary split (the default) has learned
today's versions of the templates and words the earlier splits of those names hold out, so there
those columns measure fit, as the random split does; the script says so when it is the case.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from codegen.spec.loader import SpecSet, load_specs
from codegen.spec.templates import (
    QUOTED,
    TemplatesFile,
    self_mention_list,
    self_mention_words,
    whole_words,
)
from storyml.data.splits import SPLITS, test_file
from storyml.evaluate.evalsets import load_event_records
from storyml.evaluate.report import score_text_set
from storyml.predict import Predictor, TextAnalysis

REPO = Path(__file__).resolve().parents[1]
FLAT_TEMPLATES_REVISION = "a1ed6d4"  # the last revision before composition (5c1885c)

# Runs inside the earlier revision's worktree, with its own code: its default build's splits.
MAKE_SPLITS = """
import sys
from pathlib import Path

import yaml
from codegen.spec.loader import load_specs
from storyml.data.events import build_events
from storyml.data.jsonl import write_jsonl
from storyml.data.splits import SPLITS, make_splits, test_file

build = yaml.safe_load(Path("specs/build.yaml").read_text(encoding="utf-8"))
profile = build["profiles"]["default"]
events = build_events(load_specs("specs"), seed=build["seed"], per_kind=profile["events_per_kind"])
splits = make_splits(events.records, build["seed"], profile["test_fraction"])
for split in SPLITS:
    write_jsonl(Path(sys.argv[1]) / test_file(split), splits[split]["test"])
"""


def earlier_splits(revision: str, out_dir: Path) -> None:
    """Write `revision`'s template test splits to `out_dir`, made by its own code."""
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "tree"
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(tree), revision],
            cwd=REPO,
            check=True,
            capture_output=True,
        )
        try:
            env = {**os.environ, "PYTHONPATH": f"{tree}{os.pathsep}{tree / 'generated' / 'python'}"}
            subprocess.run(
                [sys.executable, "-c", MAKE_SPLITS, str(out_dir)], cwd=tree, env=env, check=True
            )
        finally:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(tree)], cwd=REPO, capture_output=True
            )


@dataclass(frozen=True)
class SelfMention:
    """The player's own mention as today's specs declare it (register_rules `self_mention`):
    its words, and the entity category of the template slots that draw on it."""

    words: re.Pattern[str]
    category: str

    @classmethod
    def from_specs(cls, specs: SpecSet) -> SelfMention:
        name = self_mention_list(specs)
        words = whole_words(self_mention_words(specs))
        categories = {
            slot.entity.category
            for entry in specs.of_kind(TemplatesFile)
            for template in entry.model.templates
            for slot in template.slots.values()
            if slot.entity is not None
            and slot.entity.category is not None
            and name in ([slot.from_] if isinstance(slot.from_, str) else slot.from_.values())
        }
        if words is None or len(categories) != 1:
            raise SystemExit(f"the specs declare no single self-mention category: {categories}")
        return cls(words, categories.pop())


def with_self_mention_tagged(record: dict, mention: SelfMention) -> dict:
    """`record` with every self-mention word outside quotation marks that no gold span covers
    added as a mention, as the guideline tags the player's "I"."""
    quoted = [m.span() for m in QUOTED.finditer(record["text"])]
    added = [
        {"start": m.start(), "end": m.end(), "category": mention.category}
        for m in mention.words.finditer(record["text"])
        if not any(s <= m.start() < e for s, e in quoted)
        and not any(e["start"] <= m.start() < e["end"] for e in record["entities"])
    ]
    entities = sorted([*record["entities"], *added], key=lambda e: e["start"])
    return {**record, "entities": entities}


def split_scores(
    predictor: Predictor, records: list[dict], analyses: list[TextAnalysis], mention: SelfMention
) -> dict:
    """Scores on one split as labelled, and (under "player_i") with the player's "I" tagged."""
    result = score_text_set(predictor, records, analyses, False)
    relabelled = [with_self_mention_tagged(r, mention) for r in records]
    result["player_i"] = score_text_set(predictor, relabelled, analyses, False)
    return result


def scores(predictor: Predictor, directory: Path, mention: SelfMention) -> dict[str, dict]:
    """The build's own splits: those its profile held out of training (the files it wrote)."""
    result = {}
    for split in SPLITS:
        if not (directory / test_file(split)).exists():
            continue
        records = load_event_records(directory / test_file(split))
        analyses = predictor.analyze([r["text"] for r in records])
        result[split] = split_scores(predictor, records, analyses, mention)
    return result


def error_breakdown(records: list[dict], analyses: list[TextAnalysis]) -> dict[str, Counter]:
    """Where the errors of one split fall: event errors by template, spurious spans by kind.

    Event errors are counted per (template, kind, missed or extra), so a template whose labels
    the guideline defines otherwise shows as one large entry rather than as noise. A spurious
    span (predicted, no exact gold match) that overlaps no gold span is a mention the split's
    labels leave untagged (or an invention); one that overlaps a gold span is a boundary or
    category disagreement. Untagged texts are counted lower-cased so conventions repeat.
    """
    events: Counter = Counter()
    spans: Counter = Counter()
    untagged: Counter = Counter()
    for record, analysis in zip(records, analyses):
        gold_kinds = set(record["event_kinds"])
        predicted_kinds = {k["label"] for k in analysis.result["event_kinds"]}
        for kind in gold_kinds - predicted_kinds:
            events[f"{record.get('template')} {kind} missed"] += 1
        for kind in predicted_kinds - gold_kinds:
            events[f"{record.get('template')} {kind} extra"] += 1
        gold = {(e["start"], e["end"], e["category"]) for e in record["entities"]}
        for span in analysis.result["entities"]:
            if (span["start"], span["end"], span["category"]) in gold:
                continue
            overlaps = any(s < span["end"] and span["start"] < e for s, e, _ in gold)
            spans["overlaps a gold span" if overlaps else "overlaps no gold span"] += 1
            if not overlaps:
                untagged[f"{span['text'].lower()} {span['category']}"] += 1
    return {"events": events, "spans": spans, "untagged": untagged}


def _cell(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:.3f}"


def print_table(title: str, rows: dict[str, dict[str, float]], columns: list[str]) -> None:
    print(f"\n{title}")
    print("| | " + " | ".join(columns) + " |")
    print("|---|" + "---:|" * len(columns))
    for name, values in rows.items():
        print(f"| {name} | " + " | ".join(_cell(values[c]) for c in columns) + " |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--artifacts", required=True, help="a build's artifacts directory")
    parser.add_argument("--revision", default=FLAT_TEMPLATES_REVISION)
    parser.add_argument("--splits", help="reuse earlier splits written here by a previous run")
    args = parser.parse_args(argv)

    artifacts = Path(args.artifacts)
    predictor = Predictor(artifacts)
    mention = SelfMention.from_specs(load_specs(REPO / "specs"))
    with tempfile.TemporaryDirectory() as tmp:
        earlier = Path(args.splits) if args.splits else Path(tmp)
        if not (earlier / test_file(SPLITS[0])).exists():
            earlier_splits(args.revision, earlier)
        earlier_scores, breakdowns = {}, {}
        for split in SPLITS:
            records = load_event_records(earlier / test_file(split))
            analyses = predictor.analyze([r["text"] for r in records])
            earlier_scores[split] = split_scores(predictor, records, analyses, mention)
            breakdowns[split] = error_breakdown(records, analyses)
        sides = {f"{args.revision} splits": earlier_scores}
    own = scores(predictor, artifacts / "data", mention)
    if own:
        sides["the build's own splits"] = own

    columns = [f"{side}: {split}" for side, res in sides.items() for split in res]

    def row(value) -> dict[str, float]:
        """One table row: `value(result of one split)` in every column."""
        return {f"{side}: {s}": value(r) for side, res in sides.items() for s, r in res.items()}

    print(f"models: {artifacts}")
    trained_on = [s for s in SPLITS if s not in own]
    if trained_on:
        # The build's profile trained on these splits' templates and words (held_out_splits),
        # and today's templates descend from the earlier ones: those earlier columns then
        # measure fit to familiar templates, not generalisation.
        print(
            f"the build did not hold out {', '.join(trained_on)} (held_out_splits): its models "
            f"trained on today's versions of the templates and words the {args.revision} "
            "splits of those names hold out"
        )
    print_table(
        "Summary",
        {
            "sentences": row(lambda r: r["n"]),
            "event macro-F1": row(lambda r: r["events"]["macro"]["f1"]),
            "entity F1 (strict)": row(lambda r: r["entities_strict"]["micro"]["f1"]),
            'entity F1, the player\'s "I" tagged': row(
                lambda r: r["player_i"]["entities_strict"]["micro"]["f1"]
            ),
            "entity precision (strict)": row(lambda r: r["entities_strict"]["micro"]["precision"]),
            "entity recall (strict)": row(lambda r: r["entities_strict"]["micro"]["recall"]),
        },
        columns,
    )
    first = next(iter(sides.values()))[SPLITS[0]]
    print_table(
        "Event F1 per kind",
        {
            k: row(lambda r, k=k: r["events"]["per_label"][k]["f1"])
            for k in first["events"]["per_label"]
        },
        columns,
    )
    print_table(
        "Entity F1 per category (span exact)",
        {
            c: row(lambda r, c=c: r["entity_spans"]["per_label"][c]["f1"])
            for c in first["entity_spans"]["per_label"]
        },
        columns,
    )
    print(f"\nErrors on the {args.revision} splits")
    for split, breakdown in breakdowns.items():
        events = ", ".join(f"{key} x{n}" for key, n in breakdown["events"].most_common(8))
        untagged = ", ".join(f"{key!r} x{n}" for key, n in breakdown["untagged"].most_common(12))
        print(f"- {split}: event errors by template (of {breakdown['events'].total()}): {events}")
        print(f"  spurious spans: {dict(breakdown['spans'])}; most common untagged: {untagged}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
