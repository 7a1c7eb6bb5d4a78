"""The contract's event decision applied to a batch of model outputs.

The rule itself is generated (`storyml_contract.decode_event_kinds`, one sentence at a time, the
same function the engine's Rust crate has); this only applies it row by row for training metrics,
INT8 parity and prediction, so that no caller re-implements the threshold.
"""

from __future__ import annotations

import numpy as np
from storyml_contract.text import NUM_EVENT_KINDS, decode_event_kinds


def event_decisions(logits: np.ndarray) -> np.ndarray:
    """[n, kinds] logits -> [n, kinds] bool: which kinds the contract predicts for each sentence."""
    rows = np.asarray(logits, dtype=np.float64).reshape(-1, NUM_EVENT_KINDS)
    chosen = np.zeros(rows.shape, dtype=bool)
    for i, row in enumerate(rows):
        chosen[i, decode_event_kinds(row.tolist())] = True
    return chosen
