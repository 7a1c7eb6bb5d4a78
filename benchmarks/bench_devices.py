"""Training throughput per device: CPU and, when one is visible, CUDA, side by side.

Each device trains the event classifier for the same optimizer steps on the same length-grouped
batches, with what specs/text/training.yaml declares for it under `devices:` (precision, batch
size); the script prints examples per second for each and the GPU/CPU ratio. Where no GPU is
visible it says so and prints the CPU row alone. The MLP row trains the character predictor on
whole-epoch tensors held on the device.

Run: python benchmarks/bench_devices.py [--encoder minilm] [--steps 20]
"""

from __future__ import annotations

import argparse
import contextlib
import random
import time

import torch
from bench_training_padding import batches_dynamic
from storyml_contract.character_features import TOTAL as NUM_FEATURES
from storyml_contract.character_outputs import TOTAL as NUM_OUTPUTS
from storyml_contract.text import NUM_EVENT_KINDS

from codegen.spec.loader import load_specs
from codegen.spec.models import MlpModelFile
from storyml.data.events import generate_events
from storyml.train.encoders import load_encoder
from storyml.train.mlp import build_model, concat_heads
from storyml.train.text import LabelledCollator, encode_records, resolve_settings

AUTOCAST = {"bf16": torch.bfloat16, "fp16": torch.float16}


def text_examples_per_second(specs, encoder: str, device: str, steps: int, records) -> float:
    settings = resolve_settings(specs, device=device)
    batch = settings.hyperparameters["batch_size"]
    torch.manual_seed(0)
    model, tokenizer = load_encoder(
        specs,
        encoder,
        "sequence",
        NUM_EVENT_KINDS,
        problem_type="multi_label_classification",
        corpus=[r["text"] for r in records],
    )
    model.to(device).train()
    features = encode_records(tokenizer, records)
    collate = LabelledCollator(tokenizer.pad_token_id, "event_labels", None)
    groups = batches_dynamic(features, batch, steps + 2, random.Random(0))
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-5)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    dtype = AUTOCAST.get(settings.precision)
    autocast = (
        torch.autocast(device_type=device, dtype=dtype) if dtype else contextlib.nullcontext()
    )
    start, examples = 0.0, 0
    for i, group in enumerate(groups):
        if i == 2:  # two warm-up steps: allocator, kernels
            _sync(device)
            start, examples = time.perf_counter(), 0
        tensors = {k: v.to(device) for k, v in collate(group).items()}
        with autocast:
            logits = model(
                input_ids=tensors["input_ids"], attention_mask=tensors["attention_mask"]
            ).logits
            loss = loss_fn(logits.float(), tensors["event_labels"])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        examples += len(group)
    _sync(device)
    return examples / (time.perf_counter() - start)


def mlp_examples_per_second(specs, device: str, epochs: int, rows: int = 20_000) -> float:
    spec = specs.one(MlpModelFile)
    torch.manual_seed(0)
    model = build_model(spec).to(device).train()
    x = torch.rand(rows, NUM_FEATURES, device=device)
    y = torch.rand(rows, NUM_OUTPUTS, device=device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=spec.training.learning_rate)
    batch = spec.training.batch_size
    _sync(device)
    start = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(rows, device=device)
        for i in range(0, rows, batch):
            idx = order[i : i + batch]
            loss = torch.nn.functional.mse_loss(concat_heads(model(x[idx])), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    _sync(device)
    return rows * epochs / (time.perf_counter() - start)


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", default="minilm")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--mlp-epochs", type=int, default=2)
    args = parser.parse_args()
    specs = load_specs("specs")
    records = generate_events(specs, seed=resolve_settings(specs).seed, per_kind=200)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rows = {}
    for device in devices:
        rows[device] = (
            text_examples_per_second(specs, args.encoder, device, args.steps, records),
            mlp_examples_per_second(specs, device, args.mlp_epochs),
        )
    print(
        f"{torch.get_num_threads()} CPU threads; GPU: "
        f"{torch.cuda.get_device_name() if 'cuda' in rows else 'none visible'}"
    )
    print(f"{'device':<8}{'settings':<36}{args.encoder + ' examples/s':>20}{'MLP examples/s':>18}")
    for device, (text, mlp) in rows.items():
        settings = resolve_settings(specs, device=device)  # what the device's entry makes of them
        said = f"{settings.precision}, batch {settings.hyperparameters['batch_size']}"
        print(f"{device:<8}{said:<36}{text:>20.1f}{mlp:>18.0f}")
    if "cuda" in rows:
        print(
            f"GPU / CPU: {args.encoder} {rows['cuda'][0] / rows['cpu'][0]:.1f}x, "
            f"MLP {rows['cuda'][1] / rows['cpu'][1]:.1f}x"
        )


if __name__ == "__main__":
    main()
