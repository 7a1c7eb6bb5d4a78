"""Data-parallel text training on CPU: two processes under torchrun (gloo), the tiny encoder,
a few dozen sentences and one epoch.

Each process trains on its own shard through the Trainer's DistributedDataParallel; process 0
writes the run directory and the other writes nothing but the Trainer's per-process RNG state
in its checkpoints; the result has the files a one-process run has, and loads and predicts.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from spec_helpers import REPO, copy_specs, set_key
from transformers import (
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    PreTrainedTokenizerFast,
)

from codegen.spec.loader import load_specs
from storyml.data.events import generate_events
from storyml.train.text import encode_records, train_text_models

pytestmark = pytest.mark.slow
PROCESSES = 2
BATCH_SIZE = 8
TRAIN_RECORDS = 48  # 3 batches per process: no shard is padded with another's examples
# What a process other than 0 may write: its own RNG state in a checkpoint (and the checkpoint
# directory the Trainer makes sure exists before saving it).
OTHER_PROCESS_WRITE = re.compile(r"^checkpoints/[a-z_]+/checkpoint-\d+(/rng_state_[1-9]\d*\.pth)?$")


def _run_files(run_dir: Path) -> list[str]:
    return sorted(p.relative_to(run_dir).as_posix() for p in run_dir.rglob("*"))


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """Specs cut to one epoch of small batches without mention resampling (so what each process
    trains on is exactly the encoded training records), and unique training sentences."""
    work = tmp_path_factory.mktemp("ddp")
    specs_dir = copy_specs(work)
    training = specs_dir / "text" / "training.yaml"
    set_key(training, ("profiles", "fast", "epochs"), 1)
    set_key(training, ("profiles", "fast", "batch_size"), BATCH_SIZE)
    set_key(training, ("mention_resampling", "share"), 0.0)
    specs = load_specs(specs_dir)
    events = list({r["text"]: r for r in generate_events(specs, seed=3, per_kind=10)}.values())
    records = {"train": events[:TRAIN_RECORDS], "eval": events[TRAIN_RECORDS : TRAIN_RECORDS + 24]}
    assert len(records["train"]) == TRAIN_RECORDS and len(records["eval"]) == 24
    (work / "records.json").write_text(json.dumps(records), encoding="utf-8")
    return work, specs, records


@pytest.fixture(scope="module")
def two_processes(setup):
    work, _, _ = setup
    run_dir = work / "run"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [
                str(REPO),
                str(REPO / "generated" / "python"),
                str(REPO / "tests"),
                os.environ.get("PYTHONPATH", ""),
            ]
        ),
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc_per_node={PROCESSES}",
            str(REPO / "tests" / "distributed_worker.py"),
            str(work),
            str(run_dir),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    logs = [
        json.loads((work / f"rank{rank}.json").read_text(encoding="utf-8"))
        for rank in range(PROCESSES)
    ]
    return run_dir, logs


def test_every_process_trains_under_ddp_on_its_own_shard(setup, two_processes):
    _, specs, records = setup
    _, logs = two_processes
    for log in logs:
        assert (log["world_size"], log["parallel_mode"]) == (PROCESSES, "ParallelMode.DISTRIBUTED")
        assert log["model"] == "DistributedDataParallel"
    tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(two_processes[0] / "tokenizer.json"))
    every = sorted(f["input_ids"] for f in encode_records(tokenizer, records["train"]))
    for task in ("event_classifier", "ner_classifier"):
        shards = [sorted(log["trained"][task]) for log in logs]
        assert all(len(shard) == TRAIN_RECORDS // PROCESSES for shard in shards)
        # Different examples on each process, all of them once over the two.
        assert not {tuple(x) for x in shards[0]} & {tuple(x) for x in shards[1]}
        assert sorted(shards[0] + shards[1]) == every
    # One model: the processes end with the same (all-reduced) evaluation.
    assert logs[0]["metrics"] == logs[1]["metrics"]


def test_only_process_zero_writes(two_processes):
    _, logs = two_processes
    zero = set(logs[0]["writes"])
    for expected in ("run.json", "tokenizer.json"):
        assert any(w == expected or w.startswith(f".{expected}.") for w in zero), expected
    assert any(w.startswith("checkpoints/event_classifier/checkpoint-") for w in zero)
    others = [w for log in logs[1:] for w in log["writes"]]
    assert all(OTHER_PROCESS_WRITE.match(w) for w in others), others
    assert any(w.endswith("rng_state_1.pth") for w in others)  # the check sees the one it allows


def test_two_processes_publish_what_one_does_and_it_predicts(setup, two_processes, tmp_path):
    _, specs, records = setup
    run_dir, _ = two_processes
    single = tmp_path / "single"
    train_text_models(specs, records["train"], records["eval"], None, single, profile="fast")
    assert _run_files(run_dir) == _run_files(single)
    assert "event_classifier/model.safetensors" in _run_files(run_dir)

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_file=str(run_dir / "tokenizer.json"), pad_token="[PAD]"
    )
    batch = tokenizer(
        ["Sarah picked up the stone.", "Tom ran to the river."], padding=True, return_tensors="pt"
    )
    events = AutoModelForSequenceClassification.from_pretrained(run_dir / "event_classifier").eval()
    tags = AutoModelForTokenClassification.from_pretrained(run_dir / "ner_classifier").eval()
    with torch.no_grad():
        event_logits = events(**batch).logits
        tag_logits = tags(**batch).logits
    assert (
        event_logits.shape == (2, events.config.num_labels) and torch.isfinite(event_logits).all()
    )
    assert tag_logits.shape[:2] == batch["input_ids"].shape and torch.isfinite(tag_logits).all()
