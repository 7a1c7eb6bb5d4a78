"""Evaluate exported models on the evaluation sets and write report.json, report.md and plots.

The report keeps two kinds of figures apart, because they answer different questions:
- template data (the random, held-out-template and held-out-vocabulary test splits) comes
  from the same templates as the training data; near-perfect scores there show the pipeline
  works end to end and are *not a measure of generalization*;
- the hand-written real-prose set is the generalization estimate, small (its n is printed
  beside every figure) and therefore noisy.

Everything is computed through `storyml.predict.Predictor`, the deployed decoding path.
report.json is deterministic for the same models and data: no timestamps, sorted keys.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from storyml_contract import CONTRACT_FINGERPRINT
from storyml_contract.text import (
    BIO_LABELS,
    ENTITY_CATEGORIES,
    EVENT_KIND_LABELS,
    IGNORE_INDEX,
    MAX_SEQ_LENGTH,
)

from storyml.data.bio import align_batch
from storyml.data.records import TextRecord
from storyml.errors import UserError
from storyml.evaluate.evalsets import GENERALIZATION_LABEL, TEMPLATE_LABEL, TextEvalSet
from storyml.evaluate.metrics import (
    character_metrics,
    entity_metrics,
    event_metrics,
    span_confusion,
    span_metrics,
)
from storyml.fsutil import atomic_directory, atomic_write_bytes, atomic_write_text
from storyml.predict import Predictor, TextAnalysis

ALIGN_CHUNK = 512  # texts per align_batch call when tokenizing gold entities
REPORT_FILES = ("report.json", "report.md")
MISSES_SHOWN = 10  # real-prose examples listed in report.md (report.json lists them all)


# --- Evaluating ------------------------------------------------------------------------------


def gold_token_tags(
    predictor: Predictor, texts: Sequence[str], entities: Sequence[Sequence[Mapping]]
) -> tuple[list[list[str]], list[list[tuple[int, int]]]]:
    """Gold BIO tags and character offsets of the non-special tokens of each whole text (not
    cut at MAX_SEQ_LENGTH: prediction runs long texts in windows), with the models' tokenizer."""
    tags: list[list[str]] = []
    offsets: list[list[tuple[int, int]]] = []
    for start in range(0, len(texts), ALIGN_CHUNK):
        chunk = texts[start : start + ALIGN_CHUNK]
        longest = max(len(e.ids) for e in predictor.tokenizer.plain(chunk)) + MAX_SEQ_LENGTH
        aligned = align_batch(
            predictor.tokenizer, chunk, entities[start : start + ALIGN_CHUNK], longest
        )
        for labels, row_offsets in zip(aligned.labels, aligned.offsets):
            tags.append([BIO_LABELS[t] for t in labels if t != IGNORE_INDEX])
            offsets.append(
                [(start, end) for t, (start, end) in zip(labels, row_offsets) if t != IGNORE_INDEX]
            )
    return tags, offsets


def predicted_token_tags(analysis: Any, offsets: Sequence[tuple[int, int]]) -> list[str]:
    """The predicted tag of each gold token, matched by character offsets (O where none)."""
    by_offset = {tuple(o): tag for o, tag in zip(analysis.token_offsets, analysis.token_tags)}
    return [by_offset.get(tuple(o), "O") for o in offsets]


def evaluate_text_set(
    predictor: Predictor, records: Sequence[TextRecord], keep_misses: bool
) -> dict[str, Any]:
    """Event-kind and entity scores of the text models on one set of events-format records."""
    analyses = predictor.analyze([r["text"] for r in records])
    return score_text_set(predictor, records, analyses, keep_misses)


def score_text_set(
    predictor: Predictor,
    records: Sequence[TextRecord],
    analyses: Sequence[TextAnalysis],
    keep_misses: bool,
) -> dict[str, Any]:
    """`evaluate_text_set` on analyses already made, for a caller that reads them again."""
    texts = [r["text"] for r in records]
    gold_entities = [
        [{k: e[k] for k in ("start", "end", "category")} for e in r["entities"]] for r in records
    ]
    predicted_kinds = [[k["label"] for k in a.result["event_kinds"]] for a in analyses]
    predicted_entities = [a.result["entities"] for a in analyses]
    gold_tags, gold_offsets = gold_token_tags(predictor, texts, gold_entities)
    result: dict[str, Any] = {
        "n": len(records),
        "events": event_metrics([r["event_kinds"] for r in records], predicted_kinds),
        "entities_strict": entity_metrics(
            gold_tags, [predicted_token_tags(a, o) for a, o in zip(analyses, gold_offsets)]
        ),
        "entity_spans": span_metrics(gold_entities, predicted_entities),
        "entity_confusion": span_confusion(gold_entities, predicted_entities),
    }
    if keep_misses:
        result["misses"] = _misses(records, predicted_kinds, predicted_entities)
    return result


