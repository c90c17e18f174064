"""The lazy limit of the L2 gradient flow for networks that are not homogeneous: against the
homogeneous closed form, against an independent integration of the parameter-space lazy ODE,
its convergence in the number of scale nodes, the two ways of computing two-scale NTKs, and
predict_network's dispatch and errors."""
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree
from scipy.integrate import solve_ivp

from l2theory import experiments as ex
from l2theory import models, solvers, train
from l2theory._experiments import lazy_network, network_theory
from l2theory._experiments.recording import comparison_config
from l2theory._theory.lazy_flow import LazyL2Flow, lagrange_basis, scale_nodes


@pytest.fixture(scope="module")
def images():
    """12 + 8 Fashion-MNIST subset images averaged to 7x7, standardized."""
    return ex.prepare_data("fashion_mnist_subset", n_train=12, n_test=8, downsample=4,
                           flatten=False)


def test_scale_nodes_and_lagrange_basis():
    a = scale_nodes(9, 0.1)
    assert a[0] == 1.0 and a[-1] == pytest.approx(0.1) and np.all(np.diff(a) < 0)
    np.testing.assert_allclose(scale_nodes(5, 0.1), a[::2])  # nested
    np.testing.assert_allclose(lagrange_basis(a, a), np.eye(9), atol=1e-14)
    x = np.linspace(0.1, 1, 7)
    np.testing.assert_allclose(lagrange_basis(a, x) @ a ** 5, x ** 5, rtol=1e-12)  # exact
    np.testing.assert_allclose(lagrange_basis(a, x).sum(axis=1), 1.0, rtol=1e-13)


@pytest.mark.parametrize("model, degree", [
    ({"model": "fc", "depth": 3, "width": 32, "bias": False}, 3)])
def test_lazy_limit_of_a_homogeneous_network_is_the_flow(x64, images, model, degree):
    """Float64 networks: with nodes >= L + 1 the Jacobian and output expansions are exact
    (J(a theta_0) = a^(L-1) J_0), so the lazy limit equals L2GradientFlow(degree=L) with the
    network's own NTK (kernels.empirical_ntk) and f0, to 1e-8."""
    from l2theory import kernels
    from l2theory._experiments.recording import initial_params

    x, labels, xs, labels_s, k, _ = images
    cfg = comparison_config({**model, "dtype": "float64"}, seed=1, lr=0.5, lam=0.05, steps=1)
    if model["model"] == "fc":
        x, xs = x.reshape(len(x), -1), xs.reshape(len(xs), -1)
    x, xs = x.astype(np.float64), xs.astype(np.float64)
    setup = lazy_network.lazy_flow(cfg, x, labels, xs, labels_s, num_classes=k,
                                   tau_max=5.0, nodes=degree + 2, rtol=1e-10)
    net = cfg.build_model(k)
    assert net.degree == degree and setup.flow.g.dtype == np.float64
    params, apply_fn = initial_params(cfg, k, x.shape[1:]), models.apply_fn(net)
    k_tt = np.asarray(kernels.empirical_ntk(apply_fn, params, x))
    k_st = np.asarray(kernels.empirical_ntk(apply_fn, params, xs, x))
    flow = solvers.L2GradientFlow(k_tt, np.eye(10)[labels] - 0.1, lam=0.05, lr=0.5,
                                  degree=degree)
    t = np.geomspace(0.05, 200.0, 12)  # lam lr t up to 5
    want_tr, want_te = flow.predict(t, k_st, np.asarray(apply_fn(params, x)),
                                    np.asarray(apply_fn(params, xs)))
    got_tr, got_te = setup.flow.predict(t)
    for got, want in ((got_tr, want_tr), (got_te, want_te)):
        err = np.max(np.abs(got - np.asarray(want))) / np.max(np.abs(want))
        assert err < 1e-8, err


