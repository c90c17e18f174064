"""Claims decided by confidence intervals (``experiments.claim_*``), the optimum of a grid, and
the validation split: against scipy's t-tests, by coverage simulations, and on hand-made cases
where the answer is known (a PASS must be possible, and so must a FAIL)."""
import math

import numpy as np
import pytest
from scipy import stats

from l2theory import experiments as ex


# ------------------------------------------------------------------------- Student-t, Welch


def test_claim_greater_paired_is_scipys_ttest_rel_interval():
    rng = np.random.default_rng(0)
    for n, level in ((3, 0.95), (8, 0.95), (5, 0.9)):
        a, b = rng.normal(1.0, 1.0, n), rng.normal(0.5, 1.0, n)
        c = ex.claim_greater(a, b, level=level)
        ci = stats.ttest_rel(a, b).confidence_interval(level)
        assert c.ci == pytest.approx((ci.low, ci.high), rel=1e-12)
        assert c.estimate == pytest.approx(np.mean(a - b)) and c.n == n and c.method == "t"
        half = stats.t.ppf((1 + level) / 2, n - 1) * np.std(a - b, ddof=1) / math.sqrt(n)
        assert c.ci[1] - c.estimate == pytest.approx(half)


def test_claim_greater_unpaired_is_welchs_interval():
    rng = np.random.default_rng(1)
    a, b = rng.normal(1.0, 1.0, 6), rng.normal(0.0, 3.0, 9)
    c = ex.claim_greater(a, b, paired=False)
    ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert c.ci == pytest.approx((ci.low, ci.high), rel=1e-12)
    assert c.estimate == pytest.approx(a.mean() - b.mean()) and c.n == 15
    assert c.method == "welch"


def test_claim_within_is_the_t_interval_and_log_reports_ratios():
    x = np.array([0.9, 1.1, 1.05, 0.98, 1.02])
    c = ex.claim_within(x, 0.8, 1.2)
    half = stats.t.ppf(0.975, 4) * x.std(ddof=1) / math.sqrt(5)
    assert c.ci == pytest.approx((x.mean() - half, x.mean() + half))
    assert c.verdict == "PASS"
    r = np.array([1.2, 1.5, 1.3, 1.4])
    c = ex.claim_within(r, 0.5, 2.0, log=True)
    lo = np.exp(np.log(r).mean() - stats.t.ppf(0.975, 3) * np.log(r).std(ddof=1) / 2)
    assert c.estimate == pytest.approx(np.exp(np.log(r).mean())) and c.ci[0] == pytest.approx(lo)
    with pytest.raises(ValueError, match="samples"):
        ex.claim_within([1.0, -1.0], 0.5, 2.0, log=True)
    with pytest.raises(ValueError, match="high"):
        ex.claim_within([1.0, 2.0], 2.0, 1.0)


def test_verdicts_pass_fail_tie_and_na():
    assert ex.claim_greater([0.75, 0.76, 0.74], [0.70, 0.70, 0.71]).verdict == "PASS"
    assert ex.claim_greater([0.70, 0.70, 0.71], [0.75, 0.76, 0.74]).verdict == "FAIL"
    assert ex.claim_greater([0.71, 0.76, 0.70], [0.72, 0.70, 0.73]).verdict == "TIE"
    assert ex.claim_within([1.9, 2.1, 2.0], 0.5, 1.5).verdict == "FAIL"  # wholly outside
    assert ex.claim_within([1.2, 1.7, 1.4], 0.5, 1.5).verdict == "TIE"   # across the edge
    # fewer than two samples: no noise estimate, so no interval and nothing to judge
    one = ex.claim_greater([0.8], [0.7])
    assert one.verdict == "n/a" and one.ci is None and one.estimate == pytest.approx(0.1)
    assert ex.claim_greater([0.8, None], [0.7, 0.6]).verdict == "n/a"  # one pair left
    assert ex.claim_within([], 0, 1).verdict == "n/a"
    assert ex.claim_greater([1.0, 2.0], [0.0], paired=False).verdict == "n/a"
    assert ex.claim_exact(1.3, 1.0, 1.5).verdict == "PASS"
    assert ex.claim_exact(1.6, 1.0, 1.5).verdict == "FAIL"
    with pytest.raises(ValueError, match="b"):
        ex.claim_greater([1.0, 2.0], [1.0])


