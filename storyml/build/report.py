"""BUILD.md: the build summary rendered for people."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from storyml_contract import CHARACTER_MODEL

# The lever benchmark's committed table (the README shows the same, tests/test_readme.py checks).
LEVER_TABLE = (
    Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "real_prose_levers.md"
)


def render_build_summary(summary: dict) -> str:
    lines = [
        f"# storyml build: {summary['profile']} profile",
        "",
        f"Encoder `{summary['encoder']}`, seed {summary['seed']}, contract "
        f"`{summary['contract_fingerprint']}`, storyml {summary['storyml_version']}.",
        "",
        "## Artifacts",
        "",
        "| file | size (MB, external data included) |",
        "|---|---:|",
    ]
    lines += [
        f"| {name} | {size / 1e6:.2f} |"
        for name, size in summary["artifact_bytes_including_external_data"].items()
    ]
    export = summary["stages"].get("export", {})
    lines += [
        "",
        "## Export parity (PyTorch vs onnxruntime)",
        "",
        "| model | max abs diff | inputs | atol |",
        "|---|---:|---:|---:|",
    ]
    lines += [
        f"| {k} | {v['max_diff']:.2e} | {v['parity_inputs']} | {v['atol']:g} |"
        for k, v in export.items()
    ]
    quant = summary["stages"].get("quantize", {})
    lines += [
        "",
        "## INT8 quantization",
        "",
        "Quality and size decide whether an INT8 model ships; batch-1 speed is measured (FP32 and "
        "INT8 runs interleaved; quartiles of the per-round ratios in brackets) and reported only.",
        "",
        "| model | accepted | size ratio | F1 drop | agreement | batch-1 speed-up (not a gate) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for k, v in quant.items():
        if not isinstance(v, dict) or "accepted" not in v:
            continue
        verdict = "yes" if v["accepted"] else f"no: {v.get('reason', '')}"
        if "size_ratio" not in v:  # a refusal recorded before the measurements were kept
            lines.append(f"| {k} | {verdict} | | | | |")
            continue
        lo, hi = v.get("speedup_batch1_spread") or (float("nan"), float("nan"))
        lines.append(
            f"| {k} | {verdict} | {v['size_ratio']:.2f} | {v['f1_drop']:+.4f} | {v['agreement']:.4f} "
            f"| {v['speedup_batch1']:.2f}x ({lo:.2f}-{hi:.2f}) |"
        )
    ev = summary["stages"].get("evaluate", {})
    if ev.get("fp32"):
        g = ev["fp32"]
        lines += [
            "",
            "## Quality",
            "",
            f"Generalization estimate, hand-written real prose, test set (n = {g['n']}): event "
            f"macro-F1 {g['event_macro_f1']:.3f}, entity F1 (strict) {g['entity_strict_f1']:.3f}.",
            "",
        ]
        if ev.get("fp32_dev"):
            d = ev["fp32_dev"]
            lines += [
                f"Development set (hand-written real prose, n = {d['n']}; choices are made on it): "
                f"event macro-F1 {d['event_macro_f1']:.3f}, entity F1 (strict) "
                f"{d['entity_strict_f1']:.3f}.",
                "",
            ]
        lines += ["Template test splits (template data: not a measure of generalization):", ""]
        for name, s in ev.get("fp32_template", {}).items():
            lines.append(
                f"- {name}: event macro-F1 {s['event_macro_f1']:.3f}, entity F1 {s['entity_f1']:.3f}"
            )
        lines += [
            "",
            "Full report: `evaluation/report.md` (FP32) and `evaluation-int8/report.md` (INT8).",
        ]
    lines += _training_data_lines(summary)
    lines += ["", "## Stage times (s)", ""]
    lines += [
        f"- {k}: {'skipped (inputs unchanged)' if v is None else v}"
        for k, v in summary["stage_seconds"].items()
    ]
    lines += _resource_lines(summary)
    return "\n".join(lines) + "\n"


def _training_data_lines(summary: dict) -> list[str]:
    """What the text models trained on, and what each real-prose lever adds (measured apart)."""
    data = summary["stages"].get("data") or {}
    lines = ["", "## Text training data", ""]
    if "events_train" in data:
        lines.append(f"- template sentences: {data['events_train']}")
    if "prose" in data:
        ner_only = data.get("prose_ner_only", 0)
        both = f", {ner_only} of them for the NER tagger only" if ner_only else ""
        lines.append(f"- written prose (specs/text/prose): {data['prose']} sentences{both}")
    if "silver" in data:
        lines.append(f"- silver-labelled fiction (NER tagger only): {data['silver']} sentences")
    if LEVER_TABLE.is_file():
        lines += [
            "",
            "What each real-prose lever adds, measured once by "
            "`benchmarks/bench_real_prose_levers.py` (one build per row, not this build):",
            "",
            LEVER_TABLE.read_text(encoding="utf-8").strip(),
        ]
    return lines


def _resource_lines(summary: dict) -> list[str]:
    """Device and peak memory of each stage that ran; training speed of each model."""
    used = {k: v for k, v in summary.get("stage_resources", {}).items() if v}
    if not used:
        return []
    lines = ["", "## Device and memory", ""]
    for stage, r in used.items():
        gpu = r.get("cuda_peak_allocated_bytes")
        lines.append(
            f"- {stage}: {r['device']}; process peak RSS so far {r['process_peak_rss_bytes'] / 2**30:.2f} GiB"
            + (f"; CUDA peak {gpu / 2**30:.2f} GiB" if gpu is not None else "")
        )
    speeds = dict(summary["stages"].get("train-text", {}).get("examples_per_second", {}))
    mlp = summary["stages"].get("train-mlp", {}).get("examples_per_second")
    if mlp is not None:
        speeds[CHARACTER_MODEL] = mlp
    if speeds:
        lines += ["", "Training examples per second (when trained in this build or its cache):", ""]
        lines += [f"- {name}: {speed}" for name, speed in speeds.items() if speed is not None]
    return lines


def render_console_summary(summary: dict) -> str:
    """The closing table of `storyml build`: quality first, then each model's size, parity and INT8 verdict."""
    stages = summary["stages"]
    evaluation, export, quant = (
        stages.get("evaluate", {}),
        stages.get("export", {}),
        stages.get("quantize", {}),
    )
    sizes = summary["artifact_bytes_including_external_data"]
    rows = [("scored on (FP32)", "event macro-F1", "entity F1")]
    if evaluation.get("fp32"):
        g = evaluation["fp32"]
        rows.append(
            (
                f"real prose, test set (n={g['n']})",
                f"{g['event_macro_f1']:.3f}",
                f"{g['entity_strict_f1']:.3f}",
            )
        )
    if evaluation.get("fp32_dev"):
        d = evaluation["fp32_dev"]
        rows.append(
            (
                f"real prose, dev set (n={d['n']})",
                f"{d['event_macro_f1']:.3f}",
                f"{d['entity_strict_f1']:.3f}",
            )
        )
    for name, s in evaluation.get("fp32_template", {}).items():
        rows.append(
            (f"{name} (template data)", f"{s['event_macro_f1']:.3f}", f"{s['entity_f1']:.3f}")
        )
    lines = _table(rows) + [""]
    models = [("model", "FP32 MB", "INT8 MB", "parity max diff", "INT8")]
    for name, parity in export.items():
        q = quant.get(name, {})
        fp32 = next((v for k, v in sizes.items() if k.startswith(name) and ".int8." not in k), None)
        int8 = next((v for k, v in sizes.items() if k.startswith(name) and ".int8." in k), None)
        verdict = (
            f"shipped (F1 drop {q['f1_drop']:+.4f})"
            if q.get("accepted")
            else f"not shipped: {q.get('reason', 'not quantized')}"
        )
        models.append(
            (
                name,
                f"{fp32 / 1e6:.1f}" if fp32 else "-",
                f"{int8 / 1e6:.1f}" if int8 else "-",
                f"{parity['max_diff']:.1e}" if isinstance(parity, dict) else "-",
                verdict,
            )
        )
    lines += _table(models) + [""]
    times = ", ".join(
        f"{k} {'cached' if v is None else f'{v:.0f} s'}"
        for k, v in summary["stage_seconds"].items()
    )
    return "\n".join(lines + [f"stages: {times}"])


def _table(rows: Sequence[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]
