"""l2theory.figures: every figure module has the same protocol (presets, run, report, main);
every figure on tiny settings writes PNG/PDF/CSV/JSON; REPORT.md has its must-hold lines and is
rewritten identically from the summaries; the three entry points of the figures command take the
same options and fail on bad ones before any work; the paper preset fails clearly without its
datasets; the thin scripts in paper_figures/ run."""
import ast
import importlib
import inspect
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from l2theory import cli
from l2theory import experiments as ex
from l2theory.figures import FIGURES, _common, _report, make_all

REPO = Path(__file__).resolve().parent.parent
RECORDED_COLLAPSE = (REPO / "paper_figures" / "results"
                     / "paper-collapse-fc-fashion_mnist-cpu-amd-epyc-2cores")

EXPECTED = {
    "theory": ["theory.png", "theory.pdf", "theory_curves.csv", "theory_kernel_decay.csv",
               "theory.json"],
    "theory_vs_practice": ["theory_vs_practice.png", "theory_vs_practice.pdf",
                           "theory_vs_practice_distance.csv", "theory_vs_practice_curves.csv",
                           "theory_vs_practice_late.csv", "theory_vs_practice.json"],
    "collapse": ["collapse.png", "collapse.pdf", "collapse_curves.csv", "collapse_tstar.csv",
                 "collapse.json"],
    "budget": ["budget.png", "budget.pdf", "budget_fixed_vs_scaled.csv", "budget_lam_opt.csv",
               "budget.json"],
    "fig1": ["fig1.png", "fig1.pdf", "fig1_curves.csv", "fig1_lams.csv", "fig1_autol2.csv",
             "fig1.json"],
    "theory_cnn": ["theory_cnn.png", "theory_cnn.pdf", "theory_cnn_tstar.csv",
                   "theory_cnn_curves.csv", "theory_cnn.json"],
    "infinite_width": ["infinite_width.png", "infinite_width.pdf", "infinite_width_curves.csv",
                       "infinite_width_peaks.csv", "infinite_width.json"],
    "hessian": ["hessian.png", "hessian.pdf", "hessian_t_star.csv", "hessian_rows.csv",
                "hessian_eigs.csv", "hessian.json"],
    "bn_equilibrium": ["bn_equilibrium.png", "bn_equilibrium.pdf", "bn_equilibrium_curves.csv",
                       "bn_equilibrium_lams.csv", "bn_equilibrium.json"],
    "lazy_limit": ["lazy_limit.png", "lazy_limit.pdf", "lazy_limit_tstar.csv",
                   "lazy_limit_curves.csv", "lazy_limit.json"],
}
# the dataset each figure's paper preset needs first
PAPER_DATASET = {"fig1": "cifar10", "theory_cnn": "cifar10", "infinite_width": "fashion_mnist",
                 "bn_equilibrium": "cifar10"}
MUST_HOLD = ("- **PASS", "- **FAIL", "- **TIE", "- **n/a")


@pytest.fixture(scope="module")
def tiny_all(tmp_path_factory):
    out = tmp_path_factory.mktemp("figures")
    report = make_all.run_all("quick", out, tiny=True)
    return out, report


@pytest.mark.parametrize("name", list(EXPECTED))
def test_each_figure_writes_png_pdf_csv_json(tiny_all, name):
    out, _ = tiny_all
    for f in EXPECTED[name]:
        p = out / name / f
        assert p.is_file() and p.stat().st_size > 0, p
    summary = json.loads((out / name / f"{name}.json").read_text())
    assert summary["config"]["preset"] == "quick" and summary["config"]["tiny"]
    assert summary["runtime_s"] > 0 and summary["machine"]["jax"]
    header = (out / name / EXPECTED[name][2]).read_text().splitlines()[0]
    assert "," in header


def test_every_figure_module_has_the_protocol(tiny_all):
    """NAME, CONFIGS (quick and paper at least), TINY, run(config, out, progress=False),
    report(summary) -> Report(lines, claims) from the summary alone, main(argv=None); and no
    figure imports another figure (its constants are its own)."""
    out, _ = tiny_all
    assert set(EXPECTED) == set(FIGURES)
    for name in FIGURES:
        mod = importlib.import_module(f"l2theory.figures.{name}")
        assert mod.NAME == name and {"quick", "paper"} <= set(mod.CONFIGS)
        assert isinstance(mod.TINY, dict) and mod.TINY
        run = inspect.signature(mod.run).parameters
        assert list(run) == ["config", "out", "progress"] and run["progress"].default is False
        assert list(inspect.signature(mod.main).parameters) == ["argv"]
        summary = json.loads((out / name / f"{name}.json").read_text())
        lines, claims = report = mod.report(summary)
        assert isinstance(report, _report.Report) and all(isinstance(x, str) for x in lines)
        assert lines[0].startswith("### ") and all(isinstance(c, _report.Claim) for c in claims)
        assert lines[1].startswith(("*Caption:*", f"*Figure `{name}`.*"))  # a caption
        imported = [n.module for n in ast.walk(ast.parse(Path(mod.__file__).read_text()))
                    if isinstance(n, ast.ImportFrom) and n.module] + [
            f"l2theory.figures.{a.name}" for n in ast.walk(ast.parse(Path(mod.__file__)
                                                                      .read_text()))
            if isinstance(n, ast.ImportFrom) and n.module == "l2theory.figures"
            for a in n.names]
        others = {f"l2theory.figures.{f}" for f in FIGURES if f != name}
        assert not others & set(imported), name


