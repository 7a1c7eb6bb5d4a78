"""Random training targets shaped by the generated contract, for tests of the MLP and its metrics."""

from __future__ import annotations

import numpy as np
from storyml_contract import TOTAL_OUTPUT_FEATURES, enums
from storyml_contract.character_outputs import OUTPUT_FIELDS


def random_labels(rng: np.random.Generator, n: int) -> np.ndarray:
    """Label vectors as encode_labels writes them: one-hot groups, 0/1 flags, indices, raw scalars."""
    y = np.zeros((n, TOTAL_OUTPUT_FEATURES))
    for f in OUTPUT_FIELDS:
        s = slice(f.offset, f.offset + f.width)
        if f.kind == "categorical":
            y[np.arange(n), f.offset + rng.integers(0, f.width, n)] = 1.0
        elif f.kind in ("flag", "flags"):
            y[:, s] = rng.integers(0, 2, (n, f.width))
        elif f.kind == "index":
            y[:, s] = rng.integers(0, len(getattr(enums, f.enum)), (n, f.width))
        elif f.decode == "round_or_none":  # a slot index, or one below the smallest for none
            y[:, s] = rng.integers(int(f.param) - 1, 5, (n, f.width))
        else:
            y[:, s] = rng.normal(size=(n, f.width))
    return y
