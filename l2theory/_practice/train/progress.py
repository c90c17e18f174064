"""Progress of a training run on stderr: a tqdm bar on a terminal, one line per phase in a log.

``ProgressBar(mode, total, desc)``: ``mode`` ``True`` shows a bar (steps, ETA, best test
accuracy so far) when stderr is a terminal, and otherwise one line as the run starts, one per
phase (``phase``: a chunk of a sweep done) and one as it ends, so a log or CI output holds a few
lines instead of hundreds of carriage-return updates; ``"bar"`` shows the bar wherever stderr
goes; ``False`` prints nothing.
"""
from __future__ import annotations

import sys
import time

import numpy as np

MODES = (True, False, "bar")


def resolve(mode) -> str | None:
    """``"bar"``, ``"lines"`` or None (nothing) for a ``mode`` of ``MODES``."""
    if mode is False or mode is None:
        return None
    if mode == "bar":
        return "bar"
    isatty = getattr(sys.stderr, "isatty", None)
    return "bar" if isatty is not None and isatty() else "lines"


class ProgressBar:
    """Progress over ``total`` steps labelled ``desc`` (module docstring); a context manager."""

    def __init__(self, mode, total: int, desc: str):
        self.kind = resolve(mode)
        self.bar = None
        self.best = -np.inf
        self.total, self.desc, self.done = int(total), desc, 0
        self.start = time.perf_counter()
        if self.kind == "bar":
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc=desc, unit="step", dynamic_ncols=True)
        elif self.kind == "lines":
            self._line(f"{desc}: {self.total} steps")

    def _line(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    def _best(self, test_acc: np.ndarray, valid: np.ndarray) -> None:
        acc = np.asarray(test_acc)[np.asarray(valid, bool)]
        acc = acc[np.isfinite(acc)]
        if acc.size:
            self.best = max(self.best, float(acc.max()))
            if self.bar is not None:
                self.bar.set_postfix(best_test_acc=f"{self.best:.4f}", refresh=False)

    def _status(self) -> str:
        best = f", best test accuracy {self.best:.4f}" if np.isfinite(self.best) else ""
        return (f"{self.done}/{self.total} steps in {time.perf_counter() - self.start:.1f} s"
                f"{best}")

    def on_eval(self, state, t: int, rows, n_steps: int) -> None:
        """After an evaluation that followed ``n_steps`` steps."""
        if self.kind is not None:
            self._best(rows.columns["test_acc"][-1], rows.columns["valid"][-1])
            self.done += n_steps
            if self.bar is not None:
                self.bar.update(n_steps)

    def skip(self, n_steps: int, rows) -> None:
        """Count ``n_steps`` done earlier (resumed work), with their rows."""
        if self.kind is not None:
            for acc, valid in zip(rows.columns.get("test_acc", []), rows.columns.get("valid", [])):
                self._best(acc, valid)
            self.done += n_steps
            if self.bar is not None:
                self.bar.update(n_steps)

    def phase(self, what: str) -> None:
        """One line at the end of a phase (``"chunk 2/5 done"``) in the ``"lines"`` form."""
        if self.kind == "lines":
            self._line(f"{self.desc}: {what}: {self._status()}")

    def write(self, line: str) -> None:
        """A line on stderr (above the bar; nothing when disabled)."""
        if self.bar is not None:
            self.bar.write(line, file=sys.stderr)
        elif self.kind == "lines":
            self._line(line)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc):
        if self.bar is not None:
            self.bar.close()
        elif self.kind == "lines":
            self._line(f"{self.desc}: {'done' if exc_type is None else 'stopped'}: "
                       f"{self._status()}")
