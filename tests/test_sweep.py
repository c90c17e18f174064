"""Tests of l2theory.train.sweep: lanes vs solo runs, divergence, natural time, chunks, devices,
the results directory (kill and resume, finished reruns, mismatched configs, folders of an older
version) and the CLI."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from l2theory import data, train
from l2theory._cli import training as cli
from l2theory._practice.train import engine as engine_mod
from l2theory._practice.train.config import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
CFG = TrainConfig(depth=2, width=16, steps=30, eval_every=10, batch_size=50, lr=1.0)


@pytest.fixture(scope="module")
def ds():
    return data.load("fashion_mnist_subset", n_train=300, n_test=100)


def _lane(table, run):
    m = table["run"] == run
    return {k: v[m] for k, v in table.items()}


def _assert_rows_close(solo, lane, rtol=1e-5):
    """A sweep lane against its solo run. The training trajectories agree to float rounding: a
    vmapped matmul may sum in another order than the unbatched one (XLA picks the kernel by
    shape), so we allow relative differences at the 1e-5 level, not bitwise equality."""
    np.testing.assert_array_equal(solo["step"], lane["step"])
    np.testing.assert_array_equal(solo["diverged"], lane["diverged"])
    np.testing.assert_array_equal(solo["diverged_step"], lane["diverged_step"])
    for k in ("train_loss", "test_loss", "lam", "lr", "param_norm_sq"):
        np.testing.assert_allclose(lane[k], solo[k], rtol=rtol, err_msg=k)
    for k, n in (("train_acc", 300), ("test_acc", 100)):  # at most one example may flip
        np.testing.assert_allclose(lane[k], solo[k], atol=1.01 / n, err_msg=k)


def test_lanes_match_solo_runs_and_divergence_is_contained(ds):
    # A linear net with MSE cannot die: lr=1e3 must blow up, and only that lane.
    cfg = CFG.replace(activation="linear", loss="mse", lr=0.1)
    lams, lrs = [0.0, 1e-2], [0.1, 1e3]
    table = train.sweep(cfg, ds, lam=lams, lr=lrs, seeds=[0], progress=False)
    assert len({len(v) for v in table.values()}) == 1
    assert table["run"].tolist() == sorted(table["run"].tolist())
    for run, (lam, lr) in enumerate([(a, b) for a in lams for b in lrs]):
        lane = _lane(table, run)
        assert lane["run_lam"][0] == lam and lane["run_lr"][0] == lr  # exactly as given
        if lr == 1e3:
            assert lane["diverged"].all() and lane["diverged_step"][0] >= 0
            continue
        assert not lane["diverged"].any() and (lane["diverged_step"] == -1).all()
        assert np.isfinite(lane["train_loss"]).all()
        _assert_rows_close(train.train(cfg.replace(lam=lam, lr=lr), ds), lane)


def test_solo_run_of_a_diverging_lane(ds):
    cfg = CFG.replace(activation="linear", loss="mse", lr=1e3)
    rows = train.train(cfg, ds)
    assert rows["diverged"].all()
    k = int(rows["diverged_step"][0])
    assert 0 <= k < 30
    assert rows["step"].tolist() == [0, 10, 20, 30]  # rows continue, frozen


def test_natural_time_gives_each_lane_its_own_length(ds):
    tau = 0.35
    lams, lrs = [1e-2, 5e-3], [1.0, 3.0]
    table = train.sweep(CFG, ds, lam=lams, lr=lrs, seeds=[0, 1], natural_time=tau,
                        progress=False, chunk_size=3)
    grid = [(a, b, s) for a in lams for b in lrs for s in (0, 1)]
    assert sorted(set(table["run"].tolist())) == list(range(len(grid)))
    for run, (lam, lr, seed) in enumerate(grid):
        lane = _lane(table, run)
        n = math.ceil(tau / (lam * lr))
        assert n == train.steps_for_natural_time(tau, lam, lr)
        assert (lane["run_steps"] == n).all() and (lane["seed"] == seed).all()
        expect = sorted(set(range(0, n, CFG.eval_every)) | {n})
        assert lane["step"].tolist() == expect  # rows stop at the lane's own end
    # lanes of one chunk stop independently: equal to the solo run of that length
    solo = train.train(CFG.replace(lam=5e-3, lr=3.0, seed=1, steps=24), ds)
    _assert_rows_close(solo, _lane(table, 7))


def test_natural_time_with_log_spaced_rows_and_resume(tmp_path, ds, resumed_sweep):
    """Log-spaced evaluation in a sweep: every lane has its rows on the chunk's grid up to its own
    end, and its last row at that end; a sweep that crashes mid-chunk resumes to the same rows."""
    cfg = CFG.replace(eval_every=None, evals_per_decade=10)
    lams, lrs, tau = [1e-2, 3e-3], [1.0], 0.9
    kw = dict(lam=lams, lr=lrs, seeds=[0], natural_time=tau, progress=False, chunk_size=2,
              checkpoint_every=3)
    reference = train.sweep(cfg, ds, **kw)
    end = train.steps_for_natural_time(tau, 3e-3, 1.0)
    grid = [0]
    while grid[-1] < end:
        grid.append(cfg.next_eval_step(grid[-1], end))
    for run, lam in enumerate(lams):
        lane = _lane(reference, run)
        n = train.steps_for_natural_time(tau, lam, 1.0)
        expect = [s for s in grid if s < n] + [n]
        assert lane["step"].tolist() == expect

    resumed = resumed_sweep(cfg, ds, tmp_path / "run", **kw)
    for k in reference:
        np.testing.assert_allclose(resumed[k], reference[k], rtol=1e-6, err_msg=k)


def test_steps_for_natural_time():
    assert train.steps_for_natural_time(2.0, 1e-3, 0.1) == 20000  # not 20001 by rounding
    assert train.steps_for_natural_time(1.0, 0.3, 1.0) == 4
    with pytest.raises(ValueError, match="lam > 0"):
        train.steps_for_natural_time(1.0, 0.0, 0.1)


def test_chunks_match_one_program(ds):
    kw = dict(lam=[0.0, 1e-3, 1e-2], lr=[0.5, 1.0], seeds=[0], progress=False)
    whole = train.sweep(CFG, ds, **kw)
    chunked = train.sweep(CFG, ds, chunk_size=4, **kw)  # 6 lanes -> 2 chunks, the last padded
    for run in range(6):
        _assert_rows_close(_lane(whole, run), _lane(chunked, run))


def test_bad_sweep_arguments(ds):
    with pytest.raises(ValueError, match=r"lam\[1\]=-1.*>= 0"):
        train.sweep(CFG, ds, lam=[0.1, -1], lr=[1.0], seeds=[0], progress=False)
    with pytest.raises(ValueError, match=r"lr\[0\]=0.*> 0"):
        train.sweep(CFG, ds, lam=[0.1], lr=[0], seeds=[0], progress=False)
    with pytest.raises(ValueError, match="lam > 0"):
        train.sweep(CFG, ds, lam=[0.0], lr=[1.0], seeds=[0], natural_time=1.0, progress=False)
    with pytest.raises(ValueError, match="batch_size"):
        train.sweep(CFG.replace(batch_size=301), ds, lam=[0.0], lr=[1.0], seeds=[0],
                    progress=False)


# ----------------------------------------------------------------------------- results dir


SCRIPT = textwrap.dedent("""
    import sys, time
    from l2theory import data, train
    from l2theory._practice.train import results

    save = results.save_npz

    def slow_save(path, arrays):  # leave time to be killed between checkpoints
        save(path, arrays)
        if "checkpoints" in str(path):
            time.sleep(0.4)

    results.save_npz = slow_save
    ds = data.load("fashion_mnist_subset", n_train=300, n_test=100)
    cfg = train.TrainConfig(depth=2, width=16, steps=200, eval_every=10, batch_size=50, lr=1.0)
    train.sweep(cfg, ds, lam=[0.0, 1e-2], lr=[0.5, 1.0], seeds=[0], out=sys.argv[1],
                chunk_size=2, progress=False, checkpoint_every=2)
