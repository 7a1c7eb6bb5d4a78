"""What a build stage used: the device it ran on and its peak memory (reported in build.json).

CPU memory is the process's peak resident set size so far (`getrusage`: the kernel keeps a
high-water mark, not one per stage), so a stage's figure is the largest of it and every stage
before it. GPU memory is the peak the CUDA caching allocator handed out during the stage alone.
"""

from __future__ import annotations

import os
import resource
import sys
from dataclasses import dataclass, field
from typing import Any

# ru_maxrss is in kibibytes on Linux, in bytes on macOS.
_RSS_UNIT = 1 if sys.platform == "darwin" else 1024


def device_description() -> str:
    """The device this process computes on, in words: `cuda: NVIDIA H200` or `cpu: 2 cores`."""
    import torch

    if torch.cuda.is_available():
        return f"cuda: {torch.cuda.get_device_name(torch.cuda.current_device())}"
    return f"cpu: {len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()} cores"


def process_peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * _RSS_UNIT


@dataclass
class StageMeter:
    """Measures one stage: `with StageMeter() as meter: run()`, then `meter.report`."""

    report: dict[str, Any] = field(default_factory=dict)

    def __enter__(self) -> StageMeter:
        import torch

        self._cuda = torch.cuda.is_available()
        if self._cuda:
            torch.cuda.reset_peak_memory_stats()
        return self

    def __exit__(self, *exc: object) -> None:
        import torch

        self.report = {
            "device": device_description(),
            "process_peak_rss_bytes": process_peak_rss_bytes(),
            "cuda_peak_allocated_bytes": torch.cuda.max_memory_allocated() if self._cuda else None,
        }
