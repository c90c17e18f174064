"""The sweeps the experiments run: ``l2theory.train.sweep`` with the progress bar off unless
asked for."""
from __future__ import annotations

from typing import Any


def quiet_sweep(config, dataset, **kwargs: Any) -> dict:
    """``train.sweep(config, dataset, **kwargs)`` with ``progress=False`` by default."""
    from l2theory import train

    kwargs.setdefault("progress", False)
    return train.sweep(config, dataset, **kwargs)