def test_claim_verdicts_are_the_four_words():
    assert _report.Claim.sanity("x", "TIE", "d").line() == "- **TIE** x: d"
    with pytest.raises(ValueError, match="verdict='ok': not a verdict; use one of PASS, FAIL"):
        _report.Claim.sanity("x", "ok", "d")
    assert [_report.pass_fail(v) for v in (True, False, None)] == ["PASS", "FAIL", "n/a"]
    from l2theory._experiments import claims

    assert _report.VERDICTS == claims.VERDICTS  # one vocabulary


MUST_KEYS = ("distance to the theory falls as the widths", "over lam of the geometric mean",
             "fitted slope s", "lam_opt predicted within a factor 2 of the optimum fitted on "
             "`val_loss` (budget figure, T = 10", "(budget figure, T = 20",
             "AutoL2 ends lower in `test_loss`", "fewer steps",
             "best `test_loss` during training (the paper's number) lower",
             "(AutoL2 stand-in (not Figure 1), constant arm",
             "lowest Hessian eigenvalue of the regularized loss is +lam (ratio to lam in [0.5, "
             "2]; lam 0.01", "lam 0.03, nets that learned", "t* within 25% for the CNN at 64",
             "distance to the theory falls as the channels", "infinite-width lam lr t* spread",
             "at equilibrium (the live tensors", "every tensor at equilibrium: the rows'",
             "the drift relation", "predicted t* (lazy limit) within 25%",
             "distance to the lazy limit falls", "the net learns", "interpolation error is below",
             "closer to the net than the Euler-degree flow")
SANITY_KEYS = ("exactly flat data direction", "collapsed to f = 0", "Krylov error estimate",
               "lazy regime, lr lambda_max / n < 2")


def test_make_all_writes_report_with_claims_and_sanity_checks_apart(tiny_all):
    out, report = tiny_all
    assert report == out / "REPORT.md"
    text = report.read_text()
    must = text.split("## Must hold")[1].split("## Sanity checks")[0]
    sanity = text.split("## Sanity checks (hold by construction; not evidence)")[1].split(
        "## Numbers")[0]
    lines = [ln for ln in must.splitlines() if ln.startswith(MUST_HOLD)]
    assert len(lines) == len(MUST_KEYS), text
    for key in MUST_KEYS:
        assert sum(key in ln for ln in lines) == 1, key
    for ln in lines:  # estimate, interval (or why none), n, verdict
        assert "estimate" in ln or "(exact: no sampling noise)" in ln, ln
        assert "n = " in ln or "exact" in ln, ln
    for key in SANITY_KEYS:
        assert sum(key in ln for ln in sanity.splitlines() if ln.startswith(MUST_HOLD)) == 1
        assert key not in must
    assert "Total runtime" in text and "Machine:" in text
    # every figure's section, in FIGURES order, under ## Numbers
    numbers = text.split("## Numbers")[1]
    heads = [numbers.index(make_all.figure(name).report(
        json.loads((out / name / f"{name}.json").read_text())).lines[0]) for name in FIGURES]
    assert heads == sorted(heads)
    # the accuracy-based collapse beside the loss-based one, with its own lines
    assert "t* from `test_acc`, beside" in text and "lanes peaking at the boundary" in text
    # the budget figure's lam = 0 baseline, both arms; the metric stated once per figure
    assert text.count("- lam = 0 baseline") == 2
    assert text.count("Metric: the loss, stated before the run and kept") == 2  # budget, fig1


def test_bn_equilibrium_tiny_run_sits_at_the_equilibrium(tiny_all):
    """The bn_equilibrium figure's tiny run is a real one (a BatchNorm CNN, momentum 0.9, mixup,
    128 Fashion-MNIST images at 7x7, lam 0.04, 400 steps = 32 tau_eq, 2 seeds): after 12 tau_eq
    each seed's RMS angular update is sqrt(2 lr lam / (1 + mu)) within 10 % (the formula without
    the momentum factor is 38 % off), every tensor's norm has stopped drifting, and the
    prediction is experiments.bn_equilibrium's."""
    import math

    from l2theory import experiments

    out, _ = tiny_all
    summary = json.loads((out / "bn_equilibrium" / "bn_equilibrium.json").read_text())
    (row,) = summary["results"]["lams"]
    assert row["predicted"] == pytest.approx(math.sqrt(2 * 0.05 * 0.04 / 1.9), rel=1e-12)
    assert row["steps"] == 400 and row["n_seeds"] == 2 and row["diverged"] == 0
    assert all(abs(r - 1) < 0.10 for r in row["ratios"]), row["ratios"]
    drifts = row["tensor_drifts"]
    assert len(drifts) == 3 and all(abs(d) < 0.15 for d in drifts.values()), drifts
    # no dead tensor: the RMS over the per-tensor late angles (bn_tensor_angles) is the rows'
    # angular_update's late RMS (one window, so the two orders of averaging agree)
    assert row["dead_tensors"] == 0 and row["tensors"] == 6
    np.testing.assert_allclose(row["ratios_live"], row["ratios"], rtol=1e-5)
    cfg = _common.train_config({**summary["config"]["panels"][0]["model"], "lr": 0.05,
                                "lam": 0.04, "momentum": 0.9})
    assert experiments.bn_equilibrium(cfg).relaxation_steps == pytest.approx(row["tau_eq"])


