"""Predicting a run without training: ``solvers.lam_opt_verdict`` (when ``lam_opt`` means
nothing: the demo's case), the float resolution of late outputs, ``experiments.predict_run`` and
``l2theory predict`` (the same options and defaults as ``l2theory train``, which prints the
measured ``t*`` beside the predicted), ``--help`` complete, progress as lines in a log."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest

from l2theory import _x64, data, experiments, kernels, solvers, train
from l2theory._cli import demo, predict, training
from l2theory.cli import main

SMALL = ["--n-train", "200", "--n-test", "200", "--depth", "2", "--width", "64", "--lr", "0.5",
         "--lam", "1e-3", "--steps", "2000"]


@pytest.fixture(scope="module")
def demo_flow():
    """The demo's flow: depth-3 infinite-width NTK on 1000 + 1000 standardized images, float64."""
    with _x64.x64():
        ds = data.standardize(data.load("fashion_mnist_subset", n_train=1000, n_test=1000))
        x = ds.x_train.reshape(1000, -1).astype(np.float64)
        xt = ds.x_test.reshape(1000, -1).astype(np.float64)
        k_tr, k_te = kernels.ntk_matrices(kernels.fc_relu_fn(depth=3), x, xt)
        y = data.one_hot(ds.y_train, 10, centered=True)
        yt = data.one_hot(ds.y_test, 10, centered=True)
        return (np.asarray(k_tr, np.float64), np.asarray(k_te, np.float64), y.astype(np.float64),
                yt.astype(np.float64))


def test_the_demos_lam_opt_at_ten_thousand_steps_is_not_meaningful(demo_flow):
    """The demo's c (geometric mean over lam 1e-4..1e-1 of c by accuracy) gives
    lam_opt(T=1e4) ~ 3e-5, where the predicted accuracy at T equals lam = 0's within the test
    noise and sits on a plateau that spans decades of steps."""
    k_tr, k_te, y, yt = demo_flow
    with _x64.x64():
        flow = solvers.L2GradientFlow(k_tr, y, lam=1e-3, lr=1.0, degree=3)
        cs = [solvers.peak(flow.replace(lam=lam), k_te, yt).c for lam in demo.CONFIG["lams"]]
        c = float(np.exp(np.mean(np.log(cs))))
        verdict = solvers.lam_opt_verdict(flow, k_te, yt, budget=1e4, c=c)
    assert 1e-5 < verdict.lam_opt < 1e-4 and not verdict.meaningful
    assert abs(verdict.value_at_lam_opt - verdict.value_at_zero) < 2 * verdict.standard_error
    assert verdict.standard_error == pytest.approx(np.sqrt(0.817 * 0.183 / 1000), rel=0.05)
    assert any("lam does not matter at this budget" in r for r in verdict.reasons)
    assert any(r.startswith("a plateau") for r in verdict.reasons)
    assert verdict.plateau[1] / verdict.plateau[0] > 10
    assert verdict.line().startswith(f"lam_opt = {verdict.lam_opt:.3g} (by test accuracy")
    assert "NOT meaningful" in verdict.line()


def test_a_lam_opt_that_beats_lam_zero_on_a_sharp_peak_is_meaningful():
    """A finite network's own random initial outputs f0: without L2 the flow never removes their
    part outside the training data's span, so the test loss at T stays high; lam_opt shrinks it
    away and peaks near T, far beyond the test noise. (Without f0, noisy targets: the test loss
    minimum is early stopping, at ~15 steps whatever lam, and the verdict says t* jumps.)"""
    rng = np.random.default_rng(0)
    x, xt = rng.normal(size=(200, 10)), rng.normal(size=(200, 10))
    teacher = lambda v: np.tanh(v @ np.linspace(-1, 1, 10))[:, None]  # noqa: E731
    f0 = {"f0_train": rng.normal(size=(200, 1)), "f0_test": rng.normal(size=(200, 1))}
    with _x64.x64():
        k_tr, k_te = kernels.fc_relu(x, depth=3)[1], kernels.fc_relu(xt, x, depth=3)[1]
        flow = solvers.L2GradientFlow(k_tr, teacher(x), lam=1e-2, lr=1.0, degree=3)
        c = solvers.peak(flow, k_te, teacher(xt), metric="loss", **f0).c
        verdict = solvers.lam_opt_verdict(flow, k_te, teacher(xt), budget=1e4, c=c,
                                          metric="loss", **f0)
        noisy = teacher(x) + 0.5 * rng.normal(size=(200, 1))
        early = solvers.L2GradientFlow(k_tr, noisy, lam=1e-3, lr=1.0, degree=3)
        c_early = solvers.peak(early, k_te, teacher(xt), metric="loss").c
        jumps = solvers.lam_opt_verdict(early, k_te, teacher(xt), budget=1e6, c=c_early,
                                        metric="loss")
    assert verdict.meaningful, verdict.reasons
    assert verdict.value_at_zero - verdict.value_at_lam_opt > 5 * verdict.standard_error
    assert 1 / 3 < verdict.t_star / 1e4 < 3 and verdict.plateau[1] / verdict.plateau[0] < 10
    assert "meaningful: test loss at T" in verdict.line()
    assert not jumps.meaningful and any(r.startswith("t* jumps") for r in jumps.reasons)


