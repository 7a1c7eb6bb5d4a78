"""The stage cache: a stage whose inputs and outputs are unchanged since the last build is skipped."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from storyml.build.resources import StageMeter
from storyml.fsutil import atomic_write_text

STAGE_COUNT = 9


def digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def file_digest(*paths: Path) -> str:
    h = hashlib.sha256()
    for path in paths:
        h.update(path.name.encode())
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()[:16]


@dataclass
class Stage:
    name: str
    describe: str
    inputs: (
        Callable[[], Any] | None
    )  # JSON-able: everything that decides the outputs; None: always run
    run: Callable[[], dict]  # does the work, returns a JSON-able summary
    outputs: Callable[[], list[Path]]  # must all exist for a skip
    # Run by every process a launcher started (data-parallel training); other stages by process 0.
    collective: bool = False


@dataclass
class StageRunner:
    stamps: Path
    force: bool = False
    summaries: dict[str, dict] = field(default_factory=dict)
    digests: dict[str, str | None] = field(default_factory=dict)  # None: a stage that always runs
    timings: dict[str, float | None] = field(default_factory=dict)  # None: skipped
    resources: dict[str, dict[str, Any] | None] = field(default_factory=dict)  # None: skipped
    count: int = 0

    def up_to_date(self, stage: Stage) -> bool:
        """Whether the stage would be skipped: inputs and outputs unchanged since its stamp."""
        return self._stamp_if_current(stage) is not None

    def _stamp_if_current(self, stage: Stage) -> dict | None:
        key = digest(stage.inputs()) if stage.inputs is not None else None
        stamp_path = self.stamps / f"{stage.name}.json"
        stamp = json.loads(stamp_path.read_text()) if stamp_path.is_file() else None
        if (
            not self.force
            and key is not None
            and stamp
            and stamp.get("inputs") == key
            and all(p.exists() for p in stage.outputs())
        ):
            return stamp
        return None

    def __call__(self, stage: Stage) -> dict:
        self.count += 1
        head = f"[{self.count}/{STAGE_COUNT}] {stage.name}: {stage.describe}"
        print(head, flush=True)
        key = digest(stage.inputs()) if stage.inputs is not None else None
        stamp_path = self.stamps / f"{stage.name}.json"
        stamp = self._stamp_if_current(stage)
        if stamp is not None:
            print("      skipped: inputs unchanged since the last build", flush=True)
            summary, self.timings[stage.name] = stamp["summary"], None
            self.resources[stage.name] = None
        else:
            start = time.perf_counter()
            with StageMeter() as meter:
                summary = stage.run()
            self.timings[stage.name] = round(time.perf_counter() - start, 1)
            self.resources[stage.name] = meter.report
            atomic_write_text(
                stamp_path,
                json.dumps(
                    {"inputs": key, "summary": summary}, indent=2, sort_keys=True, default=str
                )
                + "\n",
            )
            print(f"      done in {self.timings[stage.name]:.1f} s", flush=True)
        self.summaries[stage.name], self.digests[stage.name] = summary, key
        return summary