def test_bn_equilibrium_live_ratio_drops_the_dead_tensors_by_their_norms():
    """A tensor whose late drift is below DEAD_DRIFT leaves the live RMS, whatever its angle;
    one at the threshold stays; nothing to judge without per-tensor angles or live tensors."""
    from l2theory.figures import bn_equilibrium as fig

    late = {"a": 0.03, "b": 0.05, "c": 0.001}
    got, dead = fig.live_ratio(late, {"a": 0.02, "b": fig.DEAD_DRIFT, "c": -1.01}, 0.04)
    assert dead == 1 and got == pytest.approx(np.sqrt((0.03 ** 2 + 0.05 ** 2) / 2) / 0.04)
    assert fig.live_ratio(late, {"a": None, "b": 0.0, "c": 0.0}, 0.04) == (
        pytest.approx(np.sqrt((0.03 ** 2 + 0.05 ** 2 + 0.001 ** 2) / 3) / 0.04), 0)
    assert fig.live_ratio(None, {"a": -1.0, "b": 0.0}, 0.04) == (None, 1)
    assert fig.live_ratio({"a": 0.0}, {"a": -0.9}, 0.04) == (None, 1)


def _budget_summary(per_seed, lam_pred_per_seed, lams=(2e-3, 4e-3, 8e-3, 1.6e-2)):
    """A budget summary around one lam_opt row computed by the real code (lam_opt_row) from
    per-seed validation losses ``per_seed`` [lam][seed]."""
    from l2theory._experiments.budget import lam_opt_row

    lams = list(lams)
    per_seed = np.asarray(per_seed, np.float64)
    mean = per_seed.mean(1).tolist()
    se = (per_seed.std(1, ddof=1) / np.sqrt(per_seed.shape[1])).tolist()
    got = {"mean": mean, "se": se, "by_seed": per_seed.tolist(),
           "seeds": list(range(per_seed.shape[1]))}
    row = {**lam_opt_row(150, lam_pred_per_seed, lams, got, "min", got), "c": 0.654,
           "c_per_seed": [0.65, 0.66], "short_at_boundary": False, "metric": "val_loss"}
    arm = {"mean": mean, "se": se, "by_seed": per_seed.tolist(), "steps": [150] * 4,
           "select": {"mean": mean}}
    bc = {"metric": "test_loss", "select_metric": "val_loss", "seeds": [0, 1, 2],
          "lam": lams, "fixed": arm, "proportional": arm, "best_lam_fixed": row["lam_best"],
          "best_lam_proportional": row["lam_best"]}
    return {"results": {"budget_comparison": bc, "lam_opt": [row], "metric": "loss"},
            "config": {"preset": "quick"}}


def test_budget_must_hold_is_decided_by_the_fitted_optimum_and_its_interval():
    """The optimum of a parabola in ln lam through the best grid point (4e-3) and its
    neighbours, per seed; the prediction within x2 of it in every seed: PASS; x3 off: FAIL;
    an optimum at the grid's edge: TIE whatever the prediction."""
    from l2theory.figures import budget

    x = np.log([2e-3, 4e-3, 8e-3, 1.6e-2])
    per_seed = [[0.30 + 0.01 * (xi - np.log(5e-3) - s) ** 2 for s in (-0.05, 0.0, 0.05)]
                for xi in x]
    lines, [claim] = budget.report(_budget_summary(per_seed, [5.5e-3] * 3))
    assert claim.verdict == "PASS" and "within a factor 2 of the optimum fitted" in claim.what
    assert claim.estimate == pytest.approx(1.1, rel=0.01) and claim.n == 3
    assert "fitted 0.005" in claim.detail and "0.002, 0.004, 0.008" in claim.detail
    text = "\n".join(lines)
    assert "| 150 | 0.0055 (0.0055, 0.0055, 0.0055) | 0.005 (" in text
    _, [claim] = budget.report(_budget_summary(per_seed, [1.6e-2] * 3))
    assert claim.verdict == "FAIL"
    edge = [[0.4, 0.41, 0.39], [0.35, 0.36, 0.34], [0.33, 0.32, 0.33], [0.30, 0.31, 0.29]]
    _, [claim] = budget.report(_budget_summary(edge, [1.6e-2] * 3))
    assert claim.verdict == "TIE" and claim.note == "optimum at the grid edge"
    assert claim.line().startswith("- **TIE (optimum at the grid edge)** lam_opt")


def _cnn_summary(tiny_all, rows):
    """The tiny theory_cnn summary with these (network, channels, ratios, distances) rows."""
    out, _ = tiny_all
    summary = json.loads((out / "theory_cnn" / "theory_cnn.json").read_text())
    template = summary["results"]["rows"][0]
    summary["results"]["rows"] = []
    for channels, ratios, dists in rows:
        se = lambda v: float(np.std(v, ddof=1) / np.sqrt(len(v)))  # noqa: E731
        summary["results"]["rows"].append({
            **template, "network": f"CNN-{channels}", "channels": channels, "family": "flatten",
            "t_star_ratio_per_seed": ratios, "t_star_ratio": float(np.mean(ratios)),
            "t_star_ratio_se": se(ratios),
            "t_star_net_at_boundary_per_seed": [False] * len(ratios),
            "t_star_net_per_seed": [50.0] * len(ratios),
            "t_star_flow_per_seed": [52.0] * len(ratios),
            "distance_mean_per_seed": dists,
            "distance_mean": float(np.mean(dists)), "distance_mean_se": se(dists)})
    return summary