def test_float32_outputs_underflow_late_where_float64_resolves_them(demo_flow):
    """lam = 0.1, natural time up to 100: the depth-3 outputs shrink as exp(-3 lam lr t); in
    float32 the accuracy falls to chance (0.1) after natural time ~27, in float64 it stays
    0.64. underflow_step flags float32 before that and float64 never."""
    k_tr, k_te, y, yt = demo_flow
    t = solvers.default_times(0.1, 1.0)
    f32 = np.asarray(solvers.L2GradientFlow(k_tr, y, lam=0.1, degree=3, dtype=np.float32)
                     .predict_test(t, k_te))
    with _x64.x64():
        f64 = np.asarray(solvers.L2GradientFlow(k_tr, y, lam=0.1, degree=3).predict_test(t, k_te))
    a32, a64 = (solvers.test_metric(f, yt, "accuracy") for f in (f32, f64))
    assert a32[-1] == pytest.approx(0.1) and a64[-1] > 0.6
    first_wrong = t[np.flatnonzero(np.abs(a32 - a64) > 0.002)[0]]
    flagged = solvers.underflow_step(t, f32)
    assert flagged is not None and flagged <= first_wrong
    assert 0.1 * flagged > 15  # late: long after the peak (natural time ~0.3)
    assert solvers.underflow_step(t, f64) is None
    assert solvers.resolution_limit(np.float32) == pytest.approx(9.86e-32, rel=0.01)


def test_predict_run_reads_the_config_and_its_rates():
    """predict_run's fields and lines (what ``l2theory predict`` prints)."""
    cfg = train.TrainConfig(model="fc", depth=2, width=64, loss="mse", lr=0.5, lam=1e-3,
                            steps=2000)
    p = experiments.predict_run(cfg, n_train=200, n_test=200)
    assert (p.degree, p.kernel, p.n_train, p.budget, p.lam_c) == (2, "empirical", 200, 2000.0,
                                                                  1e-3)
    assert p.homogeneous
    assert p.c_loss == pytest.approx(1e-3 * 0.5 * p.t_star_loss)
    assert p.lam_opt_accuracy == pytest.approx(p.c_accuracy / (0.5 * 2000))
    assert p.rates["shrink"] == pytest.approx(0.5 * 1e-3 * 2)
    assert p.rates["kernel_decay"] == pytest.approx(2 * 0.5 * 1e-3)
    assert p.rates["stable"] == (p.rates["fastest"] < 2) and p.rates["stability_bound"] == 2
    assert "standardized per channel" in p.preprocessing and "centred one-hot" in p.preprocessing
    out = "\n".join(p.lines())
    for pattern in (r"model: fc \(depth 2, width 64\), homogeneous of degree L = 2; kernel: "
                    r"empirical NTK", r"data: fashion_mnist_subset, 200 train / 200 test points",
                    r"standardized per channel", r"centred one-hot",
                    r"output shrink lr lam L = 0\.001", r"fastest mode lr lam_max/n = ",
                    r"t\* by test loss: +[\d.e+]+ steps", r"t\* by test accuracy: +[\d.e+]+ steps",
                    r"budget T = 2000 steps: lam_opt = c/\(lr T\) = ",
                    r"verdict: lam_opt = .* \(by test accuracy", r"verdict: lam_opt = .* \(by "
                    r"test loss"):
        assert re.search(pattern, out), (pattern, out)


