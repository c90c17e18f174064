"""Tests of l2theory.experiments: t* of noisy curves, the t*-collapse fit (synthetic sweeps with a
known law and one tiny real sweep), budgets and lam_opt, AutoL2, finite-width nets vs the
infinite-width flow, Hessian eigenvalues, and the integrated decay clock. Tiny settings throughout
(the whole file runs in about a minute on two CPU cores)."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from l2theory import data, experiments as ex, models, train
from l2theory._experiments import fc_network, recording
from l2theory._experiments import output_metrics, schedules as schedules_mod
from l2theory._experiments.budget import per_lam
from l2theory._experiments import autol2 as autol2_mod
from l2theory._experiments.autol2 import steps_to_target


@pytest.fixture(scope="module")
def ds():
    return data.standardize(data.load("fashion_mnist_subset", n_train=200, n_test=300))


@pytest.fixture(scope="module")
def ds_small():
    return data.standardize(data.load("fashion_mnist_subset", n_train=100, n_test=100))


def _bump(steps, t_peak, width=0.8, base=0.6, height=0.2):
    """Accuracy-like curve: a Gaussian bump in log-time peaking at ``t_peak``."""
    return base + height * np.exp(-0.5 * (np.log(steps / t_peak) / width) ** 2)


# ------------------------------------------------------------------------------------ t_star


@pytest.mark.parametrize("t_peak", [60.0, 300.0, 1500.0])
def test_t_star_recovers_peak_of_noisy_log_bump(t_peak):
    rng = np.random.default_rng(int(t_peak))
    steps = np.arange(10, 4001, 10)
    errors = []
    for _ in range(20):
        acc = _bump(steps, t_peak) + rng.normal(0, 0.015, len(steps))
        r = ex.t_star(steps, acc, mode="max")
        assert not r.at_boundary
        errors.append(np.log(r.t_star / t_peak))
        assert abs(r.value - 0.8) < 0.03  # the smoothed value is not biased up by the noise
    assert np.max(np.abs(errors)) < 0.3
    assert np.sqrt(np.mean(np.square(errors))) < 0.12


def test_t_star_smoothing_beats_raw_argmax():
    rng = np.random.default_rng(0)
    steps = np.arange(10, 2001, 10)
    smooth, raw = [], []
    for _ in range(40):
        tp = np.exp(rng.uniform(np.log(50), np.log(800)))
        acc = _bump(steps, tp) + rng.normal(0, 0.015, len(steps))
        smooth.append(np.log(ex.t_star(steps, acc, mode="max").t_star / tp))
        raw.append(np.log(ex.t_star(steps, acc, mode="max", smooth=0).t_star / tp))
    assert np.std(smooth) < 0.6 * np.std(raw)


def test_t_star_exact_curve_and_unpacking():
    steps = np.arange(10, 2001, 10)
    acc = 0.8 - 0.1 * np.log(steps / 300.0) ** 2
    t, v = ex.t_star(steps, acc, mode="max")[:2]
    assert abs(t / 300 - 1) < 0.01 and abs(v - 0.8) < 0.01
    # order of the input does not matter; raw mode gives the evaluated argmax
    perm = np.random.default_rng(0).permutation(len(steps))
    shuffled = ex.t_star(steps[perm], acc[perm], mode="max")
    assert shuffled.t_star == pytest.approx(t) and steps[perm][shuffled.index] == 300
    raw = ex.t_star(steps, acc, mode="max", smooth=0)
    assert raw.t_star == 300 and raw.value == pytest.approx(0.8) and raw.index == 29
    assert json.dumps(raw._asdict())


def test_t_star_monotone_curves_peak_at_the_boundary():
    rng = np.random.default_rng(1)
    steps = np.arange(5, 1001, 5)
    rising = 0.5 + 0.05 * np.log(steps) + rng.normal(0, 0.002, len(steps))
    r = ex.t_star(steps, rising, mode="max")
    assert r.at_boundary and r.t_star == 1000 and r.index == len(steps) - 1
    falling = 1.0 - 0.05 * np.log(steps)
    r = ex.t_star(steps, falling, mode="max")
    assert r.at_boundary and r.t_star == 5 and r.index == 0


def test_t_star_min_mode_for_losses():
    rng = np.random.default_rng(2)
    steps = np.arange(10, 3001, 10)
    loss = 1.0 - _bump(steps, 200.0) + rng.normal(0, 0.01, len(steps))
    r = ex.t_star(steps, loss, mode="min")
    assert abs(np.log(r.t_star / 200)) < 0.2 and not r.at_boundary
    assert r.value == pytest.approx(0.2, abs=0.02)
    # the same curve in max mode peaks at a boundary instead
    assert ex.t_star(steps, loss, mode="max").at_boundary


@pytest.mark.parametrize("steps, values, kwargs, match", [
    ([1, 2, 3], [0.1, 0.2], {}, "length"),
    ([1, 2], [0.1, 0.2], {}, "too few"),
    ([0, 1, 2], [0.1, 0.2, 0.3], {}, "too few evaluations after step 0"),
    ([-1, 1, 2, 3], [0.1, 0.2, 0.3, 0.4], {}, ">= 0"),
    ([1, 2, 2, 3], [0.1, 0.2, 0.3, 0.4], {}, "repeated"),
    ([1, 2, 3, 4], [0.1, np.nan, 0.3, 0.4], {}, "non-finite"),
    ([1, 2, 3, 4], [0.1, 0.2, 0.3, 0.4], {"mode": "best"}, "mode"),
    ([1, 2, 3, 4], [0.1, 0.2, 0.3, 0.4], {"smooth": -0.1}, "smooth"),
    ([[1, 2, 3]], [[0.1, 0.2, 0.3]], {}, "1-D"),
])
def test_t_star_bad_input(steps, values, kwargs, match):
    with pytest.raises(ValueError, match=match):
        ex.t_star(steps, values, **{"mode": "max", **kwargs})


def test_t_star_has_no_default_direction():
    steps = np.arange(10, 1001, 10)
    with pytest.raises(TypeError, match=r"mode=None: .*'max' for an accuracy.*'min' for a loss"):
        ex.t_star(steps, _bump(steps, 100.0))


def test_t_star_takes_the_rows_of_train(ds_small):
    """Real rows, step 0 included: t* is the same as without the step-0 row, the step-0 value is
    never a candidate (a loss curve read in max mode peaks at the first evaluation *after* step
    0, flagged as a boundary) and ``index`` points into the rows as passed."""
    cfg = train.TrainConfig(depth=2, width=32, lr=0.5, lam=5e-3, steps=200,
                            evals_per_decade=10, batch_size=50, loss="mse")
    rows = train.train(cfg, ds_small)
    assert rows["step"][0] == 0
    for metric, mode in (("test_acc", "max"), ("test_loss", "min"), ("train_loss", "min")):
        r = ex.t_star(rows["step"], rows[metric], mode=mode)
        later = ex.t_star(rows["step"][1:], rows[metric][1:], mode=mode)
        assert r.t_star == later.t_star and r.value == later.value
        assert r.index == later.index + 1 and rows["step"][r.index] > 0
        assert rows[metric][r.index] == r.raw_value
    r = ex.t_star(rows["step"], rows["test_loss"], mode="min")
    assert r.t_star > rows["step"][1] and r.value < rows["test_loss"][0]
    wrong = ex.t_star(rows["step"], rows["test_loss"], mode="max")
    assert wrong.at_boundary and wrong.t_star == rows["step"][1] and wrong.index == 1
    # several lanes at once (a sweep table) are refused with how to pick one
    two = {k: np.concatenate([rows[k], rows[k]]) for k in ("step", "test_acc")}
    with pytest.raises(ValueError, match="several lanes of a sweep"):
        ex.t_star(two["step"], two["test_acc"], mode="max")


# ---------------------------------------------------------------------------- t*-collapse


def _synthetic_sweep(c=0.3, slope=1.0, lams=(1e-3, 3e-3, 1e-2, 3e-2), lrs=(0.1, 0.3), seeds=3,
                     noise=0.01, seed=1):
    """A sweep table whose lanes peak exactly at ``t* = c / (lam lr)^slope`` (plus noise)."""
    rng = np.random.default_rng(seed)
    cols = {k: [] for k in ("run", "seed", "run_lam", "run_lr", "lam", "lr", "step", "test_acc",
                            "diverged")}
    run = 0
    for lam in lams:
        for lr in lrs:
            for s in range(seeds):
                tp = c / (lam * lr) ** slope
                steps = np.unique(np.linspace(0, 30 * tp, 300).astype(int))
                acc = _bump(np.maximum(steps, 1), tp, width=1.0) + rng.normal(0, noise, len(steps))
                n = len(steps)
                for k, v in (("run", run), ("seed", s), ("run_lam", lam), ("run_lr", lr),
                             ("lam", lam), ("lr", lr), ("diverged", False)):
                    cols[k].extend([v] * n)
                cols["step"].extend(steps)
                cols["test_acc"].extend(acc)
                run += 1
    return {k: np.asarray(v) for k, v in cols.items()}


def test_fit_power_law_exact_law():
    lam_lr = np.array([1e-4, 1e-3, 1e-2, 1e-1] * 3)
    seeds = np.repeat([0, 1, 2], 4)
    fit = ex.fit_power_law(lam_lr, 0.25 * lam_lr ** -0.7, seeds, n_boot=200)
    assert fit["c"] == pytest.approx(0.25, rel=1e-9)
    assert fit["slope"] == pytest.approx(0.7, rel=1e-9)
    exact = ex.fit_power_law(lam_lr, 0.25 / lam_lr, seeds, n_boot=20)
    assert exact["c_slope1"] == pytest.approx(0.25) and exact["c_slope1_ci"][1] == pytest.approx(0.25)
    assert fit["c_ci"][0] == pytest.approx(0.25) and fit["slope_ci"][1] == pytest.approx(0.7)
    assert fit["bootstrap"] == "seeds" and fit["n_seeds"] == 3 and fit["n_points"] == 12
    assert fit["residual_std"] < 1e-9
    json.dumps(fit)


def test_fit_power_law_seed_bootstrap_covers_the_truth():
    """95 % seed-bootstrap intervals cover the true slope and c in most of 40 synthetic
    experiments (8 seeds x 5 lam lr, a random shift per seed: points of a seed are correlated)."""
    rng = np.random.default_rng(3)
    lam_lr = np.tile(np.geomspace(1e-4, 1e-1, 5), 8)
    seeds = np.repeat(np.arange(8), 5)
    cover = {"slope": 0, "c_slope1": 0}
    for _ in range(40):
        shift = rng.normal(0, 0.1, 8)[seeds]
        t = 0.5 / lam_lr * np.exp(shift + rng.normal(0, 0.05, len(lam_lr)))
        fit = ex.fit_power_law(lam_lr, t, seeds, n_boot=200, rng_seed=int(rng.integers(1000)))
        cover["slope"] += fit["slope_ci"][0] < 1.0 < fit["slope_ci"][1]
        cover["c_slope1"] += fit["c_slope1_ci"][0] < 0.5 < fit["c_slope1_ci"][1]
        assert fit["c_ci"][0] < fit["c"] < fit["c_ci"][1]
    assert cover["slope"] >= 30 and cover["c_slope1"] >= 30, cover
    one = ex.fit_power_law(lam_lr[:5], t[:5], None, n_boot=100)
    assert one["bootstrap"] == "points" and one["n_seeds"] == 1
    none = ex.fit_power_law(lam_lr, t, seeds, n_boot=0)
    assert none["c_ci"] is None and none["n_boot"] == 0
    assert ex.fit_power_law(lam_lr, t, seeds, n_boot=50) == ex.fit_power_law(lam_lr, t, seeds,
                                                                              n_boot=50)


@pytest.mark.parametrize("args, match", [
    (([1e-3, 1e-2], [10.0]), "equal length"),
    (([1e-3, 1e-3], [10.0, 20.0]), "two distinct"),
    (([0.0, 1e-2], [10.0, 20.0]), "> 0"),
    (([1e-3, 1e-2], [10.0, np.inf]), "> 0"),
])
def test_fit_power_law_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        ex.fit_power_law(*args)
    with pytest.raises(ValueError, match="seeds"):
        ex.fit_power_law([1e-3, 1e-2], [1.0, 2.0], [0])


def test_collapse_recovers_c_and_slope_one_from_a_synthetic_sweep():
    rows = _synthetic_sweep(c=0.3)
    r = ex.collapse(rows, n_boot=300)
    fit = r["fit"]
    assert fit["slope"] == pytest.approx(1.0, abs=0.04)
    assert fit["c_slope1"] == pytest.approx(0.3, rel=0.05)
    assert fit["c"] == pytest.approx(0.3, rel=0.3)  # extrapolated to lam lr = 1: looser
    for key in ("c", "slope", "c_slope1"):  # (coverage: see the test above; 3 seeds is few)
        assert fit[f"{key}_ci"][0] <= fit[key] <= fit[f"{key}_ci"][1]
    assert r["n_included"] == 24 and r["excluded"] == {}
    assert r["lam_lr_t_star"]["median"] == pytest.approx(0.3, rel=0.05)
    assert r["lam_lr_t_star"]["log10_std"] < 0.05
    for lane in r["lanes"]:
        assert lane["lam_lr_t_star"] == pytest.approx(lane["lam"] * lane["lr"] * lane["t_star"])
    json.dumps(r)
    # another exponent is recovered too (no slope-1 assumption in the fit)
    r2 = ex.collapse(_synthetic_sweep(c=2.0, slope=0.5), n_boot=50)
    assert r2["fit"]["slope"] == pytest.approx(0.5, abs=0.03)


def test_collapse_excludes_diverged_boundary_and_lam_zero_lanes():
    rows = _synthetic_sweep(lams=(1e-3, 1e-2), lrs=(0.1,), seeds=2)
    extra = {k: [] for k in rows}
    steps = np.arange(0, 101, 5)

    def add(run, lam, acc, diverged=False):
        for k, v in (("run", run), ("seed", 0), ("run_lam", lam), ("run_lr", 0.1),
                     ("lam", lam), ("lr", 0.1), ("diverged", diverged)):
            extra[k].extend([v] * len(steps))
        extra["step"].extend(steps)
        extra["test_acc"].extend(acc)

    add(10, 1e-2, 0.1 + 0.001 * steps, diverged=True)
    add(11, 1e-2, 0.1 + 0.001 * steps)                     # still rising: at the boundary
    add(12, 0.0, _bump(np.maximum(steps, 1), 30.0))        # peaked, but lam = 0
    rows = {k: np.concatenate([rows[k], np.asarray(extra[k], rows[k].dtype)]) for k in rows}
    r = ex.collapse(rows, n_boot=50)
    assert r["excluded"] == {"diverged": [10], "at_boundary": [11], "lam_zero": [12]}
    assert r["n_included"] == 4 and r["fit"]["n_points"] == 4
    by_run = {ln["run"]: ln for ln in r["lanes"]}
    assert by_run[10]["t_star"] is None and by_run[11]["at_boundary"] is True
    assert by_run[12]["t_star"] == pytest.approx(30, rel=0.15)


def test_collapse_bad_rows():
    rows = _synthetic_sweep(lams=(1e-3, 1e-2), lrs=(0.1,), seeds=1)
    with pytest.raises(ValueError, match="lacks"):
        ex.collapse({k: v for k, v in rows.items() if k != "test_acc"})
    with pytest.raises(ValueError, match="equal length"):
        ex.collapse({**rows, "step": rows["step"][:-1]})
    varying = {k: v for k, v in rows.items() if k not in ("run_lam", "run_lr")}
    varying["lam"] = varying["lam"] * (1 + np.arange(len(varying["lam"])))
    with pytest.raises(ValueError, match="varying"):
        ex.collapse(varying)
    with pytest.raises(TypeError, match="dict"):
        ex.collapse([1, 2, 3])


def test_plot_collapse_draws_one_curve_per_lane():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = _synthetic_sweep(lams=(1e-3, 1e-2), lrs=(0.1, 0.3), seeds=1)
    fig, ax = plt.subplots()
    assert ex.plot_collapse(ax, rows) is ax
    curves = [ln for ln in ax.get_lines() if len(ln.get_xdata()) > 1]
    assert len(curves) == 4
    assert ax.get_xscale() == "log" and "lam" in ax.get_xlabel()
    # natural clock: every lane's peak marker sits near lam lr t* = c = 0.3
    peaks = [ln.get_xdata()[0] for ln in ax.get_lines() if len(ln.get_xdata()) == 1]
    assert np.allclose(peaks, 0.3, rtol=0.15)
    with pytest.raises(ValueError, match="clock"):
        ex.plot_collapse(ax, rows, clock="wall")
    plt.close(fig)


def test_plot_collapse_focuses_losses_on_the_minima():
    """An early loss spike (the first steps of a large lr) must not flatten the minima: the y-axis
    is cut at 4x the largest value at t*; focus=False keeps the full range."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = _synthetic_sweep(lams=(1e-3, 1e-2), lrs=(0.1,), seeds=1, noise=0.0)
    loss = 1.5 - rows["test_acc"]
    first = np.r_[True, rows["run"][1:] != rows["run"][:-1]]
    second = np.roll(first, 1)  # the first evaluation after step 0
    loss[second] = 100.0
    rows = {**rows, "test_loss": loss}
    fig, (a, b) = plt.subplots(1, 2)
    ex.plot_collapse(a, rows, metric="test_loss")
    ex.plot_collapse(b, rows, metric="test_loss", focus=False)
    peak = max(ln.get_ydata()[0] for ln in a.get_lines() if len(ln.get_xdata()) == 1)
    assert peak == pytest.approx(1.5 - rows["test_acc"].max(), abs=0.02)  # the minima
    assert a.get_ylim()[1] == pytest.approx(4 * peak, rel=1e-6)
    assert peak - 0.3 * peak < a.get_ylim()[0] < peak  # the bottom follows the data
    assert b.get_ylim()[1] >= 100.0
    plt.close(fig)


