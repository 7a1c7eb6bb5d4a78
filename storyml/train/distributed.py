"""Several training processes (torchrun, accelerate launch): data parallel through the Trainer.

A launcher starts N copies of the same command and tells each its rank through the environment
(WORLD_SIZE, RANK, LOCAL_RANK). The Hugging Face Trainer then wraps the model in
DistributedDataParallel and gives each process its own shard of every epoch, through
`accelerate`'s process state, which this module sets up the way the Trainer does:

- with a GPU (or another accelerator) visible, accelerate picks its backend (NCCL on CUDA);
- on CPU alone the Trainer has to be told (`use_cpu`), or accelerate sees no distributed setup
  and every process trains the whole data on its own, all of them writing the same checkpoint
  directories: the checkpoint-rotation race of issue 10. The process-group backend is the
  training spec's `distributed.cpu_backend` (gloo).

Writes: process 0 writes (run manifest, tokenizer, checkpoints, finished models, everything the
build does besides training); the others wait at a barrier (`main_process_writes`). The one
exception is the Trainer's own: each process saves its random-number state into each checkpoint
(`rng_state_<rank>.pth`) so a resumed run continues every process's stream. `CheckpointBarrier`
holds every process after a checkpoint is saved, so process 0 never rotates away a checkpoint
another process is still writing its state into.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import torch
from transformers import TrainerCallback

# The launcher's variable every process sees: how many processes train together.
WORLD_SIZE_VARIABLE = "WORLD_SIZE"
# Set once this process has left the process group (`leave_process_group`): it goes on alone.
_left_group = False


def launched_processes() -> int:
    """How many processes a launcher started and still work together (1 when run directly)."""
    return 1 if _left_group else int(os.environ.get(WORLD_SIZE_VARIABLE, "1"))


def accelerator_visible() -> bool:
    accelerator = getattr(torch, "accelerator", None)  # torch >= 2.6
    if accelerator is not None:
        return bool(accelerator.is_available())
    return torch.cuda.is_available()


def training_device() -> str:
    """The kind of device (a key of the training spec's `devices`) this process trains on: "cuda"
    where a CUDA device is visible, else "cpu" (the Trainer's own choice, named)."""
    return "cuda" if accelerator_visible() else "cpu"


def cpu_data_parallel() -> bool:
    """Several processes and no accelerator: data parallel on CPU, which the Trainer must be told."""
    return launched_processes() > 1 and not accelerator_visible()


def trainer_device_arguments(cpu_backend: str) -> dict[str, Any]:
    """TrainingArguments fields for the processes the launcher started (none for one process)."""
    if cpu_data_parallel():
        return {"use_cpu": True, "ddp_backend": cpu_backend}
    return {}


def process_state(cpu_backend: str):
    """accelerate's process state, set up as the Trainer sets it up (one per process).

    Called before any TrainingArguments exists (the build's stages, the run directory), it
    joins the process group the Trainer will use; afterwards it returns the Trainer's state.
    """
    from accelerate import PartialState

    if cpu_data_parallel():
        return PartialState(cpu=True, backend=cpu_backend)
    return PartialState()


def main_process_writes(cpu_backend: str, write: Callable[[], Any]) -> None:
    """Process 0 runs `write`; every process then waits until it has (no-op for one process)."""
    if launched_processes() == 1:
        write()
        return
    state = process_state(cpu_backend)
    if state.is_main_process:
        write()
    state.wait_for_everyone()


def leave_process_group(state) -> None:
    """Every process waits for the others, then the group closes: from here on each process
    works alone (process 0 builds on; the others stop)."""
    global _left_group
    state.wait_for_everyone()
    state.destroy_process_group()
    _left_group = True


class CheckpointBarrier(TrainerCallback):
    """Every process waits once a checkpoint is saved, before anyone trains on (or, at the end,
    rotates checkpoints away); a no-op for one process."""

    def on_save(self, args, state, control, **kwargs):
        if args.world_size > 1:
            args.distributed_state.wait_for_everyone()
