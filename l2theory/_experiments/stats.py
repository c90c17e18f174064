"""Seed noise: the standard error of a mean over seeds (``docs/conventions.md`` section 7: a
claim is a number with its noise)."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np


def standard_error(values: Sequence[float]) -> float | None:
    """Standard error of the mean of ``values``, ``std(values, ddof=1) / sqrt(n)``; None with
    fewer than two values (no noise estimate).

    Example:
      >>> standard_error([1.0, 2.0, 3.0])
      0.5773502691896258
      >>> standard_error([1.0]) is None
      True
    """
    v = np.asarray(values, np.float64).ravel()
    return float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else None