def test_theory_cnn_must_hold_by_intervals_over_seeds(tiny_all):
    """t* within 25% at each channel count >= 64 (16 channels do not count), decided by the
    t-interval of the mean ratio; the distance falls when every seed's exponent says so."""
    from l2theory.figures import theory_cnn

    summary = _cnn_summary(tiny_all, [(16, [1.4, 1.3, 1.35], [0.56, 0.54, 0.55]),
                                      (64, [0.95, 0.97, 0.96], [0.33, 0.34, 0.335]),
                                      (256, [1.0, 1.02, 0.99], [0.16, 0.17, 0.165])])
    lines, claims = theory_cnn.report(summary)
    t64, t256, distance = claims
    assert t64.verdict == t256.verdict == "PASS" and "at 64 channels" in t64.what
    assert t64.estimate == pytest.approx(0.96) and t64.n == 3
    assert distance.verdict == "PASS" and distance.estimate < 0
    summary = _cnn_summary(tiny_all, [(16, [1.0, 1.0, 1.0], [0.56, 0.54, 0.55]),
                                      (64, [1.45, 1.5, 1.4], [0.33, 0.34, 0.335]),
                                      (256, [0.7, 1.3, 1.0], [0.335, 0.315, 0.6])])
    _, (t64, t256, distance) = theory_cnn.report(summary)
    assert t64.verdict == "FAIL" and t256.verdict == "TIE" and distance.verdict == "TIE"
    # a measured t* at the last recorded step is no peak: that seed is left out
    summary["results"]["rows"][1].update(t_star_ratio_per_seed=[1.0, 1.0, 3.0],
                                         t_star_net_at_boundary_per_seed=[False, False, True])
    _, (t64, _, _) = theory_cnn.report(summary)
    assert t64.n == 2 and "1 seed(s) left out" in t64.detail


def test_theory_cnn_paper_preset_builds():
    """The paper preset's networks and CNN family build, with the degrees the theory uses: the
    bias-free max-pooling CNN is homogeneous (L = 5); the WRN without BatchNorm is not, and
    its entry asks for the Euler degree."""
    from l2theory._experiments import cnn_theory, network_theory
    from l2theory.figures import theory_cnn

    cfg = theory_cnn.CONFIGS["paper"]
    for c in cfg["channels"]:
        family = cnn_theory.cnn_config(depth=cfg["depth"], channels=c, lam=cfg["lam"],
                                       lr=cfg["lr"], steps=10)
        for readout in ("flatten", "gap"):
            network_theory.analytic_kernel_fn(family.replace(
                model_kwargs={**family.model_kwargs,
                              "global_pool": cnn_theory.READOUTS[readout]}))
    degrees = {}
    for i, net in enumerate(cfg["networks"]):
        entry = cnn_theory._network_entry(f"networks[{i}]", net)
        run = cnn_theory.network_config(entry["model"], seed=0, lr=0.1, lam=0.1, steps=10)
        degrees[entry["name"]] = entry["degree"] or network_theory.network_degree(run)
        assert entry["lr_stability"] == 0.5
    assert degrees == {"CNN panel (max pool)": 5, "WRN-16-4 (no BN)": "euler"}
    with pytest.raises(ValueError, match="not homogeneous"):
        network_theory.network_degree(cnn_theory.network_config(
            cfg["networks"][1]["model"], seed=0, lr=0.1, lam=0.1, steps=10))


def test_fig1_must_holds_read_their_claims_from_the_summary(tiny_all):
    """The AutoL2 and speed-up lines carry the claims the run decided (crossed bootstrap, seed
    bootstrap), whatever their verdict; the lam_opt line is decided from the stored optimum
    and per-seed predictions: an optimum at the grid's edge is a TIE."""
    import copy

    from l2theory.figures import fig1

    out, _ = tiny_all
    base = json.loads((out / "fig1" / "fig1.json").read_text())
    for verdict, ci in (("PASS", [0.002, 0.006]), ("TIE", [-0.001, 0.002]),
                        ("FAIL", [-0.006, -0.002])):
        summary = copy.deepcopy(base)
        comp = summary["results"]["comparison"]
        comp["difference"]["claim"] = ex.Claim(verdict, sum(ci) / 2, tuple(ci), 3, 0.95,
                                               "bootstrap").to_json()
        lines, claims = fig1.report(summary)
        assert claims[0].verdict == verdict and claims[0].ci == tuple(ci)
        assert claims[0].n == 3 and "test images" in claims[0].detail
    summary = copy.deepcopy(base)
    opt = summary["results"]["lam_opt"]["optimum"]
    opt.update(at_edge=True, window=None)
    _, claims = fig1.report(summary)
    assert claims[-1].verdict == "TIE" and claims[-1].note == "optimum at the grid edge"
    text = "\n".join(lines)
    assert "Metric: the loss, stated before the run and kept" in text
    assert "`val_loss`" in text and "paired by seed" in text