def test_t_interval_covers_the_truth_at_its_level_and_can_pass_and_fail():
    """Over many draws a 95% interval covers the true mean difference ~95% of the time; with a
    real effect the claim passes, with the opposite effect it fails, with none it rarely
    passes (about 2.5%)."""
    rng = np.random.default_rng(2)
    n_sim, n = 3000, 5
    cover = pass_null = 0
    verdicts = {"PASS": 0, "FAIL": 0}
    for _ in range(n_sim):
        a, b = rng.normal(0.3, 1.0, n), rng.normal(0.0, 1.0, n)
        c = ex.claim_greater(a, b)
        cover += c.ci[0] <= 0.3 <= c.ci[1]
        pass_null += ex.claim_greater(rng.normal(0, 1, n), rng.normal(0, 1, n)).verdict == "PASS"
    for sign in (1, -1):
        c = ex.claim_greater(rng.normal(sign * 3.0, 0.5, 8), rng.normal(0, 0.5, 8))
        verdicts[c.verdict] = verdicts.get(c.verdict, 0) + 1
    assert 0.935 <= cover / n_sim <= 0.965
    assert pass_null / n_sim <= 0.045
    assert verdicts == {"PASS": 1, "FAIL": 1}
    # Welch: covers too, with unequal variances and sizes
    cover = 0
    for _ in range(1000):
        a, b = rng.normal(1.0, 1.0, 4), rng.normal(0.0, 3.0, 7)
        c = ex.claim_greater(a, b, paired=False)
        cover += c.ci[0] <= 1.0 <= c.ci[1]
    assert 0.93 <= cover / 1000 <= 0.975


# --------------------------------------------------------------- seeds x test images (crossed)


def _scores(rng, n_seeds, n_images, p, flip):
    """Per-image correctness of two arms: arm b right with probability ``p`` per image; arm a
    flips a random ``flip`` fraction of images each seed (as two different training runs do)."""
    easy = rng.random(n_images) < p
    b = np.tile(easy, (n_seeds, 1)).astype(float)
    a = b.copy()
    for s in range(n_seeds):
        idx = rng.choice(n_images, int(flip * n_images), replace=False)
        a[s, idx] = 1 - a[s, idx]
    return a, b


def test_crossed_bootstrap_a_few_images_are_no_win_a_real_difference_is():
    rng = np.random.default_rng(3)
    a, b = _scores(rng, 8, 1000, 0.73, 0.1)
    # make arm a exactly 4 images better than b in every seed: swap wrong->right on 4 more
    for s in range(8):
        diff = int(a[s].sum() - b[s].sum())
        wrong = np.flatnonzero((a[s] == 0) & (b[s] == 0))[: max(0, 4 - diff)]
        a[s, wrong] = 1
        right = np.flatnonzero((a[s] == 1) & (b[s] == 1))[: max(0, int(a[s].sum() - b[s].sum()) - 4)]
        a[s, right] = 0
    assert np.allclose(a.mean(1) - b.mean(1), 0.004)
    c = ex.claim_greater_crossed(a, b, n_boot=500)
    assert c.estimate == pytest.approx(0.004) and c.verdict == "TIE" and c.n == 8
    # the seeds alone (the test set held fixed) would call it a certain win: no spread at all
    assert ex.claim_greater(a.mean(1), b.mean(1)).verdict == "PASS"
    # 5 points of accuracy on 1000 images, in every seed: a win
    a2 = b.copy()
    for s in range(8):
        wrong = np.flatnonzero(b[s] == 0)
        a2[s, rng.choice(wrong, 50, replace=False)] = 1
    assert ex.claim_greater_crossed(a2, b, n_boot=500).verdict == "PASS"
    assert ex.claim_greater_crossed(b, a2, n_boot=500).verdict == "FAIL"