def test_collapse_on_a_tiny_real_sweep(ds):
    """FC width 32 on 200 Fashion-MNIST points, full-batch GD on MSE, every lane run to the same
    natural time lam lr t = 2 (125-500 steps)."""
    cfg = train.TrainConfig(model="fc", depth=3, width=32, loss="mse", lr=1.0, steps=10,
                            eval_every=5)
    rows = train.sweep(cfg, ds, lam=[0.004, 0.008, 0.016], lr=[1.0], seeds=[0, 1],
                       natural_time=2.0, progress=False)
    r = ex.collapse(rows, n_boot=200)
    print("tiny real sweep:", r["fit"], r["lam_lr_t_star"], r["excluded"])
    assert set(r["excluded"]) <= {"at_boundary"}
    assert r["n_included"] >= 4 and r["fit"] is not None
    # t* falls with lam: the measured exponent is positive and of order 1
    assert 0.5 < r["fit"]["slope"] < 1.5
    assert 0.2 < r["lam_lr_t_star"]["median"] < 2.0
    json.dumps(r)


# ------------------------------------------------------------------------- budgets, lam_opt


def test_budget_comparison_tiny(ds_small):
    cfg = train.TrainConfig(model="fc", depth=2, width=16, loss="mse", lr=1.0, eval_every=10)
    r = ex.budget_comparison(cfg, ds_small, lams=[0.016, 0.0, 0.004], lr=1.0, budget_steps=40,
                             natural_time=0.4, seeds=[0, 1])
    assert r["lam"] == [0.0, 0.004, 0.016]
    assert r["fixed"]["steps"] == [40, 40, 40]
    assert r["proportional"]["steps"] == [None, 100, 25]  # ceil(0.4 / (lam lr))
    assert r["proportional"]["mean"][0] is None
    for arm in ("fixed", "proportional"):
        for m, per_seed in zip(r[arm]["mean"], r[arm]["per_seed"]):
            if m is not None:
                assert 0 <= m <= 1 and len(per_seed) == 2 and m == pytest.approx(np.mean(per_seed))
    assert r["best_lam_fixed"] in r["lam"] and r["best_lam_proportional"] in (0.004, 0.016)
    for arm in ("fixed", "proportional"):  # standard errors over the two seeds
        for se, per_seed in zip(r[arm]["se"], r[arm]["per_seed"]):
            if per_seed:
                assert se == pytest.approx(abs(per_seed[0] - per_seed[1]) / 2)
        assert r[arm]["select"]["mean"] == r[arm]["mean"]  # chosen on the metric itself
    json.dumps(r)
    # lam = 0 has no scaled budget: with zero_steps it is run for that many steps as a
    # reference (here the smallest lam's 100), reported in the arm but not ranked there
    z = ex.budget_comparison(cfg, ds_small, lams=[0.016, 0.0, 0.004], lr=1.0, budget_steps=40,
                             natural_time=0.4, seeds=[0, 1], zero_steps=100)
    assert z["zero_steps"] == 100 and z["proportional"]["steps"] == [100, 100, 25]
    assert z["fixed"] == r["fixed"] and z["proportional"]["mean"][1:] == r["proportional"]["mean"][1:]
    long = per_lam(train.sweep(cfg.replace(steps=100, lam=0.0), ds_small, lam=[0.0], lr=[1.0],
                               seeds=[0, 1], progress=False), [0.0])
    assert z["proportional"]["mean"][0] == pytest.approx(long["mean"][0])
    assert z["best_lam_proportional"] != 0.0
    with pytest.raises(ValueError, match="budget_steps"):
        ex.budget_comparison(cfg, ds_small, lams=[0.01], lr=1.0, budget_steps=0,
                             natural_time=1.0)
    with pytest.raises(ValueError, match="lams"):
        ex.budget_comparison(cfg, ds_small, lams=[-0.01], lr=1.0, budget_steps=10,
                             natural_time=1.0)


