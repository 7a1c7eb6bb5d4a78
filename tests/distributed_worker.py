"""One process of a data-parallel text training, started by tests/test_distributed.py under
torchrun: trains the tiny encoder on the records in `records.json` into RUN_DIR and records,
in WORK_DIR/rank<N>.json, what this process trained on and every file it wrote.

    torchrun --standalone --nproc_per_node 2 tests/distributed_worker.py WORK_DIR RUN_DIR

WORK_DIR holds the specs to train with (specs/) and the records (records.json); each process
writes WORK_DIR/rank<N>.json.

What it records of writes: Python-level file events (open for writing, mkdir, rename/replace,
remove, rmdir, rmtree, copyfile; through an audit hook) and the two writers below Python the
Trainer uses (torch.save, safetensors' save_file), so nothing it writes goes unseen.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

WRITE_EVENTS = {
    "os.mkdir",
    "os.rename",
    "os.remove",
    "os.rmdir",
    "shutil.rmtree",
    "shutil.copyfile",
    "os.truncate",
    "os.link",
    "os.symlink",
}


def main() -> None:
    work, run_dir = Path(sys.argv[1]), Path(sys.argv[2])
    rank = int(os.environ["RANK"])
    writes: list[str] = []

    def note(path) -> None:
        if isinstance(path, (str, bytes, os.PathLike)):
            path = os.path.abspath(os.fsdecode(path))
            if path.startswith(str(run_dir)):
                writes.append(os.path.relpath(path, run_dir))

    def audit(event: str, args: tuple) -> None:
        if event == "open":
            path, mode, flags = args
            writing = (
                any(c in mode for c in "wax+")
                if isinstance(mode, str)
                else bool(flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))
            )
            if writing:
                note(path)
        elif event in WRITE_EVENTS:
            for path in (
                args[:2]
                if event in ("os.rename", "shutil.copyfile", "os.link", "os.symlink")
                else args[:1]
            ):
                note(path)

    sys.addaudithook(audit)

    import torch
    import transformers
    import transformers.modeling_utils

    save, safe_save = torch.save, transformers.modeling_utils.safe_save_file

    def logged_save(obj, f, *args, **kwargs):
        note(f)
        return save(obj, f, *args, **kwargs)

    def logged_safe_save(tensors, filename, *args, **kwargs):
        note(filename)
        return safe_save(tensors, filename, *args, **kwargs)

    torch.save, transformers.modeling_utils.safe_save_file = logged_save, logged_safe_save

    trained: dict[str, list[list[int]]] = {}
    seen: dict[str, object] = {}
    training_step = transformers.Trainer.training_step

    def logged_step(self, model, inputs, *args, **kwargs):
        task = Path(self.args.output_dir).name
        seen.update(
            world_size=self.args.world_size,
            parallel_mode=str(self.args.parallel_mode),
            model=type(self.model_wrapped).__name__,
        )
        for ids, mask in zip(inputs["input_ids"].tolist(), inputs["attention_mask"].tolist()):
            trained.setdefault(task, []).append([t for t, m in zip(ids, mask) if m])
        return training_step(self, model, inputs, *args, **kwargs)

    transformers.Trainer.training_step = logged_step

    from codegen.spec.loader import load_specs
    from storyml.train.text import train_text_models

    records = json.loads((work / "records.json").read_text(encoding="utf-8"))
    result = train_text_models(
        load_specs(work / "specs"), records["train"], records["eval"], None, run_dir, profile="fast"
    )
    (work / f"rank{rank}.json").write_text(
        json.dumps(
            {
                "rank": rank,
                **seen,
                "trained": trained,
                "writes": writes,
                "metrics": result["metrics"],
            }
        ),
        encoding="utf-8",
    )


if __name__ == "__main__":
    main()
