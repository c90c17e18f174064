"""predict_network and cnn_theory_vs_practice: the flow of any TrainConfig against independent
computations, the first gradient-descent step of the very network it describes, and trained
CNNs."""
import json

import jax
import numpy as np
import pytest

from l2theory import experiments as ex
from l2theory import data, kernels, models, solvers, train
from l2theory._experiments import cnn_theory, network_theory
from l2theory._experiments.recording import train_recording


@pytest.fixture(scope="module")
def images():
    """24 + 24 Fashion-MNIST subset images averaged to 7x7, standardized."""
    return ex.prepare_data("fashion_mnist_subset", n_train=24, n_test=24, downsample=4,
                           flatten=False)


def test_downsample_averages_pixel_blocks():
    ds = data.make_synthetic(3, 2, image_shape=(7, 9, 2))
    small = data.downsample(ds, 3)
    assert small.input_shape == (2, 3, 2) and small.x_test.shape == (2, 2, 3, 2)
    np.testing.assert_allclose(small.x_train[1, 1, 2], ds.x_train[1, 3:6, 6:9].mean(axis=(0, 1)),
                               rtol=1e-6)
    with pytest.raises(TypeError, match="factor=2.0"):
        data.downsample(ds, 2.0)


def test_predict_network_analytic_fc_is_the_flow_of_fc_relu(x64):
    cfg = train.TrainConfig(model="fc", depth=3, width=64, bias=False, parameterization="ntk",
                            loss="mse", lr=0.5, lam=0.01)
    p = ex.predict_network(cfg, n_train=32, n_test=48, kernel="analytic", f0="zero")
    x, labels, xs, labels_s, k, _ = ex.prepare_data("fashion_mnist_subset", n_train=32,
                                                    n_test=48)
    x, xs = x.astype(np.float64), xs.astype(np.float64)
    _, k_tt = kernels.fc_relu(x, depth=3)
    _, k_st = kernels.fc_relu(xs, x, depth=3)
    y = np.eye(10)[labels] - 0.1
    flow = solvers.L2GradientFlow(np.asarray(k_tt), y, lam=0.01, lr=0.5, degree=3)
    want = solvers.peak(flow, np.asarray(k_st), np.eye(10)[labels_s] - 0.1, metric="loss")
    assert p.t_star == pytest.approx(want.t_star, rel=1e-9)
    assert p.c == pytest.approx(0.005 * p.t_star, rel=1e-12)
    assert (p.degree, p.kernel, p.f0) == (3, "analytic: fc_relu(depth=3)", "zero")
    assert p.euler_ratio == pytest.approx(3.0, rel=1e-5)
    np.testing.assert_allclose(p.curve, want.curve, rtol=1e-9)
    assert p.f_test.shape == (400, 48, 10) and p.f_train.shape == (400, 32, 10)
    json.dumps(p.summary())


def test_predict_network_cross_entropy_uses_the_integrator_on_one_hot_targets():
    cfg = train.TrainConfig(model="fc", depth=2, width=16, bias=False, parameterization="ntk",
                            loss="xent", lr=1.0, lam=0.02)
    t = np.concatenate([[0.0], np.geomspace(1, 500, 40)])
    p = ex.predict_network(cfg, n_train=16, n_test=16, kernel="analytic", f0="zero", t=t)
    assert p.curve[0] == pytest.approx(np.log(10), rel=1e-6)  # f = 0: xent = log k
    assert 1 < p.t_star < 500 and p.c == pytest.approx(0.02 * p.t_star)
    assert p.value < p.curve[0] and p.metric == "loss"


def test_empirical_flow_is_the_network_at_initialization(images):
    """For the max-pooling stand-in CNN (no analytic kernel): the flow's f0 is the run's
    initialized network (same seed as training), its kernel is the output-averaged Jacobian
    kernel of that network, and with the full (per-output) kernel and L = depth + 1 the flow's
    velocity at t = 0, -(lr/n) Theta (f0 - y) - lr lam L f0, is one GD step of the network up
    to O(lr^2)."""
    x, labels, xs, labels_s, k, _ = images
    x, labels, xs, labels_s = x[:12], labels[:12], xs[:4], labels_s[:4]
    lr, lam, n = 2e-4, 2.0, len(x)
    cfg = cnn_theory.cnn_config(lam=lam, lr=lr, steps=1, seed=3, **cnn_theory.STAND_IN)
    setup = network_theory.network_flow(cfg, x, labels, xs, labels_s, num_classes=k)
    assert setup.degree == 3 and setup.kernel == "empirical"
    assert setup.euler_ratio == pytest.approx(3.0, rel=1e-5)
    params, f_tr, _ = train_recording(cfg, x, labels, xs, [0, 1], num_classes=k)
    np.testing.assert_allclose(setup.f0_train, f_tr[0], rtol=1e-5, atol=1e-6)
    model = cfg.build_model(k)
    with jax.default_matmul_precision("highest"):
        jac = jax.jacrev(lambda p: models.apply_fn(model)(p, x))(params)
    jac = np.concatenate([np.asarray(a, np.float64).reshape(n * k, -1)
                          for a in jax.tree.leaves(jac)], axis=1)
    full = (jac @ jac.T).reshape(n, k, n, k)
    np.testing.assert_allclose(setup.flow.k_train_train, np.einsum("icjc->ij", full) / k,
                               rtol=1e-4, atol=1e-4 * np.abs(full).max())
    resid = setup.f0_train - setup.flow.y_train
    velocity = -(lr / n) * np.einsum("icjd,jd->ic", full, resid) - lr * lam * 3 * setup.f0_train
    step = f_tr[1] - f_tr[0]
    assert np.linalg.norm(step - velocity) < 0.01 * np.linalg.norm(velocity)
    # L = 2 or 4 would be off by more than 5 % (the L2 term is a fifth of the step)
    l2 = lr * lam * setup.f0_train
    assert np.linalg.norm(l2) > 0.05 * np.linalg.norm(velocity)