def test_reading_a_long_sweep_at_step_T_equals_a_sweep_of_T_steps(ds_small):
    """predict_lam_opt reads every budget off one sweep: valid because a run's first T steps do
    not depend on its length (constant schedules)."""
    cfg = train.TrainConfig(model="fc", depth=2, width=16, loss="mse", lr=1.0, eval_every=10,
                            batch_size=50)
    lams = [0.001, 0.01]
    long = train.sweep(cfg.replace(steps=60), ds_small, lam=lams, lr=[1.0], seeds=[0],
                       progress=False)
    short = train.sweep(cfg.replace(steps=30), ds_small, lam=lams, lr=[1.0], seeds=[0],
                        progress=False)
    a = per_lam(long, lams, metric="test_loss", at_step=30)
    b = per_lam(short, lams, metric="test_loss")
    np.testing.assert_allclose(a["mean"], b["mean"], rtol=1e-5)
    with pytest.raises(ValueError, match="no evaluation at step 35"):
        per_lam(long, lams, at_step=35)


def test_predict_lam_opt_tiny(ds_small):
    cfg = train.TrainConfig(model="fc", depth=2, width=16, loss="mse", lr=1.0, eval_every=5)
    lams = [0.002, 0.008, 0.032]
    table = ex.predict_lam_opt(cfg, ds_small, lam_large=0.05, lr=1.0, budgets=[80, 40],
                               lams=lams, short_natural_time=3.0)
    assert [row["budget"] for row in table] == [40, 80]
    c = table[0]["c"]
    assert c == pytest.approx(0.05 * 1.0 * table[0]["t_star_large"][0])
    for row in table:
        assert row["lam_pred"] == pytest.approx(c / (1.0 * row["budget"]))
        assert row["lam_pred_per_seed"] == pytest.approx([row["lam_pred"]])
        assert row["lam_best"] in lams and row["lam_grid_nearest_pred"] in lams
        assert set(row["metric_by_lam"]) == set(row["metric_se_by_lam"]) == {repr(m) for m in lams}
        opt = row["optimum"]
        assert lams[opt["best"]] == row["lam_best"]
        if opt["at_edge"]:
            assert row["lam_opt"] == row["lam_best"] and opt["window"] is None
        else:  # the vertex lies inside the three grid points around the best
            assert opt["window"][0] <= row["lam_opt"] <= opt["window"][2]
    json.dumps(table)
    short = ex.short_run_c(cfg, ds_small, lam_large=0.05, lr=1.0, seeds=[0, 1],
                           short_natural_time=3.0)
    assert short["steps"] == 60 and short["seeds"] == [0, 1]
    assert short["c_per_seed"][0] == pytest.approx(c)  # seed 0 is predict_lam_opt's run
    np.testing.assert_allclose(short["c_per_seed"], 0.05 * np.array(short["t_star"]))
    logs = np.log(short["c_per_seed"])
    assert short["c"] == pytest.approx(np.exp(logs.mean()))
    assert short["c_se"] == pytest.approx(short["c"] * logs.std(ddof=1) / np.sqrt(2))
    with pytest.raises(ValueError, match="lam_large"):
        ex.predict_lam_opt(cfg, ds_small, lam_large=0.0, lr=1.0, budgets=[10], lams=lams)
    with pytest.raises(ValueError, match="budgets"):
        ex.predict_lam_opt(cfg, ds_small, lam_large=0.1, lr=1.0, budgets=[10, -5], lams=lams)