def test_predict_command_prints_json(capsys):
    """The command, --json; at lam = 0 (no natural clock: c from the same flow at lam_c =
    1 / (lr T))."""
    assert main(["predict", *SMALL, "--lam", "0", "--json", "--budget", "500"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["budget"] == 500 and summary["degree"] == 2 and summary["loss"] == "mse"
    assert summary["homogeneous"] is True and summary["model"]["name"] == "fc"
    assert summary["lam"] == 0.0 and summary["lam_c"] == pytest.approx(1 / (0.5 * 500))
    assert summary["lam_opt_accuracy"] == pytest.approx(summary["c_accuracy"] / (0.5 * 500))
    assert set(summary["verdict_accuracy"]) >= {"meaningful", "reasons", "lam_opt"}
    # --degree imposes the homogeneous flow on a network that is not homogeneous (an int, or
    # euler: its effective degree at initialization); anything else is refused by the parser
    parser = predict.predict_parser()
    assert parser.parse_args(["--degree", "2"]).degree == 2
    assert parser.parse_args(["--degree", "euler"]).degree == "euler"
    with pytest.raises(SystemExit):
        parser.parse_args(["--degree", "two"])
    assert "expected an int or 'euler', got 'two'" in capsys.readouterr().err


def test_predict_and_train_take_the_same_options_with_the_same_defaults():
    def options(parser):
        return {a.dest: a.default for a in parser._actions if a.option_strings}

    run, guess = options(training.train_parser()), options(predict.predict_parser())
    shared = set(run) & set(guess)
    assert set(run) - shared == {"out", "progress", "checkpoint_every", "predict", "plan"}
    assert set(guess) - shared == {"budget", "kernel", "f0", "degree", "max_n", "json"}
    assert all(run[name] == guess[name] for name in shared)
    args = training.train_parser().parse_args([])
    assert args.standardize is True  # one default for training and prediction
    assert training._config(args) == train.TrainConfig(loss="mse")


def test_train_prints_the_measured_t_star_beside_the_predicted(capsys):
    assert main(["train", *SMALL, "--evals-per-decade", "10", "--out", "none",
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("data: fashion_mnist_subset, inputs standardized per channel")
    for metric in ("loss", "accuracy"):
        m = re.search(rf"t\* by test {metric}: +measured ([<>= ]*)([\d.e+]+) steps, c = [\d.]+; "
                      rf"predicted ([\d.e+]+) steps, c = ", out)
        assert m, out
        if metric == "loss" and not m.group(1):  # a peak inside the run: near the prediction
            assert 1 / 3 < float(m.group(2)) / float(m.group(3)) < 3
    assert main(["train", *SMALL, "--steps", "20", "--loss", "xent", "--out", "none",
                 "--no-progress"]) == 0
    assert ("predicted t*: not computed (loss=xent is integrated numerically (about a minute)); "
            "pass --predict") in capsys.readouterr().out


def test_help_shows_every_default_and_no_markup(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    for command in ("train", "sweep", "predict", "demo", "figures"):
        assert main([command, "--help"]) == 0
        text = capsys.readouterr().out
        assert "``" not in text and "::\n" not in text, command
        if command in ("train", "sweep", "predict"):
            assert re.search(r"--depth LAYERS\s+\[default: the model family's own: fc 2, cnn 3, "
                             r"wrn 28\]", text)
            assert "[default: the model family's own: fc 256, cnn 64]" in text
            assert "fc 1.41421, cnn 1.41421" in text
            assert re.search(r"--standardize, --no-standardize\s+.*\[default: on\]", text)
            assert re.search(r"--x64\s+.*\[default: off, float32\]", text)
            assert "[default: mse (the command line's default" in text


def test_progress_is_a_few_lines_when_stderr_is_not_a_terminal(capsys):
    assert main(["train", *SMALL, "--steps", "200", "--eval-every", "10", "--out", "none",
                 "--no-predict"]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err
    assert err.splitlines() == ["train: 200 steps", err.splitlines()[1]]
    assert re.fullmatch(r"train: done: 200/200 steps in [\d.]+ s, best test accuracy 0\.\d{4}",
                        err.splitlines()[1])
    assert main(["train", *SMALL, "--steps", "200", "--eval-every", "10", "--out", "none",
                 "--no-predict", "--progress"]) == 0
    assert "\r" in capsys.readouterr().err  # --progress: the bar anyway