def test_analytic_cnn_kernel_is_conv_relu(images):
    x, labels, xs, labels_s, k, _ = images
    cfg = cnn_theory.cnn_config(depth=2, channels=16, readout="gap", lam=0.02, lr=0.5, steps=1)
    setup = network_theory.network_flow(cfg, x, labels, xs, labels_s, num_classes=k,
                                        kernel="analytic", f0="zero")
    fn = kernels.conv_relu_fn(depth=2, readout="gap")
    ref = network_theory.network_flow(cfg, x, labels, xs, labels_s, num_classes=k, kernel=fn,
                                      f0="zero")
    assert setup.kernel == "analytic: conv_relu(depth=2, filter_size=3, readout='gap')"
    np.testing.assert_array_equal(setup.flow.k_train_train, ref.flow.k_train_train)
    np.testing.assert_array_equal(setup.k_test_train, ref.k_test_train)
    assert setup.f0_train is None and setup.degree == 3


def test_flow_rates_under_momentum():
    base = dict(model="fc", depth=2, width=8, bias=False, lr=0.1, lam=0.01)
    assert network_theory.flow_rates(train.TrainConfig(**base)) == (0.1, 0.01)
    lr, lam = network_theory.flow_rates(train.TrainConfig(**base, momentum=0.9))
    assert (lr, lam) == (pytest.approx(1.0), 0.01)
    lr, lam = network_theory.flow_rates(train.TrainConfig(**base, momentum=0.9,
                                                          decoupled_weight_decay=True))
    assert lr * lam == pytest.approx(0.1 * 0.01)  # the per-step decay lr lam is unchanged
    assert lr == pytest.approx(1.0)


@pytest.mark.parametrize("cfg, kwargs, match", [
    (dict(model="wrn", depth=10, width=None, model_kwargs={"widen": 1}), {"degree": 5},
     r"BatchNorm is not covered.*'batchnorm': False"),
    (dict(model="cnn", depth=1, width=4, bias=False, model_kwargs={"batchnorm": True}), {},
     "'batchnorm': False"),
    (dict(model="cnn", depth=1, width=4, bias=False, parameterization="ntk"),
     {"kernel": "analytic"}, r"local pooling pool='max' \(pool=None only\)"),
    (dict(model="fc", depth=2, width=4, bias=False, parameterization="standard"),
     {"kernel": "analytic"}, "parameterization='standard'"),
    (dict(model="fc", depth=2, width=4, bias=False, lr_schedule="cosine"), {}, "lr_schedule"),
    (dict(model="fc", depth=2, width=4, bias=False), {"f0": "mean"}, "f0='mean'"),
    (dict(model="fc", depth=2, width=4, bias=False), {"metric": "acc"}, "metric='acc'"),
    (dict(model="fc", depth=2, width=4, bias=False), {"kernel": "ntk"}, "kernel='ntk'"),
])
def test_predict_network_bad_input(cfg, kwargs, match):
    config = train.TrainConfig(loss="mse", lr=0.1, lam=0.01, **cfg)
    with pytest.raises(ValueError, match=match):
        ex.predict_network(config, n_train=4, n_test=4, downsample=7, **kwargs)


def test_wide_resnet_without_batchnorm_with_the_euler_degree(images):
    """No WRN is homogeneous; degree='euler' predicts with its effective degree at init (any
    kernel function: an FC kernel here, to keep the test cheap)."""
    x, labels, xs, labels_s, k, _ = images
    cfg = train.TrainConfig(model="wrn", depth=10, width=None, loss="mse", lr=0.05, lam=0.01,
                            model_kwargs={"widen": 1, "batchnorm": False})
    setup = network_theory.network_flow(cfg, x[:8], labels[:8], xs[:4], labels_s[:4],
                                        num_classes=k, degree="euler",
                                        kernel=kernels.fc_relu_fn(depth=2))
    assert 3 < setup.euler_ratio < 12 and setup.degree == round(setup.euler_ratio)
    assert setup.flow.degree == setup.degree and setup.kernel == "kernel_fn"
    f_train, _ = setup.flow.predict(0.0, setup.k_test_train, setup.f0_train, setup.f0_test)
    np.testing.assert_allclose(f_train, setup.f0_train, rtol=1e-5, atol=1e-6)