# ------------------------------------------------------------------------------------ AutoL2


def test_steps_to_target():
    assert steps_to_target([0, 10, 20], [0.1, 0.5, 0.9], 0.5) == 10
    assert steps_to_target([0, 10, 20], [0.1, 0.5, 0.9], 0.95) is None
    assert steps_to_target([0, 10, 20], [2.0, 1.0, 0.5], 0.9, mode="min") == 20


def test_speedup_by_hand():
    sp = autol2_mod.speedup([400, 600, 500], [200, 300, 250], budget=600)
    assert sp["speedup"] == pytest.approx(2.0) and sp["claim"]["verdict"] == "PASS"
    assert sp["ci"] == pytest.approx([2.0, 2.0])  # every resample has the ratio 2
    assert sp["steps_ref_mean"] == 500 and sp["n_reached_new"] == 3
    # a seed that never reached the target counts as the budget: an upper bound, never a PASS
    sp = autol2_mod.speedup([400, 600, 500], [200, None, 250], budget=600)
    assert sp["n_reached_new"] == 2 and sp["claim"]["verdict"] == "TIE"
    assert sp["speedup"] == pytest.approx(1500 / 1050)
    sp = autol2_mod.speedup([300, 280, 320], [310, 290, 300], budget=600)
    assert sp["claim"]["verdict"] == "TIE" and sp["ci"][0] < 1 < sp["ci"][1]
    sp = autol2_mod.speedup([300, 280, 320, 290], [600, 560, 640, 580], budget=700)
    assert sp["claim"]["verdict"] == "FAIL"
    with pytest.raises(ValueError, match="steps_new"):
        autol2_mod.speedup([1, 2], [1], budget=10)