def test_make_all_runs_the_figures_that_have_a_preset(tmp_path):
    """``--preset gpu``: fig1 has it; a figure without it is reported as not run."""
    assert "gpu" in make_all.presets() and make_all.presets()[:2] == ("quick", "paper")
    report = make_all.run_all("gpu", tmp_path, only=["budget"], tiny=True)
    text = report.read_text()
    assert "### budget: not run" in text and "no 'gpu' preset" in text


def test_fig1_gpu_preset_is_offered_and_detected_by_gpu_check():
    """gpu_check.sh runs ``fig1 --preset gpu`` when ``--help`` lists it (its regex)."""
    import re

    from l2theory.figures import fig1

    help_text = subprocess.run([sys.executable, "-m", "l2theory.figures.fig1", "--help"],
                               capture_output=True, text=True, timeout=120).stdout
    assert re.search(r"--preset \{[^}]*\bgpu\b", help_text), help_text
    assert "gpu" in fig1.CONFIGS and "tiny" not in _common.get_config(fig1.CONFIGS, "gpu")
    tiny = _common.get_config(fig1.CONFIGS, "gpu", fig1.TINY, use_tiny=True)
    assert tiny["tiny"] and tiny["model"]["model"] == "wrn-10-1-autol2"  # own tiny, same recipe
    assert tiny["model"]["mixup"] and tiny["model"]["augment"] and tiny["model"]["momentum"] == 0.9
    assert tiny["model"]["batch_size"] // tiny["model"]["bn_group_size"] == 8  # 8 "devices"


def test_fig1_presets_are_the_authors_recipe_converted():
    """The paper and gpu presets hold the authors' run converted by from_autol2_flags (k = 10):
    lr 0.2 -> 0.02, L2 -> 20 L2; their -bs 128 on 8 TPU cores = a batch of 1024 in BatchNorm
    groups of 128, 48 steps per epoch, 200 epochs; their WRN; their initialization key; AutoL2
    from L2 = 0.1 with delay 0.1 every 10 steps; (c) at L2 = 1e-4; the step schedule x0.2 at
    30/60/90%; the gpu preset's fixed L2 list and its estimate within 8 minutes on one H200."""
    from l2theory import train
    from l2theory.figures import fig1

    paper = _common.get_config(fig1.CONFIGS, "paper")
    lr, lam = train.from_autol2_flags(0.2, 1e-4, 10)
    assert paper["lr"] == lr == 0.02 and paper["lams"] == [lam] == [2e-3]
    assert paper["autol2_start"] == train.from_autol2_flags(0.2, 0.1, 10)[1] == 2.0
    assert paper["budget"] == 200 * 48 and paper["lam_large"] == 0.2
    assert paper["n_train"] == 50000 and not paper["n_val"]  # their run: every image trained on
    assert paper["scaled_natural_time"] == pytest.approx(1.92)  # 0.1 / L2 epochs of 48 steps
    cfgs = fig1.train_configs(paper)
    step = cfgs["step"]
    assert step.setting("lr_decay_at") == (0.3, 0.6, 0.9)
    assert step.setting("lr_decay_factor") == 0.2
    for c in cfgs.values():
        assert (c.momentum, c.batch_size, c.bn_group_size, c.augment, c.mixup,
                c.setting("mixup_alpha"), c.init_seed, c.model, c.eval_batch_size) == (
            0.9, 1024, 128, True, True, 1.0, 0, "wrn-28-10-autol2", 1250)
    assert cfgs["autol2"].lam_schedule == "autol2" and cfgs["autol2"].lr_schedule == "constant"
    assert (cfgs["autol2"].autol2_delay, cfgs["autol2"].autol2_measure_every) == (0.1, 10)
    assert cfgs["constant"].lr_schedule == "constant"
    est = fig1.cost_estimate(paper)
    assert est["step_seconds"] == pytest.approx(12.2e-3 * 8) and 5 < est["hours"] < 20
    gpu = _common.get_config(fig1.CONFIGS, "gpu")
    assert len(gpu["seeds"]) >= 3 and gpu["model"]["model"] == "wrn-16-4-autol2"
    assert gpu["lams"] == pytest.approx([0.0] + [20 * l2 for l2 in (1e-5, 1e-4, 3e-4, 1e-3,
                                                                    3e-3)])
    assert gpu["n_val"] and (gpu["model"]["batch_size"], gpu["model"]["bn_group_size"]) == (
        1024, 128)
    assert fig1.cost_estimate(gpu)["seconds"] <= 8 * 60
    cpu = _common.get_config(fig1.CONFIGS, "cpu")
    assert len(cpu["seeds"]) >= 3 and cpu["model"]["model"].endswith("-autol2")
    assert (cpu["autol2_start"], cpu["autol2_model"]) == (2.0, fig1._AUTOL2_RECIPE)
    assert "stand-in" in _common.get_config(fig1.CONFIGS, "quick")["title"]


