"""Shared fixtures. Tests that need float64 take the ``x64`` fixture (JAX x64 on, then restored),
so the default float32 behaviour of the other tests is not changed. ``resumed_sweep`` runs a sweep
that crashes after its second checkpoint, then resumes it.

Precision: every test compares with a reference, so the whole session (and the subprocesses it
starts, through the environment) runs at JAX's full float32 matmul precision
(``docs/conventions.md`` section 6); on an NVIDIA GPU JAX's default would be TF32. The package's
own policy - its theory functions and training programs set the precision themselves, whatever
this default - is tested in ``tests/test_precision.py`` under other defaults.
"""
import os

os.environ["JAX_DEFAULT_MATMUL_PRECISION"] = "float32"  # before JAX reads it (subprocesses too)

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_default_matmul_precision", "float32")

from l2theory import _x64


@pytest.fixture
def x64():
    with _x64.x64():
        yield


@pytest.fixture
def resumed_sweep(monkeypatch):
    """``f(config, dataset, out, **kw)``: ``train.sweep`` into ``out`` interrupted (as by a crash)
    right after writing its second checkpoint, then called again to resume; returns the resumed
    table."""
    from l2theory import train
    from l2theory._practice.train import results

    def run(config, dataset, out, **kw):
        save, calls = results.save_npz, []

        def crash_after_two_checkpoints(path, arrays):
            save(path, arrays)
            calls.append(path)
            if "checkpoints" in str(path) and len(calls) == 2:
                raise KeyboardInterrupt

        monkeypatch.setattr(results, "save_npz", crash_after_two_checkpoints)
        with pytest.raises(KeyboardInterrupt):
            train.sweep(config, dataset, out=out, **kw)
        monkeypatch.setattr(results, "save_npz", save)
        return train.sweep(config, dataset, out=out, **kw)

    return run
