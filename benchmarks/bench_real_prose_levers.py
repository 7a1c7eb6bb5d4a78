"""What each real-prose lever adds, measured on the hand-written DEVELOPMENT set.

Each row is a full `storyml build` (default profile, the default encoder) on a copy of
specs/ with the levers after it switched off; rows share one stage cache, so only what a
lever changes is redone. The test set's scores are printed too, but choices are made on
the development set alone (evalsets/README.md).

    python benchmarks/bench_real_prose_levers.py [--rows templates,composition,...] [--fast]

A row's lever is off when its spec switch is at its "off" value:
- composition: `share: 0` in specs/templates/composition.yaml (no frames, no verb phrases,
  no pronoun subjects: one template per sentence, as before issue 8);
- lexicon: the lexicon lists taken out of every `include:` of the hand-written lists;
- resampling: `mention_resampling.share: 0` in specs/text/training.yaml;
- silver: the default profile's `silver:` line removed from specs/build.yaml (no silver-labelled
  fiction in the NER tagger's training);
- prose: the default profile's `prose:` line removed from specs/build.yaml (no written prose,
  specs/text/prose, in either text model's training).

The lexicon lever covers the imported verb lists too (lexicon_*_verbs).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from storyml.data.splits import SPLITS

REPO = Path(__file__).resolve().parents[1]
# Row name -> the levers it switches on, cumulatively in this order.
LEVERS = ("composition", "lexicon", "resampling", "silver", "prose")
ROWS = {
    "templates": (),
    "composition": LEVERS[:1],
    "lexicon": LEVERS[:2],
    "resampling": LEVERS[:3],
    "silver": LEVERS[:4],
    "prose": LEVERS[:5],
}
# Levers that are one-line settings of specs/build.yaml's default profile, named as the lever.
PROFILE_LEVERS = ("silver", "prose")


def switch_off(specs: Path, lever: str) -> None:
    """Edit a copy of the specs so that `lever` does nothing."""
    if lever == "composition":
        path = specs / "templates" / "composition.yaml"
        text, n = re.subn(r"(?m)^share: .*$", "share: 0", path.read_text(encoding="utf-8"))
        text = re.sub(r"(?ms)^verb_phrases:.*?(?=^\S)", "", text)
        text = re.sub(r"(?ms)^pronoun_subjects:.*?(?=^\S)", "", text)
        assert n == 1, "composition.yaml has no top-level share"
        path.write_text(text, encoding="utf-8")
    elif lever == "lexicon":
        for path in (specs / "vocabulary").glob("*.yaml"):
            path.write_text(
                re.sub(
                    r"(?m)^(\s+include: \[)(.*)\]\n",
                    _without_lexicon,
                    path.read_text(encoding="utf-8"),
                ),
                encoding="utf-8",
            )
    elif lever in PROFILE_LEVERS:
        path = specs / "build.yaml"
        text, n = re.subn(
            rf"(?m)^    {lever}: \{{.*\}}\n", "", path.read_text(encoding="utf-8"), count=1
        )
        assert n == 1, f"build.yaml's default profile has no one-line {lever} setting"
        path.write_text(text, encoding="utf-8")
    elif lever == "resampling":
        path = specs / "text" / "training.yaml"
        text = path.read_text(encoding="utf-8")
        path.write_text(
            re.sub(r"(?m)^(\s+share: ).*(# mention resampling.*)$", r"\g<1>0  \2", text),
            encoding="utf-8",
        )


def _without_lexicon(m: re.Match) -> str:
    kept = [name for name in m.group(2).split(", ") if not name.startswith("lexicon_")]
    return f"{m.group(1)}{', '.join(kept)}]\n" if kept else ""


def run_row(name: str, work: Path, fast: bool) -> dict:
    specs = work / name / "specs"
    shutil.copytree(REPO / "specs", specs)
    for lever in LEVERS:
        if lever not in ROWS[name]:
            switch_off(specs, lever)
    artifacts = work / name / "artifacts"
    cmd = [
        sys.executable,
        "-m",
        "storyml",
        "build",
        "--specs",
        str(specs),
        "--generated",
        str(REPO / "generated"),
        "--work",
        str(work / "runs"),
        "--artifacts",
        str(artifacts),
        *(["--fast"] if fast else []),
    ]
    start = time.perf_counter()
    subprocess.run(cmd, cwd=REPO, check=True)
    seconds = time.perf_counter() - start
    stages = json.loads((artifacts / "build.json").read_text(encoding="utf-8"))["stages"][
        "evaluate"
    ]
    return {
        "seconds": seconds,
        "dev": stages["fp32_dev"],
        "test": stages["fp32"],
        "template": stages["fp32_template"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rows", default=",".join(ROWS), help="comma-separated rows (default: all)"
    )
    parser.add_argument(
        "--fast", action="store_true", help="the fast profile (a smoke run of this script)"
    )
    parser.add_argument(
        "--work", type=Path, help="keep the builds here (default: a temporary directory)"
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--table",
        type=Path,
        help="also write the markdown table here (the committed one, which BUILD.md and the "
        "README show, is benchmarks/results/real_prose_levers.md)",
    )
    args = parser.parse_args()
    rows = [r for r in args.rows.split(",") if r]
    unknown = [r for r in rows if r not in ROWS]
    if unknown:
        parser.error(f"unknown rows {unknown}; known: {', '.join(ROWS)}")
    work = args.work or Path(tempfile.mkdtemp(prefix="storyml-levers-"))
    results = {name: run_row(name, work, args.fast) for name in rows}
    table = [
        "| levers on | dev event macro-F1 | dev entity F1 | test event macro-F1 | test entity F1 "
        "| template event F1: random / held-out template / held-out vocabulary "
        "| template entity F1 (random) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in results.items():
        events = " / ".join(
            f"{r['template'][split]['event_macro_f1']:.3f}" if split in r["template"] else "-"
            for split in SPLITS  # a split the profile trained on has no score
        )
        table.append(
            f"| {name} | {r['dev']['event_macro_f1']:.3f} | {r['dev']['entity_strict_f1']:.3f} "
            f"| {r['test']['event_macro_f1']:.3f} | {r['test']['entity_strict_f1']:.3f} "
            f"| {events} | {r['template'].get('random', {}).get('entity_f1', 0):.3f} |"
        )
    print("\nbuild seconds: " + ", ".join(f"{n} {r['seconds']:.0f}" for n, r in results.items()))
    print("\n" + "\n".join(table))
    if args.table:
        args.table.write_text("\n".join(table) + "\n", encoding="utf-8")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