def test_fig1_plan_prints_every_run_of_the_authors_run_without_data(tmp_path, capsys):
    """``l2theory figures --preset paper --only fig1 --plan``: one JSON line per run (arm,
    model and options, batch 1024 in BatchNorm groups of 128, 48 steps per epoch, lr, lam, its
    schedule and AutoL2's settings, seed, init seed) and the cost estimate; no CIFAR-10 needed
    (L2THEORY_DATA points at an empty folder), nothing trained, nothing written."""
    env = {**os.environ, "L2THEORY_DATA": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "l2theory", "figures", "--preset", "paper",
                           "--only", "fig1", "--plan", "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(ln) for ln in proc.stdout.splitlines()]
    runs, cost = lines[:-1], lines[-1]
    seeds = 2
    assert len(runs) == seeds * (1 + 1 + 1 + 8 + 6) == cost["runs"]
    assert all((r["batch_size"], r["bn_group_size"], r["steps_per_epoch"], r["lr"],
                r["init_seed"], r["model"]["family"]) == (1024, 128, 48, 0.02, 0,
                                                           "wrn-28-10-autol2") for r in runs)
    auto = [r for r in runs if r["arm"] == "autol2"]
    assert [(r["lam"], r["steps"], r["lam_schedule"], r["autol2"]) for r in auto] == [
        (2.0, 9600, "autol2", {"factor": 10.0, "measure_every": 10, "delay": 0.1})] * seeds
    assert {r["lam"] for r in runs if r["arm"] == "constant"} == {2e-3}
    scaled = {r["lam"]: r["steps"] for r in runs if r["arm"] == "scaled"}
    assert scaled[2e-3] == 48000  # 0.1 / L2 = 1000 epochs of 48 steps at their L2 = 1e-4
    assert cost["cost_estimate"]["hours"] > 5 and not (tmp_path / "out").exists()
    bad = subprocess.run([sys.executable, "-m", "l2theory", "figures", "--only", "theory",
                          "--plan"], capture_output=True, text=True, timeout=300, env=env)
    assert bad.returncode == 2 and "theory has no plan; figures with one: fig1" in bad.stderr


def test_figure_module_main_is_the_command_for_that_figure(tmp_path):
    """``python -m l2theory.figures.collapse --out DIR``: the figure in DIR/collapse/ and its
    report in DIR/REPORT.md, as ``l2theory figures --only collapse`` writes them."""
    from l2theory.figures import collapse

    assert collapse.main(["--tiny", "--out", str(tmp_path)]) == 0
    assert {p.name for p in (tmp_path / "collapse").iterdir()} >= set(EXPECTED["collapse"])
    text = (tmp_path / "REPORT.md").read_text()
    assert "### t*-collapse" in text and "### Theory" not in text
    assert sum(ln.startswith(MUST_HOLD) for ln in text.splitlines()) == 2


def test_paper_figures_scripts_are_thin_entry_points(tmp_path):
    """``python paper_figures/<name>.py`` runs the packaged figure (no sys.path edits)."""
    for name in [*EXPECTED, "make_all"]:
        text = (REPO / "paper_figures" / f"{name}.py").read_text()
        assert f"from l2theory.figures import {name}" in text and "sys.path" not in text
    proc = subprocess.run([sys.executable, str(REPO / "paper_figures" / "theory.py"), "--tiny",
                           "--out", "figs"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert {p.name for p in (tmp_path / "figs" / "theory").iterdir()} >= set(EXPECTED["theory"])
    assert (tmp_path / "figs" / "REPORT.md").is_file()


def _entry_points(name="theory"):
    """The figures command's three entry points, as functions of argv."""
    module = importlib.import_module(f"l2theory.figures.{name}")
    return {"l2theory figures": lambda argv: cli.main(["figures", *argv]),
            "make_all": make_all.main, name: module.main}


def _options(main) -> set[str]:
    """The long options that ``main(["--help"])`` lists."""
    import contextlib
    import io

    text = io.StringIO()
    with contextlib.redirect_stdout(text), contextlib.suppress(SystemExit):
        main(["--help"])
    listed = re.split(r"\n(?:options|optional arguments):\n", text.getvalue())[-1]
    return set(re.findall(r"(?m)^ {2}(?:-\w, )?(--[a-z-]+)", listed))


def test_the_three_entry_points_take_the_same_options():
    """``l2theory figures``, ``python -m l2theory.figures.make_all`` and every figure's module:
    one set of options (a figure offers its own presets and itself for --only)."""
    seen = {}
    for name in FIGURES:
        seen.update({entry: _options(main) for entry, main in _entry_points(name).items()})
    assert len(seen) == 2 + len(FIGURES)
    expected = {"--help", "--preset", "--out", "--only", "--report-only", "--no-progress",
                "--tiny", "--dataset", "--panels", "--finite", "--debug", "--plan"}
    assert all(options == expected for options in seen.values()), seen
    help_fig1 = subprocess.run([sys.executable, "-m", "l2theory.figures.fig1", "--help"],
                               capture_output=True, text=True, timeout=120).stdout
    assert "--preset {quick,paper,cpu,gpu}" in help_fig1  # fig1's own presets


@pytest.mark.parametrize("argv, message", [
    (["--panels", "fc"], "--panels=fc: theory has no panels; drop --panels"),
    (["--finite", "somewhere"], "--finite=somewhere: theory draws no finite nets beside a theory"),
    (["--report-only", "--tiny"], "--report-only: --tiny would have no effect"),
])
def test_bad_options_fail_the_same_way_before_any_work(tmp_path, capsys, argv, message):
    for i, (entry, main) in enumerate(_entry_points("theory").items()):
        out = tmp_path / str(i)
        only = ["--only", "theory"] if entry != "theory" else []
        assert main([*argv, *only, "--out", str(out)]) == 2, entry
        captured = capsys.readouterr()
        assert message in captured.err and "[1/1]" not in captured.out, (entry, captured)
        assert not out.exists()  # nothing done, not even the folder


def test_bad_out_fails_before_any_work(tmp_path, capsys):
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    for entry, main in _entry_points("theory").items():
        assert main(["--tiny", "--only", "theory", "--out", str(a_file / "figs")]) == 2, entry
        captured = capsys.readouterr()
        assert f"--out='{a_file / 'figs'}': cannot create this folder" in captured.err
        assert "[1/1]" not in captured.out, entry


# lazy_limit's paper preset is a larger run on the shipped subset: it needs nothing missing
@pytest.mark.parametrize("name", [n for n in EXPECTED if n != "lazy_limit"])
def test_paper_preset_errors_clearly_without_datasets(tmp_path, monkeypatch, name, capsys):
    import importlib

    monkeypatch.setenv("L2THEORY_DATA", str(tmp_path / "empty"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    mod = importlib.import_module(f"l2theory.figures.{name}")
    config = _common.get_config(mod.CONFIGS, "paper")
    with pytest.raises(_common.DatasetMissing) as info:
        mod.run(config, str(tmp_path / "out" / "nested"))  # a str, a folder not there yet
    # run() creates its output folder before any work, so a bad --out costs nothing computed
    assert (tmp_path / "out" / "nested").is_dir()
    msg = str(info.value)
    dataset = PAPER_DATASET.get(name, "mnist")
    if name == "fig1":  # the gpu preset needs the full Fashion-MNIST
        with pytest.raises(_common.DatasetMissing, match="'fashion_mnist'"):
            mod.run(_common.get_config(mod.CONFIGS, "gpu"), tmp_path / "gpu")
    assert repr(dataset) in msg and "L2THEORY_DATA" in msg and str(tmp_path / "empty") in msg
    assert "How to get it" in msg
    # the script's main turns it into exit status 2 with the message on stderr
    assert mod.main(["--preset", "paper", "--out", str(tmp_path / "out2")]) == 2
    assert "not on disk" in capsys.readouterr().err


@pytest.mark.parametrize("name", list(EXPECTED))
def test_every_preset_model_is_a_valid_train_config(name):
    """The paper presets cannot run here (GPU, datasets): at least their models must build, so a
    typo in a preset fails in CI and not an hour into a GPU session."""
    import importlib

    mod = importlib.import_module(f"l2theory.figures.{name}")
    configs = [*getattr(mod, "CONFIGS", {}).values(), getattr(mod, "TINY", None) or {}]
    models = []
    for config in configs:
        for part in [config, *config.get("panels", [])]:
            if "model" in part:
                models.append(part["model"])
            models += [net["model"] for net in part.get("networks") or []]
    if name in ("collapse", "budget", "fig1", "hessian", "theory_cnn", "bn_equilibrium"):
        assert models, name
    from l2theory import x64

    for model in models:
        with x64():  # float64 models (the hessian figure runs them in JAX's x64 mode)
            cfg = _common.train_config(model)  # raises naming the bad field
            assert cfg.build_model(10) is not None
    if name == "fig1":  # every arm of every preset (and each tiny)
        for preset in mod.CONFIGS:
            for tiny in (False, True):
                for cfg in mod.train_configs(_common.get_config(mod.CONFIGS, preset, mod.TINY,
                                                                tiny)).values():
                    assert cfg.build_model(10) is not None


def test_collapse_chunks_by_backend():
    """The paper FC panel: one (lam, lr) per chunk on a CPU, all 30 lanes in one program
    elsewhere (a GPU)."""
    from l2theory.figures import collapse

    fc = next(p for p in collapse.CONFIGS["paper"]["panels"] if p["key"] == "fc")
    assert collapse.chunk_size(fc, "cpu") == 3 and collapse.chunk_size(fc, "gpu") == 30
    quick = collapse.CONFIGS["quick"]["panels"]
    assert [collapse.chunk_size(p, "gpu") for p in quick] == [50, 2]
    assert collapse.chunk_size(quick[0], "cpu") == 5


def test_unknown_figure_name():
    with pytest.raises(ValueError, match="unknown figure"):
        make_all.run_all("quick", "unused", only=["nope"], tiny=True)


def test_report_only_rewrites_the_report_from_the_json_summaries(tiny_all, capsys):
    """--report-only (any entry point) writes the same REPORT.md from the summaries, computing
    nothing; a folder without summaries is an error naming it."""
    out, report = tiny_all
    before = report.read_text()
    strip = lambda t: [ln for ln in t.splitlines()  # noqa: E731
                       if not ln.startswith(("Machine:", "Total runtime:"))]
    for main in (make_all.main, lambda argv: cli.main(["figures", *argv])):
        report.unlink()
        assert main(["--report-only", "--out", str(out)]) == 0
        assert strip(report.read_text()) == strip(before)
    assert "[1/" not in capsys.readouterr().out  # no figure ran
    assert make_all.main(["--report-only", "--out", str(out / "theory")]) == 2
    assert "no figure summaries" in capsys.readouterr().err
    from l2theory.figures import theory  # one figure's report from its summary alone

    assert theory.main(["--report-only", "--out", str(out)]) == 0
    assert "### Theory (infinite width)" in report.read_text()
    assert "### Budgets" not in report.read_text()
    assert make_all.main(["--report-only", "--out", str(out)]) == 0  # all of them again


def test_infinite_width_reads_the_recorded_finite_nets():
    """The collapse figure's recorded paper-preset FC lanes (not retrained): per (lam, lr) the
    mean and standard error over the 3 seeds of lam lr t* and of the test accuracy there."""
    from l2theory.figures import infinite_width

    finite = infinite_width.finite_networks(RECORDED_COLLAPSE)
    assert finite is not None and len(finite["lanes"]) == 30 and finite["curves"] is None
    peaks = infinite_width.finite_peaks(finite["lanes"])
    assert [(p["lam"], p["lr"]) for p in peaks[:2]] == [(1.25e-4, 0.25), (1.25e-4, 1.0)]
    first = peaks[0]  # lanes 0-2 of the recorded report: 0.49041, 0.65889, 0.50087
    c = np.array([0.49041231, 0.65889248, 0.50086687])
    assert first["n_seeds"] == 3 and abs(first["lam_lr_t_star"] - c.mean()) < 1e-6
    assert abs(first["lam_lr_t_star_se"] - c.std(ddof=1) / np.sqrt(3)) < 1e-6
    assert abs(first["peak_test_acc"] - np.mean([0.83022988, 0.82884163, 0.83054802])) < 1e-6
    with pytest.raises(ValueError, match="finite='no/such/folder': no collapse.json"):
        infinite_width.finite_networks("no/such/folder")
    assert infinite_width.finite_networks("none") is None
    assert infinite_width.finite_networks(None) is None


def test_infinite_width_draws_the_finite_nets_of_an_explicit_folder(tmp_path, capsys):
    """--finite DIR: the nets of that collapse folder beside the theory (by lam), in the CSV,
    the report and its caption; a folder that is no collapse output fails before any work."""
    from l2theory.figures import infinite_width

    bad = tmp_path / "bad"
    assert infinite_width.main(["--tiny", "--finite", str(tmp_path), "--out", str(bad)]) == 2
    assert "no collapse.json" in capsys.readouterr().err
    assert not (bad / "infinite_width" / "infinite_width.png").exists()
    out = tmp_path / "figs"
    assert infinite_width.main(["--tiny", "--finite", str(RECORDED_COLLAPSE), "--out",
                                str(out)]) == 0
    peaks = (out / "infinite_width" / "infinite_width_peaks.csv").read_text().splitlines()
    assert sum(ln.startswith("finite,") for ln in peaks) == 10  # 5 lams x 2 lrs
    text = (out / "REPORT.md").read_text()
    assert f"Markers: the finite nets of the collapse FC panel in {RECORDED_COLLAPSE}" in text
    row = next(ln for ln in text.splitlines() if ln.startswith("| 0.001 |"))
    assert row.count("lr 0.25: ") == 2 and row.count("lr 1: ") == 2  # lam 1e-3: both lrs


def _infinite_width_summary(c, converged=None):
    lams = [1e-4 * 4 ** i for i in range(len(c))]
    converged = converged or [True] * len(c)
    per_lam = [{"lam": lam, "lam_lr_t_star": v, "peak_test_acc": 0.8, "iterations": 12,
                "basis_size": 108, "error_estimate": 5e-5 if ok else 3e-4, "tol": 1e-4,
                "converged": ok, "test_products": 1}
               for lam, v, ok in zip(lams, c, converged)]
    from l2theory.figures import infinite_width

    results = {"per_lam": per_lam, "spread": infinite_width.spread(per_lam), "n_train": 2000,
               "n_test": 1000, "dataset": "fashion_mnist_subset", "kernel_gb": 0.016,
               "kernel_s": 1.0, "test_kernel_s": 0.5, "solver_s": 2.0, "peak_rss_gb": 0.5,
               "finite": None}
    return {"results": results, "config": {**infinite_width.CONFIGS["quick"]}}


def test_infinite_width_must_hold_lines():
    """Spread of the theory's lam lr t* within 1.5 over a decade of lam: PASS; beyond: FAIL;
    over less than a decade: n/a. A solve above its tol fails the solver line."""
    from l2theory.figures import infinite_width

    summary = _infinite_width_summary([0.2, 0.25, 0.28])
    lines, claims = infinite_width.report(summary)
    assert [c.verdict for c in claims] == ["PASS", "PASS"]
    assert claims[0].estimate == pytest.approx(1.4) and claims[0].method == "exact"
    assert claims[0].detail == "over x16 lam; per lam 0.2, 0.25, 0.28"
    assert claims[1].kind == "sanity"  # the solver's tolerance: not evidence
    assert "Theory only" in lines[1]  # the caption
    _, claims = infinite_width.report(_infinite_width_summary([0.2, 0.25, 0.31]))
    assert claims[0].verdict == "FAIL"
    _, claims = infinite_width.report(_infinite_width_summary([0.2, 0.25], (True, False)))
    assert [c.verdict for c in claims] == ["n/a", "FAIL"]
    assert claims[1].detail == "largest estimate / tol = 3"


def test_infinite_width_replot_redraws_from_the_records(tiny_all):
    """``replot`` redraws the PNG from the run's JSON and CSV, computing nothing."""
    from l2theory.figures import infinite_width

    out, _ = tiny_all
    png = out / "infinite_width" / "infinite_width.png"
    png.unlink()
    assert str(png) in infinite_width.replot(png.parent)
    assert png.is_file() and png.stat().st_size > 0
