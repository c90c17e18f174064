"""AutoL2 and the rest of the authors' recipe (google/autol2, ``jax_wideresnet_exps.py``): the rule
against a literal port of their loop, the in-graph rule against the pure one, real runs replayed
from their own records (solo, lanes, chunks, resume), their flags, their lr schedule, mixup."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from l2theory import data, train
from l2theory._practice.train import schedules
from l2theory._practice.train.step import per_sample_loss

# --------------------------------------------------------------------- the authors' loop


def authors_loop(steps, train_lm, train_acc, *, L2, delay=0.1, L2dec=10.0):  # noqa: N803
    """The AutoL2 lines of google/autol2's training loop, ported literally (their names, their
    units: L2, losses averaged over classes). Measurements come from the lists instead of
    ``evaluate``. Returns ``currL2`` after the decision at each measurement."""
    currL2 = L2  # noqa: N806
    idel0 = steps[0]  # i0
    train_lm_, train_accuracy, out = [], [], []
    for i, lm, a in zip(steps, train_lm, train_acc):
        train_lm_ += [lm]
        train_accuracy += [a]
        if i > delay / currL2 + idel0 and len(train_lm_) > 2 and (
                (minloss <= train_lm_[-1] and minloss <= train_lm_[-2])  # noqa: F821
                or (maxacc >= train_accuracy[-1] and maxacc >= train_accuracy[-2])):  # noqa: F821
            currL2 = currL2 / L2dec  # noqa: N806
            idel0 = i
        elif len(train_lm_) >= 2:
            try:
                maxacc = max(train_accuracy[-2], maxacc)  # noqa: F821
                minloss = min(train_lm_[-2], minloss)  # noqa: F821
            except NameError:  # their bare except: the first time, maxacc is unbound
                maxacc, minloss = train_accuracy[-2], train_lm_[-2]
        out.append(currL2)
    return np.array(out)


def _sequence(rng, n):
    """Measurements with ties and plateaus: a noisy decreasing loss rounded to 2 decimals, an
    accuracy on a grid of 1/16, and stretches where both repeat exactly."""
    t = np.arange(n)
    loss = np.round(2 * np.exp(-t / n * rng.uniform(0.5, 4)) + 0.05 * rng.normal(size=n), 2)
    acc = np.clip(np.round((0.9 - 0.8 * np.exp(-t / n * 3) + 0.05 * rng.normal(size=n)) * 16)
                  / 16, 0, 1)
    for j in np.flatnonzero(rng.random(n) < 0.25)[1:]:  # plateaus
        loss[j], acc[j] = loss[j - 1], acc[j - 1]
    return loss, acc


# (measure every, k, their L2, delay, L2dec): ties where their float64 delay/L2 is exact (L2 =
# 0.1, 0.05 give refractory periods of 1, 10, 100 and 2, 20, 200 steps), none elsewhere.
CASES = [(1, 10, 0.1, 0.1, 10.0), (10, 10, 0.05, 0.1, 10.0), (10, 10, 0.0123, 0.1, 10.0),
         (1, 3, 0.031, 0.37, 2.5), (10, 10, 0.01, 0.0, 10.0), (5, 7, 0.2, 1.3, 3.0)]


def _case_sequences(case, n=300, seed=0):
    every, k, l2, delay, dec = case
    rng = np.random.default_rng(seed + 17 * CASES.index(case))
    loss, acc = _sequence(rng, n)
    return np.arange(n) * every, loss, acc


@pytest.mark.parametrize("case", CASES)
def test_rule_equals_the_authors_loop(case):
    every, k, l2, delay, dec = case
    decays = 0
    for seed in range(4):
        steps, loss, acc = _case_sequences(case, seed=seed)
        theirs = 2 * k * authors_loop(steps.tolist(), (loss / k).tolist(), acc.tolist(), L2=l2,
                                      delay=delay, L2dec=dec)
        ours = train.autol2_rule(steps, loss, acc, lam0=2 * k * l2, num_classes=k, delay=delay,
                                 decay=dec)
        assert ours.dtype == np.float64
        np.testing.assert_allclose(ours, theirs, rtol=1e-13)
        # float32 measurements: float32 arithmetic, the same decisions
        ours32 = train.autol2_rule(steps, loss.astype(np.float32), acc.astype(np.float32),
                                   lam0=2 * k * l2, num_classes=k, delay=delay, decay=dec)
        theirs32 = authors_loop(steps.tolist(), (loss.astype(np.float32) / k).tolist(),
                                acc.astype(np.float32).tolist(), L2=l2, delay=delay, L2dec=dec)
        assert ours32.dtype == np.float32
        normal = 2 * k * theirs32 > 1e-30  # (float32 lam underflows after ~40 decays)
        np.testing.assert_array_equal((np.diff(ours32) < 0)[normal[1:]],
                                      (np.diff(theirs32) < 0)[normal[1:]])
        np.testing.assert_allclose(ours32[normal], 2 * k * theirs32[normal], rtol=1e-5)
        decays += int(np.sum(np.diff(ours) < 0))
    assert decays >= 4  # the sequences do exercise the rule


def test_rule_closed_form_on_a_plateau():
    """Constant measurements stall from the 3rd on: decays wait exactly for the refractory period
    ``2 k delay / lam`` = 1, 10, 100 steps (ties at those counts do not decay), measured from the
    last decay."""
    steps = np.arange(300)
    lam = train.autol2_rule(steps, np.ones(300), np.full(300, 0.5), lam0=2.0, num_classes=10)
    decay_steps = steps[1:][np.diff(lam) < 0].tolist()
    assert decay_steps == [2, 13, 114]  # 2 - 0 > 1, 13 - 2 > 10, 114 - 13 > 100
    assert decay_steps == steps[1:][np.diff(authors_loop(steps, np.ones(300) / 10,
                                                         np.full(300, 0.5), L2=0.1)) < 0].tolist()
    np.testing.assert_allclose(lam[-1], 2e-3, rtol=1e-14)
    # the second-to-last rule: a single bad measurement after a record never decays
    loss = [1.0, 0.9, 0.8, 0.85, 0.7, 0.75, 0.6]
    acc = [0.1, 0.2, 0.3, 0.3, 0.4, 0.4, 0.5]
    assert train.autol2_rule(np.arange(7) * 10, loss, acc, lam0=1.0, num_classes=10,
                             delay=0.0).tolist() == [1.0] * 7


def test_rule_argument_errors():
    with pytest.raises(ValueError, match=r"lam0=-1.*>= 0"):
        train.autol2_rule([0], [1.0], [0.5], lam0=-1, num_classes=10)
    with pytest.raises(ValueError, match=r"decay=1.0.*> 1"):
        train.autol2_rule([0], [1.0], [0.5], lam0=1, num_classes=10, decay=1.0)
    with pytest.raises(ValueError, match=r"steps.*increasing"):
        train.autol2_rule([0, 0], [1.0, 1.0], [0.5, 0.5], lam0=1, num_classes=10)
    with pytest.raises(ValueError, match="shape"):
        train.autol2_rule([0, 10], [1.0], [0.5], lam0=1, num_classes=10)


# ------------------------------------------------------------------------ in-graph rule


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_in_graph_rule_equals_pure_rule(dtype, request):
    """Each case's sequences as lanes of one jitted, vmapped ``lax.scan`` of ``autol2_update``:
    the lam after every measurement equals ``autol2_rule`` in the same dtype, bit for bit."""
    if dtype == "float64":
        request.getfixturevalue("x64")
    for case in CASES[:2] + CASES[3:5]:  # ties, none, k = 3, lam down to float32's smallest
        every, k, l2, delay, dec = case
        seqs = [_case_sequences(case, seed=s) for s in range(3)]
        steps = np.stack([s[0] for s in seqs]).astype(np.int32)
        loss = np.stack([s[1] for s in seqs]).astype(dtype)
        acc = np.stack([s[2] for s in seqs]).astype(dtype)
        lam0 = np.array([2 * k * l2, 0.7, 3.0], dtype)

        def lane(lam0, loss, acc, steps, k=k, delay=delay, dec=dec):
            def body(s, xs):
                s = train.autol2_update(s, *xs, num_classes=k, delay=delay, factor=dec)
                return s, s.lam

            return jax.lax.scan(body, train.lam_init(lam0, dtype), (loss, acc, steps))[1]

        got = np.asarray(jax.jit(jax.vmap(lane))(lam0, loss, acc, steps))
        assert got.dtype == np.dtype(dtype)
        for j in range(3):
            expect = train.autol2_rule(steps[j], loss[j], acc[j], lam0=float(lam0[j]),
                                       num_classes=k, delay=delay, decay=dec)
            np.testing.assert_array_equal(got[j], expect, err_msg=f"{case} lane {j}")


# ------------------------------------------------------------------------------ real runs

RUN = train.TrainConfig(depth=2, width=32, steps=300, eval_every=50, batch_size=50, lr=4.0,
                        lam=0.1, lam_schedule="autol2")


@pytest.fixture(scope="module")
def ds():
    return data.standardize(data.load("fashion_mnist_subset", n_train=400, n_test=200))


@pytest.fixture(scope="module")
def solo(ds):
    return train.train(RUN, ds)


def _replay(rec, lam0, config=RUN):
    return train.autol2_rule(rec["step"], rec["train_loss"], rec["train_acc"], lam0=lam0,
                             num_classes=10, delay=config.setting("autol2_delay"),
                             decay=config.setting("autol2_factor"))


def test_real_run_replays_from_its_record(solo):
    rec = solo["autol2"]
    assert rec["step"].tolist() == list(range(0, RUN.steps, RUN.setting("autol2_measure_every")))
    assert rec["train_loss"].dtype == rec["lam"].dtype == np.float32
    np.testing.assert_array_equal(_replay(rec, RUN.lam), rec["lam"])
    assert np.sum(np.diff(rec["lam"]) < 0) >= 2  # it did decay, twice or more
    # a row at step t shows the lam decided at the last measurement before t
    for t, lam in zip(solo["step"], solo["lam"]):
        before = rec["lam"][rec["step"] < t]
        assert lam == (before[-1] if len(before) else np.float32(RUN.lam)), t


def test_measurement_is_the_steps_batch_at_the_current_parameters(ds):
    """Full batch (the minibatch is the training set) and rows on the whole training set: the
    measurement at step t is the training loss after t updates, as the row at step t."""
    cfg = RUN.replace(batch_size=None, train_eval_size=None, steps=40, eval_every=10, lr=1.0)
    small = data.subsample(ds, n_train=200, n_test=50)
    rows = train.train(cfg, small)
    rec = rows["autol2"]
    assert rec["step"].tolist() == [0, 10, 20, 30]
    np.testing.assert_allclose(rec["train_loss"], rows["train_loss"][:4], rtol=1e-5)
    np.testing.assert_allclose(rec["train_acc"], rows["train_acc"][:4], atol=1.01 / 200)
    np.testing.assert_array_equal(_replay(rec, cfg.lam), rec["lam"])


def test_sweep_lanes_record_as_solo_runs_through_chunks_and_resume(ds, solo, tmp_path,
                                                                   resumed_sweep):
    # two chunks of one lane; the crash is mid-chunk: state and partial records checkpointed
    table = resumed_sweep(RUN, ds, tmp_path / "s", lam=[RUN.lam], lr=[RUN.lr], seeds=[0, 1],
                          progress=False, chunk_size=1, checkpoint_every=2)
    rec = table["autol2"]
    assert set(rec) == {"run", "step", "train_loss", "train_acc", "lam"}
    assert len({len(v) for v in rec.values()}) == 1
    for run in (0, 1):
        mine = {k: v[rec["run"] == run] for k, v in rec.items()}
        np.testing.assert_array_equal(_replay(mine, RUN.lam), mine["lam"])
        ref = solo["autol2"] if run == 0 else train.train(RUN.replace(seed=1), ds)["autol2"]
        np.testing.assert_array_equal(mine["step"], ref["step"])
        np.testing.assert_array_equal(mine["lam"], ref["lam"])
        np.testing.assert_allclose(mine["train_loss"], ref["train_loss"], rtol=1e-5)
        np.testing.assert_allclose(mine["train_acc"], ref["train_acc"], atol=1.01 / 50)
    # stored: results.npz gives the same nested table, autol2.csv the measurements
    again = train.load_results(tmp_path / "s" / "results.npz")
    for k in rec:
        np.testing.assert_array_equal(again["autol2"][k], rec[k], err_msg=k)
    header = (tmp_path / "s" / "autol2.csv").read_text().splitlines()[0]
    assert header == "run,step,train_loss,train_acc,lam"
    assert "autol2" not in (tmp_path / "s" / "results.csv").read_text().splitlines()[0]
    assert "autol2" not in train.sweep(RUN.replace(lam_schedule="constant"), ds, lam=[0.1],
                                       lr=[1.0], seeds=[0], progress=False)


# ---------------------------------------------------------------------- the authors' flags


def test_authors_flags():
    assert train.from_autol2_flags(0.2, 5e-4, 10) == (0.02, 1e-2)
    assert train.from_autol2_flags(0.7, 3e-4, 10) == (0.07, 0.006)  # floats: 0.0699..., 0.0059...
    assert train.from_autol2_flags(0.2, 0.1, 10) == (0.02, 2.0)  # Figure 1c's AutoL2 start
    assert train.to_autol2_flags(0.02, 1e-2, 10) == (0.2, 5e-4)
    for lr, l2, k in [(0.2, 1e-4, 10), (0.05, 0.0, 100), (1.3, 2.5e-3, 3)]:
        assert train.to_autol2_flags(*train.from_autol2_flags(lr, l2, k), k) == (lr, l2)
    # their refractory period delay / L2 steps is ours 2 k delay / lam: the same number
    lam = train.from_autol2_flags(0.2, 0.01, 10)[1]
    assert 0.1 / 0.01 == pytest.approx(2 * 10 * 0.1 / lam, rel=1e-15)
    with pytest.raises(ValueError, match=r"num_classes=0"):
        train.from_autol2_flags(0.2, 5e-4, 0)
    with pytest.raises(ValueError, match=r"lr=0"):
        train.from_autol2_flags(0, 5e-4, 10)


def test_authors_lr_schedule_is_the_default():
    cfg = train.TrainConfig(lr_schedule="step")
    decay_at = cfg.setting("lr_decay_at")
    assert decay_at == (0.3, 0.6, 0.9) and cfg.setting("lr_decay_factor") == 0.2
    assert schedules.step_boundaries(78000, decay_at) == [23400, 46800, 70200]


# ---------------------------------------------------------------------------------- mixup


def _mixup_step(alpha=1.0, augment=False):
    cfg = train.TrainConfig(depth=2, width=8, mixup=True, mixup_alpha=alpha, augment=augment)
    aug = (lambda key, x: data.random_crop_flip(key, x, 1)) if augment else None
    return train.make_step(cfg, cfg.build_model(3), (4, 4, 1), augment_fn=aug, num_classes=3)


def test_mixup_batch_is_the_authors_form_and_deterministic():
    step = _mixup_step(augment=True)
    x = jax.random.normal(jax.random.key(0), (6, 4, 4, 1))
    y = jnp.array([0, 0, 1, 2, 1, 1], jnp.int32)
    key = jax.random.fold_in(jax.random.key(5), 7)  # a run's augmentation key at step 7
    batch = jax.jit(step.batch)
    xm, ym = batch(x, y, key)
    xm2, ym2 = batch(x, y, key)
    np.testing.assert_array_equal(xm, xm2)
    np.testing.assert_array_equal(ym, ym2)
    xo, yo = batch(x, y, jax.random.fold_in(jax.random.key(5), 8))  # the next step
    assert not np.array_equal(xm, xo) and not np.array_equal(ym, yo)
    # example i = w_i (augmented x_i) + (1 - w_i) (augmented x_{N-1-i}); its target likewise
    onehot = np.eye(3)[np.asarray(y)]
    w = np.asarray(ym)[np.arange(6), np.asarray(y)]  # y_i != y_{5-i} for every i here
    np.testing.assert_allclose(ym, w[:, None] * onehot + (1 - w[:, None]) * onehot[::-1],
                               atol=1e-6)
    assert np.all((w > 0) & (w < 1)) and len(set(np.round(w, 6))) == 6  # a weight per example
    x_aug = np.asarray(data.random_crop_flip(key, x, 1))
    w4 = w[:, None, None, None]
    np.testing.assert_allclose(xm, w4 * x_aug + (1 - w4) * x_aug[::-1], atol=1e-5)
    with pytest.raises(ValueError, match="key"):
        step.batch(x, y, None)


@pytest.mark.parametrize("alpha", [1.0, 0.2])
def test_mixup_weights_are_beta_alpha_alpha(alpha):
    """Per-example weights: mean 1/2, variance 1 / (4 (2 alpha + 1)) (Beta(alpha, alpha))."""
    n = 4000
    y = jnp.asarray(np.arange(n) % 2, jnp.int32)  # partners N-1-i have the other label
    _, ym = jax.jit(_mixup_step(alpha).batch)(jnp.zeros((n, 4, 4, 1)), y, jax.random.key(1))
    w = np.asarray(ym)[np.arange(n), np.asarray(y)]
    var = 1 / (4 * (2 * alpha + 1))
    assert abs(w.mean() - 0.5) < 4 * np.sqrt(var / n)
    assert abs(w.var() - var) < 0.1 * var


def test_mixed_targets_loss_and_accuracy():
    """Soft targets: cross-entropy is linear in the target, so it is w loss(y_a) + (1-w)
    loss(y_b); accuracy is against the argmax of the mixed target."""
    cfg = train.TrainConfig(loss="xent")
    out = jax.random.normal(jax.random.key(2), (5, 3))
    ya, yb = jnp.array([0, 1, 2, 0, 1]), jnp.array([1, 1, 0, 2, 2])
    w = jnp.array([0.9, 0.5, 0.3, 0.6, 0.1])
    soft = w[:, None] * jax.nn.one_hot(ya, 3) + (1 - w[:, None]) * jax.nn.one_hot(yb, 3)
    loss, correct = per_sample_loss(cfg, out, soft)
    la, _ = per_sample_loss(cfg, out, ya)
    lb, _ = per_sample_loss(cfg, out, yb)
    np.testing.assert_allclose(loss, w * la + (1 - w) * lb, rtol=1e-6)
    np.testing.assert_array_equal(correct, jnp.argmax(out, -1) == jnp.argmax(soft, -1))
    mse = cfg.replace(loss="mse")
    loss, _ = per_sample_loss(mse, out, jax.nn.one_hot(ya, 3))  # a one-hot soft target
    np.testing.assert_allclose(loss, per_sample_loss(mse, out, ya)[0], rtol=1e-6)


def test_mixup_lanes_equal_solo_runs(ds, solo):
    cfg = RUN.replace(steps=40, eval_every=20, mixup=True)
    table = train.sweep(cfg, ds, lam=[cfg.lam], lr=[cfg.lr], seeds=[0, 1], progress=False)
    rec = table["autol2"]
    for seed in (0, 1):
        one = train.train(cfg.replace(seed=seed), ds)
        lane = {k: v[table["run"] == seed] for k, v in table.items() if k != "autol2"}
        for k in ("train_loss", "test_loss", "param_norm_sq"):
            np.testing.assert_allclose(lane[k], one[k], rtol=1e-5, err_msg=k)
        np.testing.assert_array_equal(lane["lam"], one["lam"])
        np.testing.assert_allclose(rec["train_loss"][rec["run"] == seed],
                                   one["autol2"]["train_loss"], rtol=1e-5)
    # seed 0 without mixup is `solo`: same initialization, same first minibatch, only the mixing
    # differs in the first measurement
    first = rec["train_loss"][(rec["run"] == 0) & (rec["step"] == 0)]
    assert abs(first[0] - solo["autol2"]["train_loss"][0]) > 1e-3