def _parameter_space_reference(apply_fn, params, x, xs, y, *, lam, lr, times):
    """Test outputs of the lazy limit integrated in parameter space (scipy's Radau):
    ``dw/dt = -lr lam w - (lr/n) J(a_t theta_0)^T (f(a_t theta_0) + J(a_t theta_0) w - y)``,
    ``f*_t = f(x*; a_t theta_0) + J(x*; a_t theta_0) w_t`` (one output)."""
    flat, unravel = ravel_pytree(params)
    n = len(x)

    @jax.jit
    def linearize(a, inputs):
        def f(v):
            return apply_fn(unravel(v), inputs)[:, 0]
        return f(a * flat), jax.jacfwd(f)(a * flat)

    def rhs(t, w):
        f, jac = map(np.asarray, linearize(np.exp(-lr * lam * t), x))
        return -lr * lam * w - (lr / n) * jac.T @ (f + jac @ w - y[:, 0])

    def jacobian(t, w):
        jac = np.asarray(linearize(np.exp(-lr * lam * t), x)[1])
        return -lr * lam * np.eye(flat.size) - (lr / n) * jac.T @ jac

    sol = solve_ivp(rhs, (0.0, times[-1]), np.zeros(flat.size), method="Radau", t_eval=times,
                    rtol=1e-7, atol=1e-9, jac=jacobian)
    assert sol.success
    out = []
    for t, w in zip(times, sol.y.T):
        f, jac = map(np.asarray, linearize(np.exp(-lr * lam * t), xs))
        out.append(f + jac @ w)
    return np.array(out)


def _lazy_flow(apply_fn, params, x, xs, y, *, lam, lr, nodes, tau_max):
    a = scale_nodes(nodes, np.exp(-tau_max))
    k_tt, k_st = lazy_network.scaled_ntks(apply_fn, params, x, xs, a)
    f = lazy_network.scaled_outputs(apply_fn, params, np.concatenate([x, xs]), a)
    return LazyL2Flow(a, k_tt, y, lam=lam, lr=lr, f_train=f[:, :len(x)], k_test_train=k_st,
                      f_test=f[:, len(x):], rtol=1e-10)


def test_lazy_limit_of_a_residual_net_matches_the_parameter_space_ode(x64):
    """A small residual net (a weightless shortcut beside a two-layer branch: paths of degree
    2 and 4, and an output bias; 205 parameters; smooth GELU, so J(a theta_0) is analytic in
    a): the node expansion converges geometrically to the independent integration."""
    rng = np.random.default_rng(0)
    d, w, n, m = 5, 8, 10, 6
    params = {"w0": rng.normal(size=(d, w)), "w1": rng.normal(size=(w, w)),
              "w2": rng.normal(size=(w, w)), "w3": rng.normal(size=(w, 1)),
              "b3": rng.normal(size=(1,))}
    params = jax.tree.map(jnp.asarray, params)

    def apply_fn(p, x):
        h = x @ p["w0"] / np.sqrt(d)
        h = h + jax.nn.gelu(jax.nn.gelu(h) @ p["w1"] / np.sqrt(w)) @ p["w2"] / np.sqrt(w)
        return jax.nn.gelu(h) @ p["w3"] / np.sqrt(w) + p["b3"]

    x, xs = rng.normal(size=(n, d)), rng.normal(size=(m, d))
    y = np.sign(x[:, :1])
    lam, lr, times = 0.1, 1.0, np.array([1.0, 5.0, 15.0])
    ref = _parameter_space_reference(apply_fn, params, x, xs, y, lam=lam, lr=lr, times=times)
    flow = _lazy_flow(apply_fn, params, x, xs, y, lam=lam, lr=lr, nodes=9, tau_max=1.6)
    # the Chebyshev-Lobatto nodes of 5 and 3 are every second and fourth of those of 9
    errors = {8 // step + 1: np.max(np.abs(flow.restrict(np.arange(0, 9, step))
                                           .predict(times)[1][..., 0] - ref))
              / np.max(np.abs(ref)) for step in (1, 2, 4)}
    print("residual net, max relative error by nodes:", errors)  # 3.4e-2, 6.3e-4, 2.8e-5
    assert errors[9] < 1e-4
    assert errors[3] > errors[5] > errors[9]  # convergence in the nodes
    assert errors[9] < 0.1 * errors[5]