def test_autol2_comparison_tiny_agrees_with_a_recomputation_from_the_raw_rows():
    """Every number of the comparison, recomputed with numpy from the raw rows of the two sweeps
    it runs (run again here: sweeps are deterministic), by the rules its docstring states."""
    ds = data.standardize(data.hold_out(data.load("fashion_mnist_subset", n_train=130,
                                                  n_test=100), 30))
    cfg = train.TrainConfig(model="fc", depth=2, width=16, loss="mse", lr=1.0, eval_every=10,
                            lam_schedule="autol2", autol2_measure_every=5, autol2_delay=0.005)
    lams, seeds, budget, lam_start = [0.0, 0.002, 0.02], [0, 1, 2], 120, 0.1
    r = ex.autol2_comparison(cfg, ds, budget=budget, lams=lams, lam_start=lam_start,
                             seeds=seeds, select_metric="val_acc", n_boot=200)
    base = cfg.replace(steps=budget)
    fixed = base.replace(lam_schedule="constant", autol2_factor=None, autol2_measure_every=None,
                         autol2_delay=None)
    fixed_rows = train.sweep(fixed, ds, lam=lams, lr=[cfg.lr], seeds=seeds, progress=False)
    auto_rows = train.sweep(base.replace(lam_schedule="autol2", lam=lam_start), ds,
                            lam=[lam_start], lr=[cfg.lr], seeds=seeds, progress=False)
    assert not fixed_rows["diverged"].any() and not auto_rows["diverged"].any()

    def lane(rows, lam, seed, column="test_acc"):
        mine = (rows["seed"] == seed) & np.isclose(rows["run_lam"], lam)
        return rows["step"][mine], rows[column][mine].astype(np.float64)

    def first_hit(steps, acc, target):
        return int(steps[np.argmax(acc >= target)]) if (acc >= target).any() else None

    final = np.array([[lane(fixed_rows, lam, s)[1][-1] for s in seeds] for lam in lams])
    val = np.array([[lane(fixed_rows, lam, s, "val_acc")[1][-1] for s in seeds] for lam in lams])
    auto_final = np.array([lane(auto_rows, lam_start, s)[1][-1] for s in seeds])
    mean, se = final.mean(1), final.std(1, ddof=1) / np.sqrt(len(seeds))
    np.testing.assert_allclose(r["fixed"]["mean"], mean, rtol=1e-6)
    np.testing.assert_allclose(r["fixed"]["se"], se, rtol=1e-6)
    np.testing.assert_allclose(r["fixed"]["by_seed"], final, rtol=1e-6)
    np.testing.assert_allclose(r["fixed"]["select"]["by_seed"], val, rtol=1e-6)
    np.testing.assert_allclose(r["autol2"]["final_by_seed"], auto_final, rtol=1e-6)
    assert r["autol2"]["mean"] == pytest.approx(auto_final.mean(), rel=1e-6)

    # the best fixed lam: the best validation mean; each seed scored at the lam the other seeds
    # chose on validation
    assert r["best_fixed"]["lam"] == lams[int(np.argmax(val.mean(1)))]
    chosen = [lams[int(np.argmax(np.delete(val, j, axis=1).mean(1)))] for j in range(3)]
    assert r["best_fixed"]["chosen_per_seed"] == chosen
    best = np.array([final[lams.index(lam), j] for j, lam in enumerate(chosen)])
    np.testing.assert_allclose(r["best_fixed"]["final_by_seed"], best, rtol=1e-6)

    # AutoL2 minus each fixed lam, paired by seed (seed claims); against the best: the crossed
    # claim's estimate is the mean per-example difference = the mean accuracy difference
    for i, vs in enumerate(r["vs_fixed"]):
        c = ex.claim_greater(auto_final, final[i])
        assert vs["lam"] == lams[i]
        assert vs["seed_claim"]["estimate"] == pytest.approx(c.estimate, abs=1e-6)
        assert vs["seed_claim"]["ci"] == pytest.approx(c.ci, abs=1e-6)
    d = r["difference"]
    assert d["claim"]["estimate"] == pytest.approx((auto_final - best).mean(), abs=1e-6)
    assert d["claim"]["method"] == "bootstrap" and d["n_test"] == 100
    np.testing.assert_allclose(d["per_seed"], auto_final - best, atol=1e-6)

    # speed: the first evaluation reaching that seed's final accuracy of its best fixed lam
    hit_fixed = [first_hit(*lane(fixed_rows, lam, s), best[i])
                 for i, (s, lam) in enumerate(zip(seeds, chosen))]
    hit_auto = [first_hit(*lane(auto_rows, lam_start, s), best[i]) for i, s in enumerate(seeds)]
    assert r["best_fixed"]["steps_to_target"] == hit_fixed
    assert r["autol2"]["steps_to_target"] == hit_auto
    steps_auto = [budget if h is None else h for h in hit_auto]
    assert r["speed"]["speedup"] == pytest.approx(np.mean(hit_fixed) / np.mean(steps_auto))

    # the lam trace is the lam column of the AutoL2 rows; AutoL2 only ever divides lam, by the
    # factor, and replaying the authors' rule on its record gives the lams it used
    for i, s in enumerate(seeds):
        trace = lane(auto_rows, lam_start, s, "lam")[1]
        np.testing.assert_allclose(r["autol2"]["lam_trace"]["lam"][i], trace, rtol=1e-6)
        assert r["autol2"]["final_lam"][i] == pytest.approx(trace[-1])
        assert trace[0] == pytest.approx(lam_start) and np.all(np.diff(trace) <= 0)
        down = np.diff(trace) < 0
        np.testing.assert_allclose(trace[:-1][down] / trace[1:][down], cfg.setting("autol2_factor"),
                                   rtol=1e-5)
        rec = r["autol2"]["record"][i]
        replay = train.autol2_rule(np.array(rec["step"]), np.float32(rec["train_loss"]),
                                   np.float32(rec["train_acc"]), lam0=lam_start,
                                   num_classes=10, delay=cfg.setting("autol2_delay"))
        np.testing.assert_array_equal(replay, np.float32(rec["lam"]))
        assert r["autol2"]["n_decays"][i] == int(np.sum(np.diff(np.r_[lam_start, replay]) < 0))
        assert r["autol2"]["n_decays"][i] >= 1
    json.dumps(r)
    with pytest.raises(ValueError, match="lam_start"):
        ex.autol2_comparison(cfg, ds, budget=10, lams=[0.0])


