"""Inference speed and size: FP32 vs INT8, unfused vs fused, batch 1 and batch 32, per model.

    python benchmarks/bench_inference.py [--encoder tiny] [--seq-len 32] [--runs 50] [--out DIR]
    python benchmarks/bench_inference.py --onnx-dir artifacts/fast     # a build's exported models

Each model runs in up to five forms, timed round-robin in one loop so machine load hits them alike:
- pytorch:     the PyTorch model (only when exported here from an encoder preset);
- fp32:        the exported ONNX graph as onnxruntime loads it (unfused);
- fp32_fused:  after onnxruntime's transformer optimizer (Attention, SkipLayerNormalization,
               BiasGelu, EmbedLayerNormalization kernels; text models only);
- int8_unfused: dynamic INT8 of the unfused graph;
- int8:        what storyml ships: storyml.export.quantize (fused first, then INT8; its gates
               are reported, not enforced here).
Latency is the median of `--runs` single calls at batch 1; throughput is rows per second at
batch 32 (median call). Text models get random token ids of `--seq-len` tokens, the character
predictor random features. Targets tracked here: INT8 >= 2.5x FP32 at batch 1 and >= 2x at
batch 32, INT8 size <= 30% of FP32. Prints real numbers whether met or not.
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
from storyml_contract import ARTIFACT_FILES, NUM_BIO_LABELS, NUM_EVENT_KINDS, TOTAL_INPUT_FEATURES

from codegen.spec.export import ExportFile
from codegen.spec.loader import load_specs
from codegen.spec.models import MlpModelFile
from storyml.export import metadata as md
from storyml.export.onnx_export import artifact_size, export_model
from storyml.export.quantize import (
    EvalSet,
    build_int8,
    fuse_transformer,
    int8_path_for,
    quantize_model,
)
from storyml.train.mlp import build_model

SPEEDUP_TARGET = 2.5
BATCH_SPEEDUP_TARGET = 2.0
SIZE_TARGET = 0.30
TEXT_TASKS = {
    "event_classifier": ("sequence", NUM_EVENT_KINDS),
    "ner_classifier": ("token", NUM_BIO_LABELS),
}


def text_model(specs, encoder: str, task: str, num_labels: int):
    """The named encoder preset with a fresh head; a MiniLM-shaped random BERT if it cannot load."""
    try:
        # A scratch preset learns its vocabulary from a corpus: a few generated sentences do.
        from storyml.data.events import generate_events
        from storyml.train.encoders import load_encoder

        corpus = [r["text"] for r in generate_events(specs, seed=0, per_kind=20)]
        model, _ = load_encoder(specs, encoder, task, num_labels=num_labels, seed=0, corpus=corpus)
        return model, f"preset {encoder!r} via storyml.train.encoders.load_encoder"
    except Exception as exc:  # noqa: BLE001 - any failure falls back, and says so
        from transformers import (
            BertConfig,
            BertForSequenceClassification,
            BertForTokenClassification,
        )

        torch.manual_seed(0)
        config = BertConfig(
            vocab_size=30522,
            hidden_size=384,
            num_hidden_layers=6,
            num_attention_heads=12,
            intermediate_size=1536,
            num_labels=num_labels,
        )
        cls = BertForSequenceClassification if task == "sequence" else BertForTokenClassification
        return cls(config), f"random-weight BERT of MiniLM-L6 shape ({type(exc).__name__}: {exc})"


def text_feed(rng, batch: int, length: int, vocab: int) -> dict[str, np.ndarray]:
    ids = rng.integers(min(1000, vocab // 2), min(vocab, 30000), (batch, length)).astype(
        np.int64
    )  # past the specials
    return {"input_ids": ids, "attention_mask": np.ones_like(ids)}


def feature_feed(rng, batch: int) -> dict[str, np.ndarray]:
    return {"features": rng.normal(size=(batch, TOTAL_INPUT_FEATURES)).astype(np.float32)}


def interleaved_ms(calls: dict, feed, runs: int, warmup: int = 5) -> dict[str, float]:
    """Median ms per call of each runtime, run round-robin so machine load hits all of them alike."""
    for _ in range(warmup):
        for call in calls.values():
            call(feed)
    times = {name: [] for name in calls}
    order = list(calls)
    for r in range(runs):
        for name in (
            order[r % len(order) :] + order[: r % len(order)]
        ):  # each form goes first in turn
            start = time.perf_counter()
            calls[name](feed)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) * 1000.0 for name, t in times.items()}


def variants(
    kind: str, fp32_path: Path, specs, evals: EvalSet, out: Path
) -> tuple[dict[str, Path], dict]:
    """The ONNX forms of one exported model (see the module docstring) and what was made of them."""
    qspec = specs.one(ExportFile).quantization
    paths = {"fp32": fp32_path}
    fused = fuse_transformer(fp32_path, out / f"{kind}.fused.onnx")
    if fused is not None:
        paths["fp32_fused"] = out / f"{kind}.fused.onnx"
        work = Path(tempfile.mkdtemp(dir=out))
        build_int8(
            fp32_path,
            out / f"{kind}.int8_unfused.onnx",
            qspec.model_copy(update={"optimize_transformers": False}),
            work,
        )
        paths["int8_unfused"] = out / f"{kind}.int8_unfused.onnx"
    report = quantize_model(
        specs, fp32_path, evals, out / int8_path_for(fp32_path).name, kind=kind, report_only=True
    )
    paths["int8"] = report.int8_path
    return paths, {
        "fused_operators": report.fused_operators,
        "agreement": report.agreement,
        "gates": {g.name: g.passed for g in report.gates},
    }


def timing_session(path: Path, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = threads  # 0: onnxruntime's default, one per core
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def measure(paths: dict[str, Path], model, feed1, feed32, runs: int, threads: int) -> dict:
    calls = {}
    if model is not None:
        model.eval()

        def torch_call(feed):
            with torch.no_grad():
                model(**{k: torch.from_numpy(v) for k, v in feed.items()})

        calls["pytorch"] = torch_call
    for name, path in paths.items():
        calls[name] = lambda feed, sess=timing_session(path, threads): sess.run(None, feed)
    latency = interleaved_ms(calls, feed1, runs)
    batch_ms = interleaved_ms(calls, feed32, max(5, runs // 5))
    sizes = {name: artifact_size(path) for name, path in paths.items()}
    if model is not None:
        sizes["pytorch"] = sum(p.numel() * p.element_size() for p in model.parameters())
    return {
        name: {
            "latency_ms": latency[name],
            "throughput_rows_s": 32 / (batch_ms[name] / 1000.0),
            "size_bytes": sizes[name],
        }
        for name in calls
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--specs", default="specs")
    parser.add_argument("--encoder", default="tiny", help="preset to export from (random heads)")
    parser.add_argument(
        "--onnx-dir",
        type=Path,
        default=None,
        help="measure a build's exported FP32 models instead of exporting a preset",
    )
    parser.add_argument("--seq-len", type=int, default=32)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="intra-op threads per onnxruntime session and for PyTorch (0: all cores)",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="keep the models here (default: a temp dir)"
    )
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads or os.cpu_count() or 1)
    specs = load_specs(args.specs)
    out = args.out or Path(tempfile.mkdtemp(prefix="bench_inference."))
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    results, notes = {}, []
    for kind, (task, n) in TEXT_TASKS.items():
        if args.onnx_dir is not None:
            fp32_path, model = args.onnx_dir / ARTIFACT_FILES[kind], None
            vocab = int(md.read_metadata(fp32_path).architecture["vocab_size"])
            notes.append(
                f"{kind}: {fp32_path} ({md.read_metadata(fp32_path).encoder or 'unknown'} encoder)"
            )
        else:
            model, source = text_model(specs, args.encoder, task, n)
            notes.append(f"{kind}: {source}")
            vocab = model.config.vocab_size
            fp32_path = export_model(kind, model, out, specs, encoder=args.encoder).path
        feed1, feed32 = (
            text_feed(rng, 1, args.seq_len, vocab),
            text_feed(rng, 32, args.seq_len, vocab),
        )
        evals = EvalSet([text_feed(rng, 16, args.seq_len, vocab) for _ in range(4)])
        results[kind] = run_one(
            kind, fp32_path, model, specs, out, feed1, feed32, evals, args.runs, args.threads
        )
    if args.onnx_dir is not None:
        mlp, mlp_path = None, args.onnx_dir / ARTIFACT_FILES["character_predictor"]
        notes.append(f"character_predictor: {mlp_path}")
    else:
        torch.manual_seed(0)
        mlp = build_model(specs.one(MlpModelFile))
        mlp_path = export_model("character_predictor", mlp, out, specs).path
        notes.append("character_predictor: the spec's MLP with random weights")
    evals = EvalSet([feature_feed(rng, 64) for _ in range(4)])
    results["character_predictor"] = run_one(
        "character_predictor",
        mlp_path,
        mlp,
        specs,
        out,
        feature_feed(rng, 1),
        feature_feed(rng, 32),
        evals,
        args.runs,
        args.threads,
    )
    print_table(results, notes, args)
    (out / "bench_inference.json").write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(f"\nmodels and JSON in {out}")
    return 0


def run_one(kind, fp32_path, model, specs, out, feed1, feed32, evals, runs, threads) -> dict:
    paths, made = variants(kind, fp32_path, specs, evals, out)
    return {"rows": measure(paths, model, feed1, feed32, runs, threads), **made}


def print_table(results: dict, notes: list[str], args) -> None:
    import onnxruntime

    print(
        f"\nCPU: {os.cpu_count()} cores, {args.threads or 'all'} thread(s) per session; onnxruntime "
        f"{onnxruntime.__version__}; text inputs {args.seq_len} "
        f"tokens; median of {args.runs} interleaved runs (batch 32: {max(5, args.runs // 5)})"
    )
    for note in notes:
        print(f"  {note}")
    head = (
        f"{'model':<20} {'runtime':<13} {'b1 ms':>8} {'b32 rows/s':>11} {'size MB':>9} {'b1 vs fp32':>10} "
        f"{'b32 vs fp32':>11} {'size vs fp32':>12}"
    )
    print("\n" + head + "\n" + "-" * len(head))
    for kind, r in results.items():
        rows = r["rows"]
        base = rows["fp32"]
        for label, row in rows.items():
            print(
                f"{kind:<20} {label:<13} {row['latency_ms']:>8.3f} {row['throughput_rows_s']:>11.0f} "
                f"{row['size_bytes'] / 1e6:>9.2f} {base['latency_ms'] / row['latency_ms']:>9.2f}x "
                f"{row['throughput_rows_s'] / base['throughput_rows_s']:>10.2f}x "
                f"{row['size_bytes'] / base['size_bytes']:>11.1%}"
            )
        i8 = rows["int8"]
        b1, b32 = (
            base["latency_ms"] / i8["latency_ms"],
            i8["throughput_rows_s"] / base["throughput_rows_s"],
        )
        size = i8["size_bytes"] / base["size_bytes"]
        verdict = lambda ok: "met" if ok else "NOT met"  # noqa: E731
        print(
            f"{'':<20} INT8 vs FP32: batch 1 {b1:.2f}x (target >= {SPEEDUP_TARGET}x: {verdict(b1 >= SPEEDUP_TARGET)}), "
            f"batch 32 {b32:.2f}x (target >= {BATCH_SPEEDUP_TARGET}x: {verdict(b32 >= BATCH_SPEEDUP_TARGET)}); "
            f"size {size:.1%} (target <= {SIZE_TARGET:.0%}: {verdict(size <= SIZE_TARGET)}); "
            f"agreement {r['agreement']:.4f}"
        )
        if "fp32_fused" in rows:
            fused = rows["fp32_fused"]
            print(
                f"{'':<20} fused vs unfused FP32: batch 1 {base['latency_ms'] / fused['latency_ms']:.2f}x, batch 32 "
                f"{fused['throughput_rows_s'] / base['throughput_rows_s']:.2f}x; fused kernels "
                + ", ".join(f"{op} {n}" for op, n in r["fused_operators"].items())
            )


if __name__ == "__main__":
    sys.exit(main())
