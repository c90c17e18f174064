"""The equilibrium of scale-invariant weights under SGD, momentum and L2
(``experiments.bn_equilibrium``, docs/conventions.md section 8.1): the closed form and its
refusals, the derivation against a direct simulation of the package's update with random
gradients orthogonal to the weights. The real BatchNorm run is the bn_equilibrium figure's tiny
run, checked in tests/test_figures.py (test_bn_equilibrium_tiny_run_sits_at_the_equilibrium)."""
import math

import jax.numpy as jnp
import numpy as np
import pytest

from l2theory import data, experiments, train
from l2theory._practice.train.step import optimizer

BN_CNN = train.TrainConfig(model="cnn", depth=2, width=8, model_kwargs={"batchnorm": True},
                           lr=0.05, lam=0.02, momentum=0.9)


@pytest.mark.parametrize("lr,lam,mu", [(0.05, 0.02, 0.9), (0.1, 1e-3, 0.0), (0.02, 0.5, 0.5)])
def test_closed_form(lr, lam, mu):
    eq = experiments.bn_equilibrium(BN_CNN.replace(lr=lr, lam=lam, momentum=mu))
    assert eq.angular_update == pytest.approx(math.sqrt(2 * lr * lam / (1 + mu)), rel=1e-12)
    assert eq.relaxation_steps == pytest.approx((1 - mu) / (4 * lr * lam), rel=1e-12)
    assert eq.relaxation_natural_time == pytest.approx(lam * lr * eq.relaxation_steps, rel=1e-12)
    assert eq.adiabatic_ratio == pytest.approx(eq.momentum_steps / eq.relaxation_steps, rel=1e-12)
    assert eq.tensors == ("conv_0/w", "conv_1/w")
    if mu == 0:
        assert eq.angular_update == pytest.approx(math.sqrt(2 * lr * lam), rel=1e-12)


def test_wrn_tensors_are_the_first_conv_of_each_block():
    eq = experiments.bn_equilibrium(train.TrainConfig(model="wrn-10-1", lam=0.01, momentum=0.9))
    assert all(t.endswith("conv1/w") for t in eq.tensors) and len(eq.tensors) >= 3


@pytest.mark.parametrize("change,name", [
    (dict(lam=0.0), "lam=0.0"),
    (dict(decoupled_weight_decay=True), "decoupled_weight_decay=True"),
    (dict(lr_schedule="cosine"), "lr_schedule='cosine'"),
    (dict(lam_schedule="autol2"), "lam_schedule='autol2'"),
    (dict(model="fc", depth=2, width=8, model_kwargs={}), "model='fc'"),
    (dict(model_kwargs={}), "model='cnn'"),
])
def test_refuses_what_it_does_not_cover(change, name):
    with pytest.raises(ValueError) as e:
        experiments.bn_equilibrium(BN_CNN.replace(**change))
    assert str(e.value).startswith(name + ":") and "; " in str(e.value)
    with pytest.raises(TypeError, match="config=.*must be a TrainConfig"):
        experiments.bn_equilibrium({"lam": 0.1})


def _simulate(lr, lam, mu, steps, d=400, norm0=1.0, seed=0):
    """The package's update (its optax chain) on one scale-invariant vector with random
    gradients orthogonal to it, of size 1/||w|| (as for a BatchNorm net); numpy in float64.
    Returns the per-step angles and ||w||^2 before each step."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=d)
    w *= norm0 / np.linalg.norm(w)
    opt = optimizer(BN_CNN.replace(momentum=mu), lr, lam)
    state = opt.init(jnp.zeros(3))
    # the package's update, read off its optax chain on a 3-vector: v' = mu v + g + lam w,
    # w' = w - lr v' (heavy ball, coupled L2, no dampening)
    g3, w3, v3 = np.array([0.3, -0.2, 0.1]), np.array([1.0, 2.0, -1.0]), np.zeros(3)
    for _ in range(3):
        upd, state = opt.update(jnp.asarray(g3), state, jnp.asarray(w3))
        v3 = mu * v3 + g3 + lam * w3
        np.testing.assert_allclose(np.asarray(upd), -lr * v3, rtol=1e-6)
        w3 = w3 + np.asarray(upd)
    v = np.zeros(d)
    angles, norms = np.empty(steps), np.empty(steps)
    for t in range(steps):
        n2 = w @ w
        xi = rng.normal(size=d) / math.sqrt(d)
        g = (xi - w * (w @ xi) / n2) / math.sqrt(n2)
        v = mu * v + g + lam * w
        step = -lr * v
        along = step @ w / n2
        angles[t] = math.atan2(np.linalg.norm(step - along * w), math.sqrt(n2) * (1 + along))
        norms[t] = n2
        w = w + step
    return angles, norms


@pytest.mark.parametrize("lr,lam,mu", [(0.01, 0.005, 0.9), (0.05, 0.01, 0.0)])
def test_equilibrium_angle_and_relaxation_against_a_simulation(lr, lam, mu):
    """Started at twice its equilibrium norm: ||w||^4 relaxes as exp(-t / tau_eq) (at t =
    tau_eq and 2 tau_eq within 0.03 of e^-1, e^-2) to lr G / (2 lam (1 - mu)) (G = 1 here), and
    after 7 tau_eq the RMS angle per step is sqrt(2 lr lam / (1 + mu)) within 1.5 %."""
    eq = experiments.bn_equilibrium(BN_CNN.replace(lr=lr, lam=lam, momentum=mu))
    tau = eq.relaxation_steps
    assert tau == pytest.approx(500)
    norm_eq = (lr / (2 * lam * (1 - mu))) ** 0.25
    tau = 500
    angles, norms = _simulate(lr, lam, mu, int(9 * tau), norm0=2 * norm_eq)
    late = angles[int(7 * tau):]
    assert np.sqrt(np.mean(late ** 2)) == pytest.approx(eq.angular_update, rel=0.015)
    assert np.mean(norms[int(7 * tau):]) == pytest.approx(norm_eq ** 2, rel=0.03)
    b, b_eq = norms ** 2, norm_eq ** 4
    for k in (1, 2):
        assert (b[int(k * tau)] - b_eq) / (b[0] - b_eq) == pytest.approx(math.exp(-k), abs=0.03)


def test_late_angular_update_weights_rows_by_their_steps():
    rows = {"step": np.array([0, 10, 30, 40]), "angular_update": np.array([np.nan, 5.0, 1.0, 2.0])}
    assert experiments.late_angular_update(rows, 10) == pytest.approx(
        math.sqrt((20 * 1 + 10 * 4) / 30))
    assert experiments.late_angular_update(rows, 0) == pytest.approx(
        math.sqrt((10 * 25 + 20 * 1 + 10 * 4) / 40))
    with pytest.raises(ValueError, match="after=50: no row's window"):
        experiments.late_angular_update(rows, 50)