# ----------------------------------------------------------------------- theory vs practice


def test_fc_empirical_ntk_matches_the_jacobian_ntk(ds_small):
    model = models.fully_connected(depth=3, width=24)
    params, _ = model.init(jax.random.PRNGKey(0), ds_small.input_shape)
    x1, x2 = ds_small.x_train[:12], ds_small.x_test[:5]
    k11, k21 = ex.fc_empirical_ntk(params, x1, x2, depth=3)
    from l2theory import kernels

    ref = np.asarray(kernels.empirical_ntk(models.apply_fn(model), params,
                                           np.concatenate([x1, x2])))
    scale = np.abs(ref).max()
    np.testing.assert_allclose(k11, ref[:12, :12], atol=1e-5 * scale)
    np.testing.assert_allclose(k21, ref[12:, :12], atol=1e-5 * scale)
    assert ex.fc_empirical_ntk(params, x1, depth=3)[1] is None


def test_train_recording_is_the_training_engine(ds_small):
    cfg = fc_network.fc_config(depth=3, width=32, lam=0.01, lr=0.5, steps=20, seed=3)
    x = ds_small.x_train[:32]
    labels = ds_small.y_train[:32]
    _, f_train, f_test = recording.train_recording(cfg, x, labels, ds_small.x_test,
                                                   [0, 10, 20], num_classes=10)
    sub = data.Dataset(x, labels, ds_small.x_test, ds_small.y_test)
    rows = train.train(cfg.replace(eval_every=10), sub)
    y = data.one_hot(labels, 10, centered=True)
    y_test = data.one_hot(ds_small.y_test, 10, centered=True)
    np.testing.assert_allclose([0.5 * np.mean(np.sum((f - y) ** 2, -1)) for f in f_train],
                               rows["train_loss"], rtol=1e-5)
    np.testing.assert_allclose([0.5 * np.mean(np.sum((f - y_test) ** 2, -1)) for f in f_test],
                               rows["test_loss"], rtol=1e-5)


def test_gd_limit_converges_to_the_flow_as_lr_shrinks(x64):
    """The infinite-width GD recursion is a first-order discretization of the exact flow: at the
    same physical time, 10x smaller lr gives ~10x smaller difference."""
    from l2theory import kernels, solvers

    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 6))
    xs = rng.normal(size=(5, 6))
    y = rng.normal(size=(12, 2))
    _, k = kernels.fc_relu(x, depth=3)
    _, ks = kernels.fc_relu(xs, x, depth=3)
    f0, f0s = rng.normal(size=(12, 2)), rng.normal(size=(5, 2))
    errs = []
    for lr in (0.1, 0.01):
        steps = np.array([0, int(round(2.0 / lr)), int(round(20.0 / lr))])
        flow = solvers.L2GradientFlow(np.asarray(k), y, lam=0.05, lr=lr, degree=3)
        _, th = flow.predict(steps, np.asarray(ks), f0, f0s)
        _, gd = ex.gd_limit_outputs(k, ks, y, f0, f0s, lam=0.05, lr=lr, degree=3, steps=steps)
        np.testing.assert_allclose(gd[0], f0s)
        errs.append(np.max(np.abs(gd[1:] - np.asarray(th)[1:]) / np.abs(th[1:]).max()))
    assert errs[1] < 0.2 * errs[0] and errs[1] < 0.01


def test_theory_vs_practice_tiny():
    r = ex.theory_vs_practice("fashion_mnist_subset", widths=[64, 1024], depth=3, lam=0.05,
                              lr=0.5, n_train=32, n_test=64, seeds=[0, 1], n_records=32)
    assert r["config"]["steps"] == 160  # 4 / (lam lr)
    small, large = r["per_width"]
    print("theory vs practice (tiny):", [(e["width"], e["distance_mean"], e["distance_max"])
                                         for e in r["per_width"]], r["width_exponent"])
    # the distance to the flow shrinks with width, at about width^-1/2
    assert large["distance_mean"] < 0.5 * small["distance_mean"]
    assert -1.0 < r["width_exponent"]["distance_mean"] < -0.3
    assert large["distance_mean"] < 0.2
    # GD at lr = 0.5 is close to the flow: the discretization alone is a small part of it
    assert r["flow_vs_gd_limit"]["mean"] < 0.5 * large["distance_mean"]
    # predicted vs measured t* of the test loss
    assert large["t_star_net"] == pytest.approx(large["t_star_flow"], rel=0.15)
    # the flow collapses late (outputs shrink like e^{-L lam lr t}); the linearized net does not
    assert r["late"]["flow_collapses"] is True and r["late"]["linearized_collapses"] is False
    assert r["late"]["flow"]["norm_ratio"] < 1e-6 < 0.1 < r["late"]["linearized"]["norm_ratio"]
    assert len(r["curves"]["steps"]) == len(r["curves"]["1024"]["distance"])
    json.dumps(r)


@pytest.mark.parametrize("kwargs, match", [
    ({"widths": []}, "widths"),
    ({"depth": 1}, "depth"),
    ({"lam": 0.0}, "lam"),
    ({"window": (1.0, 0.5)}, "window"),
    ({"seeds": [-1]}, "seeds"),
])
def test_theory_vs_practice_bad_input(kwargs, match):
    base = dict(widths=[16], n_train=8, n_test=8)
    with pytest.raises(ValueError, match=match):
        ex.theory_vs_practice("fashion_mnist_subset", **{**base, **kwargs})
    with pytest.raises(TypeError, match="^data=42: unsupported type int"):
        ex.prepare_data(42, n_train=8, n_test=8)


def test_prepare_data_takes_arrays():
    rng = np.random.default_rng(0)
    arrays = (rng.normal(size=(40, 5)).astype(np.float32), np.arange(40) % 4,
              rng.normal(size=(20, 5)).astype(np.float32), np.arange(20) % 4)
    x, l, xs, ls, k, _ = ex.prepare_data(arrays, n_train=8, n_test=4)
    assert x.shape == (8, 5) and xs.shape == (4, 5) and k == 4
    assert abs(float(x.mean())) < 1e-5  # standardized by the training statistics


def test_output_metrics_against_hand_computed_values():
    f = np.array([[[1.0, 0.0], [0.0, 2.0], [3.0, 1.0]]])  # one time, 3 points, 2 outputs
    y = np.array([[1.0, 1.0], [0.0, 0.0], [1.0, 1.0]])
    # 1/2 |f - y|^2 per point: 0.5, 2.0, 2.0 -> mean 1.5
    np.testing.assert_allclose(output_metrics.mse_loss(f, y), [1.5])
    np.testing.assert_allclose(output_metrics.accuracy(f, np.array([0, 1, 1])), [2 / 3])
    # ||f - y|| / ||y|| = sqrt(9) / sqrt(4)
    np.testing.assert_allclose(output_metrics.relative_distance(f, y[None]), [1.5])