""")


def _sweep_args():
    cfg = TrainConfig(depth=2, width=16, steps=200, eval_every=10, batch_size=50, lr=1.0)
    return cfg, dict(lam=[0.0, 1e-2], lr=[0.5, 1.0], seeds=[0], chunk_size=2, progress=False,
                     checkpoint_every=2)


def test_kill_and_resume_gives_the_uninterrupted_rows(tmp_path, ds):
    out = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(out)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = out / "checkpoints" / "chunk-00000.npz"
    deadline = time.time() + 180
    while not first.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert first.exists(), proc.communicate()[1].decode()[-3000:]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "results.npz").exists(), "the sweep finished before it could be killed"

    cfg, kw = _sweep_args()
    resumed = train.sweep(cfg, ds, out=out, **kw)
    reference = train.sweep(cfg, ds, out=tmp_path / "clean", **kw)
    assert resumed.keys() == reference.keys()
    for k in reference:
        np.testing.assert_array_equal(resumed[k], reference[k], err_msg=k)
    pairs = list(zip(resumed["run"].tolist(), resumed["step"].tolist()))
    assert len(pairs) == len(set(pairs)) == 4 * 21  # no duplicated rows
    assert (out / "results.csv").exists() and (out / "config.json").exists()
    assert len(train.load_results(out / "results.npz")["step"]) == len(pairs)


def test_results_folder_reads_back_with_exact_lam_and_lr(tmp_path, ds, monkeypatch):
    """run_lam/run_lr hold the values as given (float64) in the table, results.npz and
    results.csv (shortest text: 0.001); load_results takes the folder, the .npz or the .csv, and
    says what an unfinished folder holds."""
    from l2theory._practice.train import results

    out = tmp_path / "sweep"
    kw = dict(lam=[1e-3, 3e-3], lr=[0.1], seeds=[0], progress=False, checkpoint_every=1)
    table = train.sweep(CFG, ds, out=out, **kw)
    assert table["run_lam"].dtype == np.float64 and table["lam"].dtype == np.float32
    assert (table["run_lam"] == 1e-3).sum() == 4 and (table["run_lr"] == 0.1).all()
    header, first = (out / "results.csv").read_text().splitlines()[:2]
    cells = dict(zip(header.split(","), first.split(",")))
    assert cells["run_lam"] == "0.001" and cells["run_lr"] == "0.1" and cells["lam"] == "0.001"
    assert cells["diverged"] == "False" and cells["step"] == "0"
    for path in (out, out / "results.npz", str(out)):
        back = train.load_results(path)
        assert back.keys() == table.keys()
        for k in table:
            np.testing.assert_array_equal(back[k], table[k], err_msg=k)
    csv = train.load_results(out / "results.csv")
    assert csv.keys() == table.keys()
    for k in table:
        assert csv[k].dtype.kind == table[k].dtype.kind, k
        np.testing.assert_array_equal(csv[k].astype(table[k].dtype), table[k], err_msg=k)
    assert (csv["run_lam"] == 1e-3).sum() == 4

    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        train.load_results(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="no results.npz .not a results folder"):
        train.load_results(tmp_path)
    with pytest.raises(ValueError, match="not a result table"):
        train.load_results(out / "config.json")
    save = results.save_npz

    def crash_at_first_checkpoint(path, arrays):
        save(path, arrays)
        if "checkpoints" in str(path):
            raise KeyboardInterrupt

    monkeypatch.setattr(results, "save_npz", crash_at_first_checkpoint)
    with pytest.raises(KeyboardInterrupt):
        train.sweep(CFG, ds, out=tmp_path / "unfinished", **kw)
    with pytest.raises(FileNotFoundError, match=r"checkpoints of an unfinished sweep.*rerun the "
                                                r"same sweep.*resume"):
        train.load_results(tmp_path / "unfinished")


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def test_a_folder_of_an_older_version_is_rejected_not_patched(tmp_path, ds, monkeypatch):
    """A real results folder made old by editing its files: config.json of an older results
    format (the grid's natural time under its former name, format 2), and a checkpoint whose
    state lacks an array. Resuming or reusing either is refused with what is wrong, who wrote it
    and what to do, and leaves every file as it was; a finished old folder's table still reads."""
    import json

    from l2theory._practice.train import results

    kw = dict(lam=[1e-2, 3e-3], lr=[1.0], seeds=[0], natural_time=0.3, progress=False,
              chunk_size=2, checkpoint_every=1)
    save = results.save_npz

    def crash_at_first_checkpoint(path, arrays):
        save(path, arrays)
        if "checkpoints" in str(path):
            raise KeyboardInterrupt

    unfinished, finished = tmp_path / "unfinished", tmp_path / "finished"
    monkeypatch.setattr(results, "save_npz", crash_at_first_checkpoint)
    with pytest.raises(KeyboardInterrupt):
        train.sweep(CFG, ds, out=unfinished, **kw)
    monkeypatch.setattr(results, "save_npz", save)
    table = train.sweep(CFG, ds, out=finished, **kw)
    for folder in (unfinished, finished):
        stored = json.loads((folder / "config.json").read_text())
        assert stored["format"] == results.FORMAT == 4
        grid = stored["identity"]["grid"]
        grid["physical_time"] = grid.pop("natural_time")
        stored["format"] = 1
        (folder / "config.json").write_text(json.dumps(stored))
        before = _files(folder)
        with pytest.raises(ValueError) as e:
            train.sweep(CFG, ds, out=folder, **kw)
        assert str(e.value) == (
            f"out={str(folder)!r}: written by an older l2theory (results format 1; this version "
            f"writes format {results.FORMAT}), so it cannot be resumed or reused; rerun the "
            "sweep into a new folder (pass another out)")
        assert _files(folder) == before
    back = train.load_results(finished)
    for k in table:
        np.testing.assert_array_equal(back[k], table[k], err_msg=k)

    # a checkpoint of this format whose training state has one array fewer
    out = tmp_path / "short-state"
    monkeypatch.setattr(results, "save_npz", crash_at_first_checkpoint)
    with pytest.raises(KeyboardInterrupt):
        train.sweep(CFG, ds, out=out, **kw)
    monkeypatch.setattr(results, "save_npz", save)
    path = out / "checkpoints" / "chunk-00000.npz"
    arrays = results.load_npz(path)
    last = max(k for k in arrays if k.startswith("state/"))
    results.save_npz(path, {k: v for k, v in arrays.items() if k != last})
    before = _files(out / "checkpoints")
    with pytest.raises(ValueError, match=r"^out=.*short-state': the checkpoint of chunk 0 does "
                                         r"not fit this version's training state \((\d+) arrays "
                                         r"where this version has (\d+)\): written by another "
                                         r"l2theory version; rerun the sweep into a new folder"):
        train.sweep(CFG, ds, out=out, **kw)
    assert _files(out / "checkpoints") == before


def test_finished_sweep_is_returned_without_recomputing(tmp_path, ds, monkeypatch):
    kw = dict(lam=[1e-3], lr=[1.0], seeds=[0, 1], progress=False, out=tmp_path)
    first = train.sweep(CFG, ds, **kw)

    def refuse(*args, **kwargs):
        raise AssertionError("recomputed a finished sweep")

    monkeypatch.setattr(engine_mod.Engine, "__init__", refuse)
    again = train.sweep(CFG, ds, **kw)
    for k in first:
        np.testing.assert_array_equal(first[k], again[k], err_msg=k)
    monkeypatch.undo()
    with pytest.raises(ValueError, match=r"different sweep \(differs in: template.width"):
        train.sweep(CFG.replace(width=17), ds, **kw)
    with pytest.raises(ValueError, match=r"differs in: grid.lam"):
        train.sweep(CFG, ds, **{**kw, "lam": [1e-2]})
    with pytest.raises(ValueError, match="chunk_size"):
        train.sweep(CFG, ds, chunk_size=1, **kw)


def test_several_devices_give_the_same_rows(tmp_path):
    """Lanes sharded over 4 virtual CPU devices match the one-device sweep (CPU forced in the
    subprocesses, so the test means the same on a GPU machine), and the sweep on this machine's
    own devices (``jax.devices()``: one or several GPUs there) gives the CPU's rows. Across
    backends the products and reductions run in other orders (at full float32 precision, see
    docs/conventions.md section 6), so losses agree to 1e-4 relative; TF32 would miss that."""
    script = textwrap.dedent("""
        import sys, numpy as np, jax
        from l2theory import data, train
        ds = data.load("fashion_mnist_subset", n_train=300, n_test=100)
        cfg = train.TrainConfig(depth=2, width=16, steps=30, eval_every=10, batch_size=50)
        t = train.sweep(cfg, ds, lam=[0.0, 1e-2], lr=[0.5, 1.0], seeds=[0, 1], progress=False)
        np.savez(sys.argv[1], n_devices=len(jax.devices()), backend=jax.default_backend(), **t)
    """)
    results = {}
    for n in (1, 4):
        env = {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu",
               "XLA_FLAGS": f"--xla_force_host_platform_device_count={n}"}
        path = tmp_path / f"dev{n}.npz"
        subprocess.run([sys.executable, "-c", script, str(path)], cwd=ROOT, env=env, check=True,
                       capture_output=True)
        results[n] = dict(np.load(path))
    assert [int(results[n].pop("n_devices")) for n in (1, 4)] == [1, 4]
    assert {str(results[n].pop("backend")) for n in (1, 4)} == {"cpu"}
    for run in range(8):
        _assert_rows_close(_lane(results[1], run), _lane(results[4], run))
    ds = data.load("fashion_mnist_subset", n_train=300, n_test=100)
    here = train.sweep(TrainConfig(depth=2, width=16, steps=30, eval_every=10, batch_size=50), ds,
                       lam=[0.0, 1e-2], lr=[0.5, 1.0], seeds=[0, 1], progress=False)
    for run in range(8):
        _assert_rows_close(_lane(results[1], run), _lane(here, run), rtol=1e-4)


def test_cli_sweep_and_train(tmp_path, capsys):
    common = ["--depth", "2", "--width", "8", "--eval-every", "10", "--batch-size", "50",
              "--n-train", "300", "--n-test", "100", "--no-progress"]
    assert cli.sweep_main(["--lam", "1e-3", "1e-2", "--lr", "1", "--seeds", "0",
                           "--natural-time", "0.1", "--out", str(tmp_path / "s")] + common) == 0
    text = capsys.readouterr().out
    assert "best_acc" in text and "results:" in text
    table = train.load_results(tmp_path / "s" / "results.npz")
    assert sorted(set(table["run_steps"].tolist())) == [10, 100]
    assert cli.train_main(["--lam", "1e-3", "--lr", "0.5", "--steps", "20", "--out", "none"]
                          + common) == 0
    assert "0.001" in capsys.readouterr().out
    from l2theory.cli import main  # reports errors: one line, exit status 2

    assert main(["train", "--loss", "hinge", "--out", "none"] + common) == 2
    assert "valid: 'xent', 'mse'" in capsys.readouterr().err


def test_config_json_holds_every_lane_and_rerunning_one_gives_its_rows(tmp_path, ds, capsys):
    """config.json of a sweep holds each lane's full TrainConfig (no placeholder lam or lr); the
    documented reader, train.load_config, gives lane 3's config, and training it alone on the
    same data gives lane 3's rows. From the command line, config.json also says how the data
    were made, and that recipe rebuilds the same dataset."""
    import json

    out = tmp_path / "grid"
    table = train.sweep(CFG, ds, lam=[0.0, 1e-2], lr=[0.5, 1.0], seeds=[0], natural_time=None,
                        out=out, progress=False)
    stored = json.loads((out / "config.json").read_text())
    assert [(e["lam"], e["lr"], e["seed"]) for e in stored["lanes"]] == [
        (0.0, 0.5, 0), (0.0, 1.0, 0), (1e-2, 0.5, 0), (1e-2, 1.0, 0)]
    assert stored["lanes"][3]["config"]["lam"] == 1e-2 and stored["lanes"][3]["config"]["lr"] == 1.0
    assert not {"lam", "lr", "seed"} & set(stored["identity"]["template"])
    assert "load_config" in stored["how_to_read"]
    config = train.load_config(out, lane=3)
    assert config == CFG.replace(lam=1e-2, lr=1.0).resolved()
    _assert_rows_close(train.train(config, ds), _lane(table, 3))
    with pytest.raises(ValueError, match=r"^lane=None: .* holds 4 lanes; pass lane=i"):
        train.load_config(out)
    with pytest.raises(ValueError, match=r"^lane=4: "):
        train.load_config(out, lane=4)

    # natural time: each lane's own steps; the command's data recipe
    assert cli.sweep_main(["--lam", "1e-3", "1e-2", "--lr", "1", "--natural-time", "0.1",
                           "--depth", "2", "--width", "8", "--eval-every", "10", "--batch-size",
                           "50", "--n-train", "300", "--n-test", "100", "--no-progress",
                           "--out", str(tmp_path / "cli")]) == 0
    capsys.readouterr()
    stored = json.loads((tmp_path / "cli" / "config.json").read_text())
    assert [e["steps"] for e in stored["lanes"]] == [100, 10]
    assert "steps" not in stored["identity"]["template"]
    recipe = stored["data"]
    assert recipe == {"dataset": "fashion_mnist_subset", "data_root": None, "n_train": 300,
                      "n_test": 100, "data_seed": 0, "standardize": True}
    rebuilt = data.standardize(data.load(recipe["dataset"], n_train=recipe["n_train"],
                                         n_test=recipe["n_test"], seed=recipe["data_seed"]))
    from l2theory._practice.train.results import dataset_fingerprint

    assert dataset_fingerprint(rebuilt) == stored["identity"]["dataset"]
    lane = train.load_config(tmp_path / "cli", lane=1)
    assert (lane.lam, lane.lr, lane.steps, lane.loss) == (1e-2, 1.0, 10, "mse")
