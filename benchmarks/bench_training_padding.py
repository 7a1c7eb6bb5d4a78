"""Training throughput: dynamic padding with length-grouped batches vs padding every input to 128.

The hand-kept pipeline padded every example to MAX_SEQ_LENGTH. storyml pads each batch to its
longest member and groups examples of similar length, as the Trainer does with
`group_by_length`. Same encoder, same data, same batch size, same number of optimizer steps;
the script prints examples per second for both and their ratio (issue 4 asks for >= 4x).

Run: python benchmarks/bench_training_padding.py [--encoder minilm] [--steps 20] [--batch 16]
"""

from __future__ import annotations

import argparse
import random
import time

import torch
from storyml_contract.text import MAX_SEQ_LENGTH, NUM_EVENT_KINDS

from codegen.spec.loader import load_specs
from storyml.data.events import generate_events
from storyml.train.encoders import load_encoder
from storyml.train.text import LabelledCollator, encode_records


def batches_dynamic(
    features: list[dict], batch: int, steps: int, rng: random.Random
) -> list[list[dict]]:
    """Length-grouped: sort a shuffled pool by length, cut it into batches, shuffle the batches."""
    pool = rng.sample(features, min(len(features), batch * steps * 4))
    pool.sort(key=lambda f: len(f["input_ids"]))
    groups = [pool[i : i + batch] for i in range(0, len(pool) - batch + 1, batch)]
    rng.shuffle(groups)
    return groups[:steps]


def pad_to_max(features: list[dict], pad_id: int) -> list[dict]:
    out = []
    for f in features:
        n = MAX_SEQ_LENGTH - len(f["input_ids"])
        out.append(
            {
                **f,
                "input_ids": f["input_ids"] + [pad_id] * n,
                "attention_mask": f["attention_mask"] + [0] * n,
            }
        )
    return out


def train_steps(model, collate, groups: list[list[dict]]) -> tuple[float, int, int]:
    """Seconds, examples and padded tokens for one optimizer step per group."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-5)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    model.train()
    start, tokens = time.perf_counter(), 0
    for group in groups:
        batch = collate(group)
        tokens += batch["input_ids"].numel()
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        loss = loss_fn(logits, batch["event_labels"])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start, sum(len(g) for g in groups), tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", default="minilm")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--per-kind", type=int, default=200)
    args = parser.parse_args()
    torch.manual_seed(0)
    specs = load_specs("specs")
    records = generate_events(specs, seed=2026, per_kind=args.per_kind)
    model, tokenizer = load_encoder(
        specs,
        args.encoder,
        "sequence",
        NUM_EVENT_KINDS,
        problem_type="multi_label_classification",
        corpus=[r["text"] for r in records],
    )
    features = encode_records(tokenizer, records)
    collate = LabelledCollator(tokenizer.pad_token_id, "event_labels", None)
    rng = random.Random(0)
    dynamic = batches_dynamic(features, args.batch, args.steps, rng)
    padded = [
        pad_to_max(g, tokenizer.pad_token_id)
        for g in [rng.sample(features, args.batch) for _ in range(args.steps)]
    ]
    state = {k: v.clone() for k, v in model.state_dict().items()}
    train_steps(model, collate, dynamic[:2])  # warm-up: allocator, kernels
    model.load_state_dict(state)
    t_pad, n_pad, tok_pad = train_steps(model, collate, padded)
    model.load_state_dict(state)
    t_dyn, n_dyn, tok_dyn = train_steps(model, collate, dynamic)
    lengths = sorted(len(f["input_ids"]) for f in features)
    print(
        f"encoder {args.encoder}, batch {args.batch}, {args.steps} optimizer steps each, "
        f"{torch.get_num_threads()} threads; token lengths: median {lengths[len(lengths) // 2]}, "
        f"max {lengths[-1]} of {MAX_SEQ_LENGTH}"
    )
    print(f"{'recipe':<40}{'examples/s':>12}{'tokens/step':>14}")
    print(
        f"{'pad every input to ' + str(MAX_SEQ_LENGTH) + ' (engine)':<40}{n_pad / t_pad:>12.1f}"
        f"{tok_pad / args.steps:>14.0f}"
    )
    print(
        f"{'dynamic padding, length-grouped':<40}{n_dyn / t_dyn:>12.1f}{tok_dyn / args.steps:>14.0f}"
    )
    print(f"speed-up: {(n_dyn / t_dyn) / (n_pad / t_pad):.1f}x")


if __name__ == "__main__":
    main()
