"""Inference speed and size: PyTorch eager vs onnxruntime FP32 vs onnxruntime INT8, per model.

    python benchmarks/bench_inference.py [--encoder minilm] [--seq-len 32] [--runs 50] [--out DIR]

Latency is the median of `--runs` single calls at batch 1; throughput is rows per second at
batch 32 (median call). Text models get random token ids of `--seq-len` tokens, the character
predictor random features. The INT8 models are made with storyml.export.quantize (its gates are
reported, not enforced here). Targets tracked here: INT8 >= 2.5x faster than FP32 onnxruntime
at batch 1, INT8 size <= 30% of FP32. Prints real numbers whether met or not.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from storyml_contract import NUM_BIO_LABELS, NUM_EVENT_KINDS, TOTAL_INPUT_FEATURES

from codegen.spec.loader import load_specs
from storyml.export.onnx_export import artifact_size, export_model
from storyml.export.quantize import EvalSet, int8_path_for, quantize_model, session
from storyml.train.mlp import build_model

SPEEDUP_TARGET = 2.5
SIZE_TARGET = 0.30
TEXT_TASKS = {"event_classifier": ("sequence", NUM_EVENT_KINDS), "ner_classifier": ("token", NUM_BIO_LABELS)}


def text_model(specs, encoder: str, task: str, num_labels: int):
    """The named encoder preset with a fresh head; a MiniLM-shaped random BERT if it cannot load."""
    try:
        from storyml.train.encoders import load_encoder

        model, _ = load_encoder(specs, encoder, task, num_labels=num_labels, seed=0)
        return model, f"preset {encoder!r} via storyml.train.encoders.load_encoder"
    except Exception as exc:  # noqa: BLE001 - any failure falls back, and says so
        from transformers import (
            BertConfig,
            BertForSequenceClassification,
            BertForTokenClassification,
        )

        torch.manual_seed(0)
        config = BertConfig(vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
                            intermediate_size=1536, num_labels=num_labels)
        cls = BertForSequenceClassification if task == "sequence" else BertForTokenClassification
        return cls(config), f"random-weight BERT of MiniLM-L6 shape ({type(exc).__name__}: {exc})"


def text_feed(rng, batch: int, length: int, vocab: int) -> dict[str, np.ndarray]:
    ids = rng.integers(1000, min(vocab, 30000), (batch, length)).astype(np.int64)
    return {"input_ids": ids, "attention_mask": np.ones_like(ids)}


def feature_feed(rng, batch: int) -> dict[str, np.ndarray]:
    return {"features": rng.normal(size=(batch, TOTAL_INPUT_FEATURES)).astype(np.float32)}


def interleaved_ms(calls: dict, feed, runs: int, warmup: int = 5) -> dict[str, float]:
    """Median ms per call of each runtime, run round-robin so machine load hits all of them alike."""
    for _ in range(warmup):
        for call in calls.values():
            call(feed)
    times = {name: [] for name in calls}
    for _ in range(runs):
        for name, call in calls.items():
            start = time.perf_counter()
            call(feed)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) * 1000.0 for name, t in times.items()}


def measure(model, fp32_path: Path, int8_path: Path, feed1, feed32, runs: int) -> dict:
    model.eval()
    names = list(feed1)

    def torch_call(feed):
        with torch.no_grad():
            model(**{k: torch.from_numpy(feed[k]) for k in names})

    fp32, int8 = session(fp32_path), session(int8_path)
    calls = {"pytorch": torch_call, "ort_fp32": lambda f: fp32.run(None, f), "ort_int8": lambda f: int8.run(None, f)}
    latency = interleaved_ms(calls, feed1, runs)
    batch_ms = interleaved_ms(calls, feed32, max(5, runs // 5))
    sizes = {"pytorch": sum(p.numel() * p.element_size() for p in model.parameters()),
             "ort_fp32": artifact_size(fp32_path), "ort_int8": artifact_size(int8_path)}
    return {name: {"latency_ms": latency[name], "throughput_rows_s": 32 / (batch_ms[name] / 1000.0),
                   "size_bytes": sizes[name]} for name in calls}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--specs", default="specs")
    parser.add_argument("--encoder", default="minilm")
    parser.add_argument("--seq-len", type=int, default=32)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--out", type=Path, default=None, help="keep the models here (default: a temp dir)")
    args = parser.parse_args(argv)

    torch.set_num_threads(os.cpu_count() or 1)
    specs = load_specs(args.specs)
    out = args.out or Path(tempfile.mkdtemp(prefix="bench_inference."))
    rng = np.random.default_rng(0)
    results, notes = {}, []
    for kind, (task, n) in TEXT_TASKS.items():
        model, source = text_model(specs, args.encoder, task, n)
        notes.append(f"{kind}: {source}")
        vocab = model.config.vocab_size
        feed1, feed32 = text_feed(rng, 1, args.seq_len, vocab), text_feed(rng, 32, args.seq_len, vocab)
        evals = EvalSet([text_feed(rng, 16, args.seq_len, vocab) for _ in range(4)])
        results[kind] = run_one(kind, model, specs, out, args.encoder, feed1, feed32, evals, args.runs)
    torch.manual_seed(0)
    mlp = build_model(specs.one("mlp_model"))
    notes.append("character_predictor: the spec's MLP with random weights")
    evals = EvalSet([feature_feed(rng, 64) for _ in range(4)])
    results["character_predictor"] = run_one("character_predictor", mlp, specs, out, None, feature_feed(rng, 1),
                                             feature_feed(rng, 32), evals, args.runs)
    print_table(results, notes, args)
    (out / "bench_inference.json").write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(f"\nmodels and JSON in {out}")
    return 0


def run_one(kind, model, specs, out, encoder, feed1, feed32, evals, runs) -> dict:
    export = export_model(kind, model, out, specs, encoder=encoder)
    report = quantize_model(specs, export.path, evals, int8_path_for(export.path), report_only=True)
    rows = measure(model, export.path, report.int8_path, feed1, feed32, runs)
    return {"rows": rows, "parity_max_diff": export.max_diff, "agreement": report.agreement,
            "optimized": report.optimized, "gates": {g.name: g.passed for g in report.gates}}


def print_table(results: dict, notes: list[str], args) -> None:
    print(f"\nCPU: {os.cpu_count()} cores; text inputs {args.seq_len} tokens; median of {args.runs} interleaved runs")
    for note in notes:
        print(f"  {note}")
    head = f"{'model':<20} {'runtime':<9} {'b1 ms':>8} {'b32 rows/s':>11} {'size MB':>9} {'b1 vs fp32':>10} " \
           f"{'size vs fp32':>12}"
    print("\n" + head + "\n" + "-" * len(head))
    for kind, r in results.items():
        base = r["rows"]["ort_fp32"]
        for label, row in r["rows"].items():
            print(f"{kind:<20} {label:<9} {row['latency_ms']:>8.3f} {row['throughput_rows_s']:>11.0f} "
                  f"{row['size_bytes'] / 1e6:>9.2f} {base['latency_ms'] / row['latency_ms']:>9.2f}x "
                  f"{row['size_bytes'] / base['size_bytes']:>11.1%}")
        i8 = r["rows"]["ort_int8"]
        speed, size = base["latency_ms"] / i8["latency_ms"], i8["size_bytes"] / base["size_bytes"]
        print(f"{'':<20} INT8 vs FP32 at batch 1: {speed:.2f}x (target >= {SPEEDUP_TARGET}x: "
              f"{'met' if speed >= SPEEDUP_TARGET else 'NOT met'}); size {size:.1%} (target <= {SIZE_TARGET:.0%}: "
              f"{'met' if size <= SIZE_TARGET else 'NOT met'}); agreement {r['agreement']:.4f}; "
              f"parity {r['parity_max_diff']:.2e}; fused {r['optimized']}")


if __name__ == "__main__":
    sys.exit(main())
