"""`storyml data events|characters`: generate a dataset from the specs."""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path

from codegen.spec.build import default_seed
from codegen.spec.loader import load_specs
from storyml.data.characters import run_matrix, write_dataset
from storyml.data.events import build_events, manifest_path, write_events
from storyml.errors import UserError

from .common import DEFAULT_SPECS, add_specs_option, check_output


def add_events_arguments(parser: argparse.ArgumentParser) -> None:
    add_specs_option(parser)
    parser.add_argument(
        "--seed", type=int, default=None, help="random seed (default: the build spec's)"
    )
    parser.add_argument(
        "--per-kind",
        type=int,
        default=1000,
        metavar="N",
        help="examples per event kind (default: %(default)s)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="FILE.jsonl",
        help="output JSONL; the manifest goes beside it as FILE.manifest.json",
    )


def run_events(args: argparse.Namespace) -> int:
    check_output(args.out, directory=False)
    started = time.perf_counter()
    specs = load_specs(args.specs)
    seed = default_seed(specs) if args.seed is None else args.seed
    result = build_events(specs, seed, args.per_kind)
    written = write_events(specs, result, seed, args.per_kind, args.out)
    counts = Counter(k for r in result.records for k in r["event_kinds"])
    players = sum(r["register"] == "player" for r in result.records)
    print(
        f"wrote {len(result.records)} examples to {args.out} ({time.perf_counter() - started:.1f}s); "
        f"manifest {written}"
    )
    print(
        f"  per kind: min {min(counts.values())}, max {max(counts.values())}; "
        f"player {players / len(result.records):.1%}; rejected {sum(result.rejected.values())}"
    )
    return 0


def add_characters_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--specs",
        type=Path,
        default=DEFAULT_SPECS,
        metavar="DIR",
        help="specs directory (default: %(default)s)",
    )
    parser.add_argument(
        "--seed", type=int, default=None, help="random seed (default: the build spec's)"
    )
    parser.add_argument(
        "--variations",
        type=int,
        default=None,
        metavar="N",
        help="examples per matrix cell (default: the spec's variations_per_cell)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="FILE.jsonl",
        help="dataset to write; the manifest goes beside it as FILE.manifest.json",
    )


def run_characters(args: argparse.Namespace) -> int:
    if args.out.suffix != ".jsonl":
        raise UserError(f"--out must name a .jsonl file, got {args.out}")
    check_output(args.out, directory=False)
    gen = run_matrix(args.specs, args.seed, args.variations)
    if not gen.records:
        raise UserError(
            "every generated example was rejected as incoherent; check the coherence rules"
        )
    manifest_path = write_dataset(gen, args.out)
    print(
        f"wrote {args.out}: {len(gen.records)} examples from {gen.cells_sampled} of {gen.cells_possible} cells "
        f"({gen.rejected} of {gen.generated} rejected, {gen.rejected / gen.generated:.1%}); "
        f"manifest {manifest_path}"
    )
    return 0


def add_silver_arguments(parser: argparse.ArgumentParser) -> None:
    add_specs_option(parser)
    parser.add_argument(
        "--corpus",
        default=None,
        metavar="NAME",
        help="the `kind: corpus` spec to label (default: the only one)",
    )
    parser.add_argument(
        "--limit", type=int, default=None, metavar="N", help="label only the first N sentences"
    )
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument(
        "--out",
        type=Path,
        metavar="FILE.jsonl",
        help="silver records to write; the manifest goes beside it as FILE.manifest.json",
    )
    what.add_argument(
        "--score",
        type=Path,
        metavar="GOLD.jsonl",
        help="instead, score the labelling rules against a hand-annotated DEVELOPMENT set "
        "(exact-span precision/recall/F1 per category)",
    )


def run_silver(args: argparse.Namespace) -> int:
    """Needs the `silver` extra (spaCy and its pinned model); exit status 2 with the install line if absent."""
    import json
    import sys

    from storyml.data.jsonl import write_jsonl
    from storyml.fsutil import atomic_write_text
    from storyml.silver.label import MISSING_SPACY, MissingExtra, label_corpus, score_gold_file

    specs = load_specs(args.specs)
    try:
        if args.score is not None:
            result = score_gold_file(specs, args.score, args.corpus)
            print(f"{'category':11s} {'P':>6s} {'R':>6s} {'F1':>6s} {'gold':>5s} {'pred':>5s}")
            for name, row in [*result["per_category"].items(), ("ALL", result["all"])]:
                print(
                    f"{name:11s} {row['precision']:6.3f} {row['recall']:6.3f} {row['f1']:6.3f} "
                    f"{row['gold']:5d} {row['predicted']:5d}"
                )
            print(
                f"O decisions: character precision {result['outside_char_precision']}; event rules: "
                f"{result['event_rule_assigned']} assigned, precision {result['event_rule_precision']}"
            )
            return 0
        if args.out.suffix != ".jsonl":
            raise UserError(f"--out must name a .jsonl file, got {args.out}")
        check_output(args.out, directory=False)
        started = time.perf_counter()
        records, summary = label_corpus(specs, args.corpus, args.limit)
    except MissingExtra as err:
        print(f"error: {err}", file=sys.stderr)
        return MISSING_SPACY
    args.out.parent.mkdir(parents=True, exist_ok=True)
    summary["data_sha256"] = write_jsonl(args.out, records)
    manifest = manifest_path(args.out)
    atomic_write_text(
        manifest, json.dumps(summary, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    )
    print(
        f"wrote {len(records)} silver records of {summary['sentences']} sentences to {args.out} "
        f"({time.perf_counter() - started:.1f}s); manifest {manifest}"
    )
    print("  entities: " + ", ".join(f"{k} {v}" for k, v in summary["entities"].items()))
    return 0


# dataset -> (add_arguments, run, one-line help)
DATASETS = {
    "events": (
        add_events_arguments,
        run_events,
        "event/NER sentences from the templates and vocabulary",
    ),
    "characters": (
        add_characters_arguments,
        run_characters,
        "character-prediction examples from the matrix specs",
    ),
    "silver": (
        add_silver_arguments,
        run_silver,
        "real fiction silver-labelled by the corpus spec's rules (needs the `silver` extra)",
    ),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="dataset", metavar="DATASET", required=True)
    for name, (add, _, help_text) in DATASETS.items():
        add(sub.add_parser(name, help=help_text, description=help_text))


def run(args: argparse.Namespace) -> int:
    return DATASETS[args.dataset][1](args)