def test_crossed_bootstrap_covers_a_difference_with_seed_and_image_noise():
    """Scores with a seed effect and an image effect on the difference (fresh seeds and test
    images each draw): the interval covers the population difference at about its level."""
    rng = np.random.default_rng(4)
    delta, cover, n_sim = 0.02, 0, 150
    for _ in range(n_sim):
        seed_eff = rng.normal(0, 0.01, (6, 1))
        image_eff = rng.normal(0, 0.3, (1, 400))
        b = rng.normal(0.7, 0.2, (6, 400))
        a = b + delta + seed_eff + image_eff + rng.normal(0, 0.2, (6, 400))
        c = ex.claim_greater_crossed(a, b, n_boot=300, rng_seed=int(rng.integers(1 << 30)))
        cover += c.ci[0] <= delta <= c.ci[1]
    assert 0.90 <= cover / n_sim <= 1.0


def test_bootstrap_claim_of_a_ratio_of_means():
    ref = np.array([400.0, 600.0, 500.0, 550.0])
    new = ref / 2
    c = ex.bootstrap_claim(lambda i: ref[i].mean() / new[i].mean(), 4, 1.0, math.inf)
    assert c.estimate == pytest.approx(2.0) and c.ci == pytest.approx((2.0, 2.0))
    assert c.verdict == "PASS" and c.method == "bootstrap"
    assert ex.bootstrap_claim(lambda i: 1.0, 1, 0, 2).verdict == "n/a"


# ------------------------------------------------------------------------- grid optimum


def test_grid_optimum_recovers_a_parabola_and_flags_an_edge():
    lams = [1e-4, 2e-4, 4e-4, 8e-4, 1.6e-3]
    x0 = np.log(5e-4)
    curve = lambda s: [0.8 - 0.01 * (np.log(m) - x0 - s) ** 2 for m in lams]  # noqa: E731
    per_seed = np.array([curve(s) for s in (-0.1, 0.0, 0.1)]).T.tolist()
    opt = ex.grid_optimum(lams, per_seed, mode="max")
    assert not opt["at_edge"] and opt["window"] == [2e-4, 4e-4, 8e-4]
    assert opt["lam_opt"] == pytest.approx(5e-4, rel=1e-9)  # exact for a parabola in ln lam
    assert opt["lam_opt_per_seed"] == pytest.approx([5e-4 * np.exp(s) for s in (-0.1, 0, 0.1)])
    c, note = ex.lam_opt_claim(6e-4, opt)
    assert note is None and c.verdict == "PASS" and c.n == 3
    assert ex.lam_opt_claim(5e-3, opt)[0].verdict == "FAIL"  # x10: wholly outside x2
    # a minimum (loss), and a best at the grid's edge: a TIE, whatever the prediction
    loss = [[1.0, 1.1], [0.9, 0.95], [0.8, 0.85], [0.7, 0.72], [0.6, 0.61]]
    edge = ex.grid_optimum(lams, loss, mode="min")
    assert edge["at_edge"] and edge["lam_opt"] == 1.6e-3
    c, note = ex.lam_opt_claim([1.6e-3, 1.6e-3], edge)
    assert c.verdict == "TIE" and note == "optimum at the grid edge"


def test_leave_one_seed_out_chooses_without_the_seed():
    from l2theory._experiments.autol2 import leave_one_seed_out

    # seed 0 alone prefers lam 2; the others prefer lam 1: seed 0 is scored at lam 1
    by_seed = [[0.5, 0.8, 0.8], [0.9, 0.7, 0.7]]
    assert leave_one_seed_out([1.0, 2.0], by_seed, "max") == [1.0, 2.0, 2.0]
    assert leave_one_seed_out([1.0, 2.0], [[0.5], [0.9]], "min") == [1.0]