def test_refined_min_finds_the_vertex_of_a_parabola_in_log_time():
    steps = np.unique(np.round(np.geomspace(1, 1000, 25)))
    for t0 in (37.3, 210.0):
        values = 0.3 + (np.log(steps) - np.log(t0)) ** 2
        assert output_metrics.refined_min(steps, values) == pytest.approx(t0, rel=1e-9)
    # a minimum at the end of the curve is the last step, not an extrapolation
    assert output_metrics.refined_min(steps, -np.log(steps)) == steps[-1]


# ---------------------------------------------------------------------------------- Hessian


def test_hessian_lowest_eigs_of_a_quadratic(x64):
    rng = np.random.default_rng(0)
    n = 120
    evals = np.sort(rng.uniform(0.01, 10.0, n))
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    a = jnp.asarray((q * evals) @ q.T)
    params = {"u": jnp.zeros(70), "v": jnp.zeros((5, 10))}

    def loss(p):
        theta = jnp.concatenate([p["u"], p["v"].ravel()])
        return 0.5 * theta @ a @ theta + jnp.sum(theta) * 0.3  # linear term: no effect on H

    for method in ("lanczos", "dense"):
        r = ex.hessian_lowest_eigs(loss, params, k=5, method=method, num_lanczos=n)
        np.testing.assert_allclose(r["eigenvalues"], evals[:5], rtol=1e-8)
        assert r["n_params"] == n and r["method"] == method
    r = ex.hessian_lowest_eigs(loss, params, k=3, method="lanczos", num_lanczos=100)
    np.testing.assert_allclose(r["eigenvalues"], evals[:3], rtol=1e-6)
    assert np.all(np.asarray(r["residuals"]) < 1e-6)


def test_lanczos_on_a_degenerate_cluster(x64):
    """The flat directions' eigenvalue is massively degenerate: Lanczos finds the distinct values
    (the lowest, then the cluster) from far fewer matvecs than parameters."""
    rng = np.random.default_rng(1)
    n = 400
    evals = np.concatenate([[0.002], np.full(300, 0.01), rng.uniform(0.05, 5.0, 99)])
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    a = jnp.asarray((q * evals) @ q.T)
    r = ex.hessian_lowest_eigs(lambda p: 0.5 * p @ a @ p, jnp.zeros(n), k=2, method="lanczos",
                               num_lanczos=150)
    np.testing.assert_allclose(r["eigenvalues"], [0.002, 0.01], rtol=1e-8)
    assert r["n_matvec"] <= 150


def test_hessian_errors():
    with pytest.raises(ValueError, match="k="):
        ex.hessian_lowest_eigs(lambda p: jnp.sum(p ** 2), jnp.zeros(3), k=3)
    with pytest.raises(ValueError, match="method"):
        ex.hessian_lowest_eigs(lambda p: jnp.sum(p ** 2), jnp.zeros(3), k=1, method="arpack")
    with pytest.raises(ValueError, match="num_lanczos"):
        ex.hessian_lowest_eigs(lambda p: jnp.sum(p ** 2), jnp.zeros(30), k=5, method="lanczos",
                               num_lanczos=4)


@pytest.fixture(scope="module")
def tiny_hessian_data():
    return data.standardize(data.load("fashion_mnist_subset", n_train=10, n_test=10))


def test_hessian_of_a_linear_model_late_is_lam(x64, tiny_hessian_data):
    """Depth 1 (f = x W, MSE): H = J^T J / n + lam I with J of rank <= n k < P, so the lowest
    eigenvalue is lam exactly."""
    cfg = train.TrainConfig(model="fc", depth=1, width=1, loss="mse", lr=0.5, dtype="float64")
    r = ex.hessian_vs_lam(cfg, tiny_hessian_data, lams=[0.05], late_tau=5.0, k=2,
                          num_lanczos=40)
    for row in r["rows"]:
        assert row["min_ratio"] == pytest.approx(1.0, abs=1e-6)
        assert row["flat_direction_curvature"] == pytest.approx(row["lam"], rel=1e-10)


def test_hessian_of_a_tiny_relu_net_late(x64, tiny_hessian_data):
    """Depth-3 bias-free ReLU net at natural time lam lr t = 8: lam is an exact eigenvalue (a
    first-layer change orthogonal to the training inputs is flat for the data loss) and the bottom
    of the spectrum is of order lam; a net that has collapsed to f = 0 has H = lam I."""
    cfg = train.TrainConfig(model="fc", depth=3, width=16, loss="mse", lr=0.5, dtype="float64")
    r = ex.hessian_vs_lam(cfg, tiny_hessian_data, lams=[0.005, 0.2], late_tau=8.0, k=3,
                          num_lanczos=60)
    learned, collapsed = r["rows"]
    print("hessian rows:", [(row["lam"], row["eigenvalues"], row["train_loss"])
                            for row in r["rows"]])
    for row in r["rows"]:
        assert row["flat_direction_curvature"] == pytest.approx(row["lam"], rel=1e-8)
        assert row["flat_direction_residual"] < 1e-8 * row["lam"]
        assert -3.0 < row["min_ratio"] <= 1.0 + 1e-6
    assert learned["train_loss"] < 0.2  # it learned (f = 0 has loss 0.45)
    assert collapsed["train_loss"] == pytest.approx(0.45, abs=1e-3)
    np.testing.assert_allclose(collapsed["ratio"], 1.0, atol=1e-3)
    json.dumps(r)


def test_hessian_at_several_late_times_continues_one_run(x64, tiny_hessian_data):
    """late_tau as a list: one run per lam, its Hessian taken at each natural time in turn; the
    same eigenvalues as separate runs to each time (full-batch GD is deterministic)."""
    cfg = train.TrainConfig(model="fc", depth=3, width=8, loss="mse", lr=0.5, dtype="float64")
    both = ex.hessian_vs_lam(cfg, tiny_hessian_data, lams=[0.05], late_tau=[4.0, 1.0], k=2,
                             num_lanczos=30)
    assert both["late_taus"] == [1.0, 4.0] and [r["late_tau"] for r in both["rows"]] == [1, 4]
    assert [r["steps"] for r in both["rows"]] == [40, 160]
    for row in both["rows"]:
        one = ex.hessian_vs_lam(cfg, tiny_hessian_data, lams=[0.05], late_tau=row["late_tau"],
                                k=2, num_lanczos=30)
        assert one["late_tau"] == row["late_tau"]
        np.testing.assert_allclose(row["eigenvalues"], one["rows"][0]["eigenvalues"],
                                   rtol=1e-9, atol=1e-12)
        assert row["train_loss"] == pytest.approx(one["rows"][0]["train_loss"], rel=1e-12)
        assert row["zero_output_loss"] == pytest.approx(0.45)  # f = 0, centered one-hot
        assert row["n_negative"] == int(np.sum(np.array(row["eigenvalues"]) < 0))