def test_two_scale_ntks_layer_by_layer_equal_the_gradients(x64):
    """fc_scaled_ntks (FC with biases, layer by layer) == scaled_ntks (per-example gradients,
    in panels smaller than the rows) == a direct Jacobian contraction."""
    rng = np.random.default_rng(2)
    model = models.fully_connected(depth=3, width=12, bias=True, b_std=0.7, out_dim=3)
    params, _ = model.init(jax.random.PRNGKey(0), (7,))
    params = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), params)
    x, xs = rng.normal(size=(6, 7)), rng.normal(size=(4, 7))
    a = np.array([1.0, 0.6, 0.1])
    apply_fn = models.apply_fn(model)
    p = sum(v.size for v in jax.tree.leaves(params))
    k_tt, k_st = lazy_network.scaled_ntks(apply_fn, params, x, xs, a, batch_size=3,
                                          panel_bytes=8 * p * 7)  # 7 rows of 30 per panel
    fc_tt, fc_st = lazy_network.fc_scaled_ntks(params, x, xs, a, depth=3, w_std=2 ** 0.5,
                                               b_std=0.7)
    np.testing.assert_allclose(k_tt, fc_tt, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(k_st, fc_st, rtol=1e-12, atol=1e-12)

    flat, unravel = ravel_pytree(params)

    def jac(scale, inputs):  # [N, 3, P]
        return np.asarray(jax.jit(jax.jacfwd(lambda v: apply_fn(unravel(v), inputs)))(
            scale * flat))

    want = np.einsum("ick,jck->ij", jac(0.1, xs), jac(0.6, x)) / 3
    np.testing.assert_allclose(k_st[2, 1], want, rtol=1e-12)
    np.testing.assert_allclose(k_tt[1, 2], k_tt[2, 1].T)


def test_predict_network_predicts_a_net_with_biases_by_its_lazy_limit():
    """No degree: the lazy limit (a WRN without BatchNorm takes the same path, with the
    per-example-gradient kernels: the lazy_limit figure)."""
    cfg = train.TrainConfig(model="fc", depth=2, width=16, bias=True, b_std=0.5, loss="mse",
                            lr=2e-3, lam=1.0)
    p = ex.predict_network(cfg, n_train=10, n_test=6, downsample=7, nodes=3)
    assert p.degree is None and p.nodes == 3 and p.kernel.startswith("empirical two-scale")
    assert 1 < p.euler_ratio < 2 and p.t_star > 0 and p.coarse_t_star is not None
    assert p.c == pytest.approx(2e-3 * p.t_star)
    labels = ex.prepare_data("fashion_mnist_subset", n_train=10, n_test=6, downsample=7)[3]
    y_test = np.eye(10)[labels] - 0.1
    np.testing.assert_allclose(p.curve, solvers.test_metric(p.f_test, y_test, "loss"),
                               rtol=1e-10)
    assert p.f_test.shape == (len(p.t), 6, 10)
    json.dumps(p.summary())


@pytest.mark.parametrize("cfg, kwargs, match", [
    (dict(model="wrn", depth=10, width=None, model_kwargs={"widen": 1}), {},
     r"BatchNorm is not covered.*'batchnorm': False.*lazy limit"),
    (dict(model="wrn", depth=10, width=None, model_kwargs={"widen": 1, "batchnorm": False}),
     {"kernel": "analytic"}, r"not homogeneous; its lazy limit.*kernel='empirical'"),
    (dict(model="fc", depth=2, width=4, bias=True, b_std=0.5, loss="xent"), {},
     r"loss='xent'.*MSE only"),
])
def test_predict_network_errors_name_the_fix(cfg, kwargs, match):
    config = train.TrainConfig(**{"loss": "mse", "lr": 0.1, "lam": 0.01, **cfg})
    with pytest.raises(ValueError, match=match):
        ex.predict_network(config, n_train=4, n_test=4, downsample=7, nodes=3, **kwargs)


@pytest.mark.parametrize("cfg, match", [
    (dict(model="wrn", depth=10, width=None, model_kwargs={"widen": 1, "batchnorm": False}),
     r"not homogeneous \(residual sums.*lazy limit.*degree='euler'"),
    (dict(model="cnn", depth=1, width=4, bias=True), "bias=False.*lazy limit"),
    (dict(model="fc", depth=2, width=4, bias=False, activation="tanh"),
     "activation='relu'.*lazy limit")])
def test_the_homogeneous_flow_names_the_lazy_limit_for_other_networks(images, cfg, match):
    x, labels, xs, labels_s, k, _ = images
    config = train.TrainConfig(loss="mse", lr=0.1, lam=0.01, **cfg)
    with pytest.raises(ValueError, match=match):
        network_theory.network_flow(config, x, labels, xs, labels_s, num_classes=k)


def test_lazy_flow_bad_input():
    a = scale_nodes(3, 0.5)
    k = np.einsum("d,e,nm->denm", a, a, np.eye(4))
    with pytest.raises(ValueError, match=r"k_train_train=.*\[S, S, n, n\] with S = 3"):
        LazyL2Flow(a, k[:2], np.ones(4), lam=0.1)
    with pytest.raises(ValueError, match="nodes=.*distinct scales"):
        LazyL2Flow([1.0, 1.0, 0.5], k, np.ones(4), lam=0.1)
    flow = LazyL2Flow(a, k, np.ones(4), lam=0.1, lr=1.0)
    with pytest.raises(ValueError, match=r"below the smallest node 0.5.*a_min"):
        flow.predict([1.0, 100.0])
    with pytest.raises(ValueError, match="no test points"):
        flow.predict_test([1.0])


def _family(distances, ratios, min_loss=0.35):
    """A lazy_limit family summary from per-width, per-seed distances and t* ratios."""
    from l2theory._experiments.lazy_limit import _summarize

    per_width = []
    for w, (dist, rat) in enumerate(zip(distances, ratios), 1):
        rows = [{"t_star_net": 100 * r, "t_star_lazy": 100.0, "t_star_euler": 100.0,
                 "ratio_lazy": r, "ratio_euler": r, "distance_lazy": d,
                 "distance_euler": 1.5 * d, "coarse_ratio": 1.0, "coarse_distance": 0.01,
                 "min_loss_net": min_loss + 0.01 * i, "min_loss_lazy": 0.34,
                 "initial_loss": 5.0, "lr_lambda_max_over_n": 0.8, "params": 1000 * w,
                 "t_star_net_at_boundary": False} for i, (d, r) in enumerate(zip(dist, rat))]
        per_width.append(_summarize(w, 0.01, 0.2, rows))
    config = {"n_train": 8, "n_test": 8, "image_shape": [7, 7, 1], "nodes": 9, "a_min": 0.1,
              "lam_lr": 2e-3, "plateau_loss": 0.45}
    return {"name": "net", "config": config, "per_width": per_width, "width_exponent": -0.5}


@pytest.mark.parametrize("distances, ratios, min_loss, want", [
    ([[0.5, 0.6, 0.55], [0.3, 0.32, 0.29]], [[1.1, 1.0, 0.9], [1.05, 0.95, 1.0]], 0.35,
     ["PASS", "PASS", "PASS", "PASS", "PASS", "PASS"]),
    ([[0.5, 0.6, 0.55], [0.5, 0.62, 0.52]], [[1.1, 1.0, 0.9], [1.5, 1.55, 1.45]], 0.35,
     ["FAIL", "TIE", "PASS", "PASS", "PASS", "PASS"]),
    ([[0.5, 0.6, 0.55], [0.3, 0.32, 0.29]], [[1.1, 1.0, 0.9], [1.3, 0.95, 1.0]], 0.35,
     ["TIE", "PASS", "PASS", "PASS", "PASS", "PASS"]),
    ([[0.3, 0.32, 0.29], [0.5, 0.6, 0.55]], [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]], 0.44,
     ["PASS", "FAIL", "TIE", "PASS", "PASS", "PASS"]),
])
def test_lazy_limit_figure_claims_can_fail(distances, ratios, min_loss, want):
    """t*: the 95 % t-interval over seeds inside [0.75, 1.25] (PASS), outside (FAIL), across
    an edge (TIE); the distance's fall paired by seed; the net learning by its interval (TIE
    when it straddles the loss of f = 0)."""
    from l2theory.figures import lazy_limit

    summary = {"config": {"window": [0.02, 1.0], "seeds": [0, 1, 2], "lam_lr": 2e-3,
                          "lr_stability": 0.4},
               "results": {"families": [_family(distances, ratios, min_loss)]}}
    lines, claims = lazy_limit.report(summary)
    assert [c.verdict for c in claims] == want, claims
    assert any("| 2 | 2,000 |" in line for line in lines)