# ------------------------------------------------------------------------- the report's claim


def test_report_claim_carries_the_statistics_and_sanity_checks_stand_apart(tmp_path):
    from l2theory.figures import _report

    c = _report.Claim.of("AutoL2 wins", ex.claim_greater([0.75, 0.76, 0.74], [0.7, 0.7, 0.71]),
                         "3 seeds", fmt=".3f")
    assert c.line().startswith("- **PASS** AutoL2 wins: estimate 0.047, 95% CI [")
    assert "n = 3; 3 seeds" in c.line()
    edge = _report.Claim.of("lam_opt", ex.claim_within([1.0, 1.1], 0.5, 2), "x",
                            verdict="TIE", note="optimum at the grid edge")
    assert edge.line().startswith("- **TIE (optimum at the grid edge)** lam_opt: estimate")
    with pytest.raises(ValueError, match="Claim.of"):
        _report.Claim("a bare claim", "PASS", "no interval")
    flat = _report.Claim.sanity("flat direction at lam", "PASS", "2e-16")
    path = _report.write_report(tmp_path, "quick", {"x": _report.Report([], [c, flat])},
                                {"x": {"runtime_s": 1.0, "files": []}}, {}, 1.0)
    text = path.read_text()
    must = text.split("## Must hold")[1].split("## Sanity checks")[0]
    sanity = text.split("## Sanity checks (hold by construction; not evidence)")[1]
    assert "AutoL2 wins" in must and "flat direction" not in must
    assert "flat direction at lam" in sanity.split("## Numbers")[0]


# ------------------------------------------------------------------------- validation split


def test_validation_split_is_never_trained_on():
    """Training with a held-out split gives the same rows as training on the remaining
    examples alone, and its val_* columns are the metrics of the held-out examples (computed
    from the recorded outputs)."""
    from l2theory import data, train

    ds_small = data.load("fashion_mnist_subset", n_train=150, n_test=100)
    ds = data.standardize(data.hold_out(ds_small, 50, seed=1))
    assert ds.n_train == ds_small.n_train - 50 and ds.n_val == 50
    x_all = ds_small.x_train.reshape(ds_small.n_train, -1)
    raw = data.hold_out(ds_small, 50, seed=1)
    held = {x.tobytes() for x in raw.x_val.reshape(50, -1)}
    assert not held & {x.tobytes() for x in raw.x_train.reshape(raw.n_train, -1)}
    assert held <= {x.tobytes() for x in x_all}
    cfg = train.TrainConfig(model="fc", depth=2, width=16, loss="mse", lr=1.0, steps=20,
                            eval_every=10, batch_size=25)
    with_val = train.sweep(cfg, ds, lam=[1e-3], lr=[1.0], seeds=[0], progress=False,
                           record_outputs=True)
    alone = train.sweep(cfg, data.Dataset(ds.x_train, ds.y_train, ds.x_test, ds.y_test),
                        lam=[1e-3], lr=[1.0], seeds=[0], progress=False)
    for col in ("train_loss", "test_loss", "test_acc", "param_norm_sq"):
        np.testing.assert_array_equal(with_val[col], alone[col])
    assert "val_acc" not in alone
    out = with_val["outputs"]
    acc = (out["val"][0].argmax(-1) == ds.y_val).mean()
    assert with_val["val_acc"][-1] == pytest.approx(acc)
    assert with_val["test_acc"][-1] == pytest.approx((out["test"][0].argmax(-1)
                                                      == ds.y_test).mean())
    with pytest.raises(ValueError, match="n_val"):
        data.hold_out(ds_small, ds_small.n_train)
    with pytest.raises(ValueError, match="already has"):
        data.hold_out(raw, 10)