def test_hessian_at_t_star_is_the_dense_hessian_at_the_peak(x64, tiny_hessian_data):
    """At each run's t* (the recorded step of peak test accuracy), the eigenvalues are those of
    the dense Hessian of data loss + lam/2 ||theta||^2 there (jax.hessian, numpy eigvalsh), and
    "learned" compares the data loss with that of f = 0."""
    from jax.flatten_util import ravel_pytree

    from l2theory._experiments.hessian import FullBatch

    cfg = train.TrainConfig(model="fc", depth=2, width=3, loss="xent", lr=1.0, dtype="float64")
    ds = data.downsample(tiny_hessian_data, 4)  # 7x7 inputs: 177 parameters, a cheap dense H
    r = ex.hessian_at_t_star(cfg, ds, lams=[0.05], seeds=[0, 1], tau_min=0.2, tau_max=2.0,
                             n_records=10, metric="test_acc", k=3, method="dense")
    assert [row["seed"] for row in r["rows"]] == [0, 1] and r["metric"] == "test_acc"
    runner = FullBatch(cfg.replace(batch_size=None), ds)  # one compilation for both seeds
    x, y = jnp.asarray(ds.x_train), jnp.asarray(ds.y_train, jnp.int32)
    states = [next(runner.states(0.05, 1.0, row["seed"], [row["steps"]])) for row in r["rows"]]
    unravel = ravel_pytree(states[0][1])[1]

    @jax.jit
    def dense_hessian(v, ms):  # jax.hessian of the total loss, independent of the hvp
        return jax.hessian(lambda w: runner.step.loss(unravel(w), ms, x, y)[0]
                           + 0.025 * jnp.sum(w ** 2))(v)

    for row, (_, params, ms) in zip(r["rows"], states):
        dense = np.linalg.eigvalsh(np.asarray(dense_hessian(ravel_pytree(params)[0], ms)))[:3]
        np.testing.assert_allclose(row["eigenvalues"], dense, rtol=1e-8, atol=1e-10)
        assert row["min_ratio"] == pytest.approx(dense[0] / 0.05)
        assert row["zero_output_loss"] == pytest.approx(np.log(10))  # xent of f = 0
        assert row["learned"] == (row["train_loss"] <= 0.5 * np.log(10))
        assert 0.2 <= row["lam_lr_t_star"] * (1 + 1e-9) and row["steps"] <= 40
    json.dumps(r)


# ------------------------------------------------------------------------ schedules, clocks


def test_decay_clock():
    cfg = train.TrainConfig(model="fc", depth=2, width=8, lr=0.5)
    d = schedules_mod.decay_clock(cfg, 0.01, 0.5, 100)
    np.testing.assert_allclose(d, 0.01 * 0.5 * np.arange(101), rtol=1e-6)
    cos = schedules_mod.decay_clock(cfg.replace(lr_schedule="cosine"), 0.01, 0.5, 1000)
    assert cos[-1] == pytest.approx(0.01 * 0.5 * 1000 / 2, rel=1e-3)  # mean of the cosine: 1/2
    step = schedules_mod.decay_clock(cfg.replace(lr_schedule="step"), 0.01, 1.0, 100)
    # x0.2 at 30%, 60%, 90% of the run (the authors' schedule, the default)
    assert step[-1] == pytest.approx(0.01 * (30 + 30 * 0.2 + 30 * 0.04 + 10 * 0.008), rel=1e-5)
    mom = schedules_mod.decay_clock(cfg.replace(momentum=0.9), 0.01, 0.5, 10)
    dec = schedules_mod.decay_clock(cfg.replace(momentum=0.9, decoupled_weight_decay=True),
                                    0.01, 0.5, 10)
    assert mom[-1] == pytest.approx(10 * dec[-1]) and dec[-1] == pytest.approx(0.05)


def test_decoupled_and_schedules_tiny(ds_small):
    cfg = train.TrainConfig(model="fc", depth=2, width=16, loss="mse", lr=1.0, eval_every=5)
    variants = {"coupled": {}, "decoupled": {"momentum": 0.3, "decoupled_weight_decay": True},
                "cosine": {"lr_schedule": "cosine"}}
    r = ex.decoupled_and_schedules(cfg, ds_small, lams=[0.01, 0.04], lrs=[0.5, 1.0], steps=150,
                                   variants=variants, n_boot=50)
    assert set(r["variants"]) == set(variants)
    coupled, decoupled = r["variants"]["coupled"], r["variants"]["decoupled"]
    # constant lr: D(t*) = lam lr t*, also for decoupled weight decay under momentum (it decays
    # theta by lr lam per step whatever the momentum: m = 1)
    assert coupled["clock_factor"] == decoupled["clock_factor"] == 1.0
    for variant in (coupled, decoupled):
        peaks = [ln for ln in variant["lanes"] if ln["t_star"] is not None]
        assert peaks
        for ln in peaks:
            assert ln["decay_time_star"] == pytest.approx(ln["lam_lr_t_star"], rel=1e-5)
    for ln in r["variants"]["cosine"]["lanes"]:
        if ln["t_star"] is not None:  # the cosine clock runs slower than lam lr t
            assert ln["decay_time_star"] <= ln["lam_lr_t_star"] * (1 + 1e-6)
    for v in r["variants"].values():
        if v["collapse_ratio"] is not None:
            assert v["collapse_ratio"] >= 0 and v["collapses"] == (v["collapse_ratio"] < 0.25)
    json.dumps(r)
    with pytest.raises(ValueError, match="constant lam"):
        ex.decoupled_and_schedules(cfg, ds_small, lams=[0.01, 0.04], lrs=[1.0], steps=10,
                                   variants={"auto": {"lam_schedule": "autol2"}})
    with pytest.raises(ValueError, match="two distinct"):
        ex.decoupled_and_schedules(cfg, ds_small, lams=[0.01], lrs=[1.0], steps=10)
    # the default variants' decoupled weight decay needs momentum (without it, it is the coupled
    # step): refused before any variant is trained
    with pytest.raises(ValueError, match=r"^decoupled_weight_decay=True: has no effect with "
                                         r"momentum=0.0; pass momentum > 0"):
        ex.decoupled_and_schedules(cfg, ds_small, lams=[0.01, 0.04], lrs=[1.0], steps=10)