def _span_text(text: str, span: Mapping[str, Any]) -> str:
    return f"{text[span['start'] : span['end']]!r} {span['category']}"


def _span_key(span: Mapping[str, Any]) -> tuple:
    return (span["start"], span["end"], span["category"])


def _misses(records, predicted_kinds, predicted_entities) -> list[dict[str, Any]]:
    """Examples whose kinds or spans differ from gold, with what differed."""
    misses = []
    for record, kinds, entities in zip(records, predicted_kinds, predicted_entities):
        gold = {_span_key(e): e for e in record["entities"]}
        predicted = {_span_key(e): e for e in entities}
        missed = [
            _span_text(record["text"], gold[k]) for k in sorted(gold.keys() - predicted.keys())
        ]
        spurious = [
            _span_text(record["text"], predicted[k]) for k in sorted(predicted.keys() - gold.keys())
        ]
        if set(kinds) != set(record["event_kinds"]) or missed or spurious:
            misses.append(
                {
                    "id": record.get("id"),
                    "text": record["text"],
                    "gold_kinds": sorted(record["event_kinds"], key=EVENT_KIND_LABELS.index),
                    "predicted_kinds": kinds,
                    "missed_entities": missed,
                    "spurious_entities": spurious,
                }
            )
    return misses


def evaluate_characters(
    predictor: Predictor, records: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    predicted = predictor.predict_characters([r["features"] for r in records])
    return character_metrics(predicted.tolist(), [r["labels"] for r in records])


def artifact_summary(predictor: Predictor, label: str | None = None) -> dict[str, Any]:
    """Which model files were evaluated and their true sizes (external weight data included).

    `label` names the directory in the report (default: its path); a build that evaluates in
    a staging directory passes the name the directory will be published under.
    """
    files = {}
    for path in sorted(predictor.artifacts_dir.iterdir()):
        if path.is_file() and not path.name.startswith("."):
            files[path.name] = path.stat().st_size
    return {
        "directory": label if label is not None else str(predictor.artifacts_dir),
        "int8": predictor.int8,
        "contract_fingerprint": CONTRACT_FINGERPRINT,
        "file_bytes": files,
    }


def build_report(
    predictor: Predictor,
    text_sets: Sequence[tuple[TextEvalSet, Sequence[TextRecord] | None, str]],
    characters: tuple[Sequence[Mapping[str, Any]] | None, str],
    artifacts_label: str | None = None,
) -> dict[str, Any]:
    """`text_sets`: (set, records or None when unavailable, source or reason it is skipped);
    `characters`: (records or None, source or reason); `artifacts_label`: see artifact_summary."""
    report: dict[str, Any] = {
        "artifacts": artifact_summary(predictor, artifacts_label),
        "sets": {},
        "skipped": {},
    }
    for spec, records, source in text_sets:
        if records is None:
            report["skipped"][spec.name] = source
            continue
        entry = evaluate_text_set(predictor, records, keep_misses=not spec.template_derived)
        entry.update(
            title=spec.title,
            source=source,
            label=spec.label,
            template_derived=spec.template_derived,
        )
        report["sets"][spec.name] = entry
    character_records, source = characters
    if character_records is None:
        report["skipped"]["characters"] = source
    else:
        report["characters"] = {
            **evaluate_characters(predictor, character_records),
            "source": source,
        }
    # The last hand-written set is the test set (the development set, if scored, comes before it).
    estimate = next(
        (name for name, s in reversed(report["sets"].items()) if not s["template_derived"]), None
    )
    if estimate is not None:
        s = report["sets"][estimate]
        report["generalization_estimate"] = {
            "set": estimate,
            "n": s["n"],
            "event_macro_f1": s["events"]["macro"]["f1"],
            "event_micro_f1": s["events"]["micro"]["f1"],
            "entity_strict_f1": s["entities_strict"]["micro"]["f1"],
            "entity_span_f1": s["entity_spans"]["micro"]["f1"],
        }
    return report


# --- Markdown --------------------------------------------------------------------------------


def _f(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def _summary_row(name: str, s: Mapping[str, Any]) -> str:
    return (
        f"| {s['title']} | {s['n']} | {_f(s['events']['micro']['f1'])} | {_f(s['events']['macro']['f1'])} "
        f"| {_f(s['events']['exact_match'])} | {_f(s['entities_strict']['micro']['f1'])} "
        f"| {_f(s['entity_spans']['micro']['f1'])} | {_f(s['entity_spans']['boundaries']['f1'])} |"
    )


SUMMARY_HEADER = (
    "| set | n | event micro-F1 | event macro-F1 | exact kind set | entity F1 (strict, seqeval) "
    "| span exact F1 | span boundary F1 |\n|---|---:|---:|---:|---:|---:|---:|---:|"
)


def _per_label_table(
    sets: Mapping[str, Mapping[str, Any]], metric: str, labels: Sequence[str], what: str
) -> list[str]:
    names = list(sets)
    lines = [
        f"| {what} | " + " | ".join(f"{sets[n]['title']} F1 (support)" for n in names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    for label in labels:
        cells = []
        for n in names:
            s = sets[n][metric]["per_label"][label]
            cells.append(f"{_f(s['f1'])} ({s['support']})")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def _listed(items: Sequence[str], shown: int = 5) -> str:
    if not items:
        return "none"
    more = f" (+{len(items) - shown} more)" if len(items) > shown else ""
    return ", ".join(items[:shown]) + more


def render_markdown(report: Mapping[str, Any], plots: Sequence[str]) -> str:
    sets = report["sets"]
    real = {n: s for n, s in sets.items() if not s["template_derived"]}
    template = {n: s for n, s in sets.items() if s["template_derived"]}
    art = report["artifacts"]
    lines = [
        "# storyml evaluation report",
        "",
        (
            f"Models: `{art['directory']}`{' (INT8)' if art['int8'] else ''}, contract `{art['contract_fingerprint']}`. "
            "Every figure comes from the exported ONNX models run with `tokenizer.json` only, decoded as "
            "`storyml predict` and the engine decode them (event kind when sigmoid > threshold; strict BIO span assembly)."
        ),
        "",
    ]
    lines += ["## Generalization estimate: hand-written real prose", ""]
    if real:
        for name, s in real.items():
            lines += [
                (
                    f"The {GENERALIZATION_LABEL}: **n = {s['n']} sentences** of narrative prose written by hand, "
                    "never generated from a template and never used in training. With so few sentences a "
                    "per-label score rests on a handful of examples; read differences of a few points as noise."
                ),
                "",
                SUMMARY_HEADER,
                _summary_row(name, s),
                "",
            ]
        lines += _per_label_table(real, "events", EVENT_KIND_LABELS, "event kind") + [""]
        lines += _per_label_table(
            real, "entity_spans", ENTITY_CATEGORIES, "entity category (span exact)"
        ) + [""]
        for name, s in real.items():
            misses = s.get("misses", [])
            lines += [
                (
                    f"{len(misses)} of {s['n']} sentences have a wrong kind set or a missed/spurious entity. "
                    f"The first {min(MISSES_SHOWN, len(misses))} (all are in report.json):"
                ),
                "",
            ]
            for m in misses[:MISSES_SHOWN]:
                lines.append(
                    f"- {m['id']}: {json.dumps(m['text'], ensure_ascii=False)} — kinds gold {m['gold_kinds']}, "
                    f"predicted {m['predicted_kinds']}; missed {_listed(m['missed_entities'])}; "
                    f"spurious {_listed(m['spurious_entities'])}"
                )
            lines.append("")
    else:
        lines += [
            "No real-prose set was evaluated, so this report has **no generalization estimate**.",
            "",
        ]

    lines += [f"## {TEMPLATE_LABEL[0].upper()}{TEMPLATE_LABEL[1:]}", ""]
    if template:
        lines += [
            (
                f"These splits are {TEMPLATE_LABEL}: their sentences come from the same templates and vocabulary "
                "as the training data (held-out splits withhold some templates or words, not the template style). "
                "High scores here show that tokenization, label alignment, training and export work; they do not "
                "show that the models understand prose."
            ),
            "",
            SUMMARY_HEADER,
            *(_summary_row(n, s) for n, s in template.items()),
            "",
        ]
        lines += _per_label_table(template, "events", EVENT_KIND_LABELS, "event kind") + [""]
        lines += _per_label_table(
            template, "entity_spans", ENTITY_CATEGORIES, "entity category (span exact)"
        ) + [""]
        if real:
            best = max(s["events"]["macro"]["f1"] for s in template.values())
            for name, s in real.items():
                gap = best - s["events"]["macro"]["f1"]
                lines += [
                    f"Event macro-F1 gap, best template split minus {s['title']}: {gap:+.3f}.",
                    "",
                ]
    else:
        lines += ["No template test split was evaluated.", ""]

    if report["skipped"]:
        lines += ["## Not evaluated", ""]
        lines += [f"- {name}: {reason}" for name, reason in sorted(report["skipped"].items())] + [
            ""
        ]

    if "characters" in report:
        c = report["characters"]
        lines += [
            f"## Character predictor (validation split, n = {c['n']})",
            "",
            (
                "Validation cells are disjoint from training cells, but the examples come from the same "
                "heuristic generator: this too is a measure of fit to the generator, not of real play."
            ),
            "",
            "| output field | kind | accuracy | MAE |",
            "|---|---|---:|---:|",
        ]
        for name, entry in c["fields"].items():
            acc = _f(entry["accuracy"]) if "accuracy" in entry else ""
            mae = _f(entry["mae"]) if "mae" in entry else ""
            lines.append(f"| {name} | {entry['kind']} | {acc} | {mae} |")
        lines.append("")

    if plots:
        lines += ["## Plots", ""] + [f"![{p}]({p})" for p in plots] + [""]
    return "\n".join(lines)


# --- Plots -----------------------------------------------------------------------------------


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    import io

    buffer = io.BytesIO()
    # No Software/date metadata: the same report gives the same bytes.
    fig.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    atomic_write_bytes(path, buffer.getvalue())


def plot_f1(name: str, s: Mapping[str, Any], path: Path) -> None:
    """Per-label F1 bars: event kinds and entity categories (span exact), support in the labels."""
    plt = _figure()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    panels = (
        ("events", EVENT_KIND_LABELS, "event kind F1"),
        ("entity_spans", ENTITY_CATEGORIES, "entity span F1"),
    )
    for ax, (metric, labels, title) in zip(axes, panels):
        per = s[metric]["per_label"]
        values = [per[label]["f1"] for label in labels]
        names = [f"{label} (n={per[label]['support']})" for label in labels]
        ax.barh(range(len(labels)), values, color="#4477aa")
        ax.set_yticks(range(len(labels)), names, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.set_title(title)
    tag = TEMPLATE_LABEL if s["template_derived"] else f"{GENERALIZATION_LABEL}, n = {s['n']}"
    fig.suptitle(f"{s['title']} ({tag})")
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def plot_confusion(name: str, s: Mapping[str, Any], path: Path) -> None:
    """Entity category confusion of spans matched by boundaries (rows gold, columns predicted)."""
    plt = _figure()
    confusion = s["entity_confusion"]
    labels, matrix = confusion["labels"], confusion["matrix"]
    fig, ax = plt.subplots(figsize=(7, 6))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    peak = max((v for row in matrix for v in row), default=0)
    for i, row in enumerate(matrix):
        for j, value in enumerate(row):
            if value:
                ax.text(
                    j,
                    i,
                    str(value),
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if value > peak / 2 else "black",
                )
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    ax.set_title(f"{s['title']}: entity categories (n = {s['n']})")
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


PLOTS = (("f1", plot_f1), ("entity_confusion", plot_confusion))


def write_plots(report: Mapping[str, Any], out_dir: Path) -> list[str]:
    """One PNG per plot kind per evaluated set; returns their file names."""
    written = []
    for name, s in report["sets"].items():
        for kind, plot in PLOTS:
            file_name = f"{kind}_{name}.png"
            plot(name, s, out_dir / file_name)
            written.append(file_name)
    return written


def _is_report_file(path: Path) -> bool:
    return path.name in REPORT_FILES or (path.is_file() and path.suffix == ".png")


def write_report(report: Mapping[str, Any], out_dir: Path) -> list[Path]:
    """report.json, the plots and report.md into `out_dir`, swapped in as a whole.

    The directory is replaced, so no plot of an earlier run survives beside a new report.md;
    a directory holding anything else than a report is refused rather than replaced.
    """
    out_dir = Path(out_dir)
    if out_dir.exists():
        foreign = sorted(p.name for p in out_dir.iterdir() if not _is_report_file(p))
        if not out_dir.is_dir() or foreign:
            raise UserError(
                f"{out_dir}: holds files that are not part of a report ({', '.join(foreign[:3]) or 'not a directory'}); "
                "choose an empty or new --out directory"
            )
    with atomic_directory(out_dir) as staging:
        plots = write_plots(report, staging)
        atomic_write_text(
            staging / "report.json",
            json.dumps(report, sort_keys=True, ensure_ascii=False, indent=2) + "\n",
        )
        atomic_write_text(staging / "report.md", render_markdown(report, plots))
    return [out_dir / name for name in (*REPORT_FILES, *plots)]


__all__ = [
    "TEMPLATE_LABEL",
    "build_report",
    "evaluate_text_set",
    "render_markdown",
    "write_report",
]
