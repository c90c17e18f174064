"""Shared fixtures. Tests that need float64 take the ``x64`` fixture (JAX x64 on, then restored),
so the default float32 behaviour of the other tests is not changed. ``resumed_sweep`` runs a sweep
that crashes after its second checkpoint, then resumes it."""
import pytest

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