def test_cnn_theory_vs_practice_tiny():
    r = ex.cnn_theory_vs_practice(channels=[16, 256], n_train=32, n_test=64, downsample=4,
                                  seeds=[0], n_records=24)
    small, large = r["per_channels"]
    print("cnn theory vs practice (tiny):",
          [(e["channels"], e["distance_mean"], e["t_star_ratio"]) for e in r["per_channels"]],
          r["stand_in"]["t_star_ratio"])
    assert r["config"]["steps"] == 100  # 2 / (lam lr)
    assert r["config"]["kernel"] == "conv_relu(depth=1, filter_size=3, readout='flatten')"
    # the distance to the infinite-width flow falls with the channels (measured 0.44 -> 0.16)
    assert large["distance_mean"] < 0.6 * small["distance_mean"]
    assert large["distance_mean"] < 0.25
    # GD at lr 0.5 is close to the flow: the discretization is a small part of the distance
    assert large["flow_vs_gd_limit_mean"] < 0.5 * large["distance_mean"]
    # predicted vs measured t* (test-loss minimum), inside the run (measured ratio 0.97)
    assert large["t_star_ratio"] == pytest.approx(1.0, abs=0.1)
    assert not large["t_star_net_at_boundary"]
    assert large["c_net"] == pytest.approx(0.02 * large["t_star_net"])
    stand = r["stand_in"]
    assert stand["kernel"] == "empirical" and stand["degree"] == 3
    assert stand["lam"] * stand["lr"] == pytest.approx(0.02)
    assert stand["t_star_ratio"] == pytest.approx(1.0, abs=0.5)
    assert r["ensemble"]["c"] == pytest.approx(0.02 * r["ensemble"]["t_star"])
    assert len(r["curves"]["256"]["distance"]) == len(r["curves"]["steps"])
    json.dumps(r)


def test_cnn_theory_vs_practice_other_networks_by_their_empirical_ntk(images):
    """A ``networks`` entry gets the stand-in's comparison for any architecture; with
    ``lr_stability`` q its lr puts the seed-0 network's empirical NTK (computed here again,
    independently) at ``lr lambda_max / n = 2 q``, and its lam keeps the natural clock."""
    model = {"model": "cnn", "depth": 1, "width": 8, "bias": False, "parameterization": "ntk",
             "model_kwargs": {"pool": "max", "global_pool": "avg"}}
    r = ex.cnn_theory_vs_practice(channels=[8], n_train=16, n_test=16, downsample=4,
                                  seeds=[0], n_records=8, window=(0.05, 1.0), stand_in=False,
                                  networks=[{"name": "maxpool-8", "model": model,
                                             "lr_stability": 0.4}])
    row = r["networks"][0]
    assert row["name"] == "maxpool-8" and row["kernel"] == "empirical" and row["degree"] == 2
    assert row["euler_ratio"] == pytest.approx(2.0, rel=1e-4)
    x, labels, xs, labels_s, k, _ = ex.prepare_data("fashion_mnist_subset", n_train=16,
                                                    n_test=16, downsample=4, flatten=False)
    cfg = cnn_theory.network_config(model, seed=0, lr=0.3, lam=0.1, steps=1)
    setup = network_theory.network_flow(cfg, x, labels, xs, labels_s, num_classes=k)
    lmax = np.linalg.eigvalsh(setup.flow.k_train_train)[-1] / 16
    assert row["lr"] == pytest.approx(0.8 / lmax, rel=1e-5)
    assert row["lr_lambda_max_over_n"] == pytest.approx(0.8, rel=1e-5)
    assert row["lr"] * row["lam"] == pytest.approx(0.02)
    assert row["c_net"] == pytest.approx(0.02 * row["t_star_net"])
    assert len(r["curves"]["maxpool-8"]["distance"]) == len(r["curves"]["steps"])
    json.dumps(r)


@pytest.mark.parametrize("kwargs, match", [
    ({"networks": [{"name": "a", "model": {"model": "cnn"}}]},
     "exactly one of 'lr' and 'lr_stability'"),
    ({"networks": [{"name": "a", "model": {"model": "cnn", "lr": 0.1}, "lr": 0.1}]},
     "sets lr, which the comparison sets"),
    ({"networks": [{"name": "4", "model": {"model": "cnn"}, "lr": 0.1}]}, "distinct"),
    ({"networks": [{"name": "a", "model": {"model": "cnn"}, "lr_stability": 1.5}]},
     r"lr_stability'\]=1.5"),
    ({"networks": [{"name": "a", "model": {"model": "cnn"}, "lr": 0.1, "lam": 1}]},
     "unknown keys lam"),
    ({"channels": []}, "channels"),
    ({"readout": "max"}, "readout=.max.: unknown readout"),
    ({"window": (1.0, 0.5)}, "window"),
    ({"lam": -1.0}, "lam"),
])
def test_cnn_theory_vs_practice_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ex.cnn_theory_vs_practice(**{**dict(channels=[4], n_train=8, n_test=8), **kwargs})
