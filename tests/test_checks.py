"""One set of argument checks with one message format, ``name=value: problem; fix``, through every
public entry point: ``TypeError`` for a wrong type (a string or a bool for a number, a float for an
int), ``ValueError`` for a wrong value, and the same text for the same bad value wherever it is
passed, up to the argument's name (``lam[0]`` in a list argument).

Every call here fails in its argument checks, before any training or kernel computation, so the
file takes seconds.
"""
from __future__ import annotations

import math
import re

import numpy as np
import pytest

from l2theory import _checks, data, experiments, kernels, models, solvers, train

FORM = re.compile(r"^(?P<name>[\w.\[\]'\"]+)=(?P<value>.+?): (?P<problem>.+); (?P<fix>.+)$",
                  re.DOTALL)
NAN = float("nan")


@pytest.fixture(scope="module")
def ds():
    return data.load("fashion_mnist_subset", n_train=100, n_test=50)


@pytest.fixture(scope="module")
def cfg():
    return train.TrainConfig(depth=2, width=8, steps=4, eval_every=2)


def _raised(call, kind) -> re.Match:
    """The message of the ``kind`` error ``call()`` raises, parsed into name, value, problem and
    fix (the test fails if it raises anything else or has another form)."""
    with pytest.raises(kind) as info:
        call()
    assert type(info.value) is kind, f"{type(info.value).__name__}: {info.value}"
    match = FORM.match(str(info.value))
    assert match, f"not 'name=value: problem; fix': {info.value}"
    return match


def _entry_points(table, ds, cfg):
    return {label: (lambda v, f=f: f(v, ds, cfg), name) for label, (f, name) in table.items()}


K2, Y2 = np.eye(2), np.ones((2, 1))

# entry point -> (call with the bad value, the name the message must use)
LAM = {
    "TrainConfig": (lambda v, ds, cfg: train.TrainConfig(lam=v), "lam"),
    "TrainConfig.replace": (lambda v, ds, cfg: cfg.replace(lam=v), "lam"),
    "sweep": (lambda v, ds, cfg: train.sweep(cfg, ds, lam=[1e-3, v], lr=[0.1], seeds=[0],
                                             progress=False), "lam[1]"),
    "steps_for_natural_time": (lambda v, ds, cfg: train.steps_for_natural_time(1.0, v, 0.1),
                               "lam"),
    "L2GradientFlow": (lambda v, ds, cfg: solvers.L2GradientFlow(K2, Y2, lam=v, degree=2),
                       "lam"),
    "LinearizedL2Flow": (lambda v, ds, cfg: solvers.LinearizedL2Flow(K2, Y2, Y2, lam=v,
                                                                     degree=2), "lam"),
    "default_times": (lambda v, ds, cfg: solvers.default_times(v, 0.1), "lam"),
    "gd_limit_outputs": (lambda v, ds, cfg: experiments.gd_limit_outputs(
        K2, K2, Y2, Y2, Y2, lam=v, lr=0.1, degree=2, steps=[0, 1]), "lam"),
    "budget_comparison": (lambda v, ds, cfg: experiments.budget_comparison(
        cfg, ds, lams=[v], lr=0.1, budget_steps=4, natural_time=1.0), "lams[0]"),
    "autol2_comparison": (lambda v, ds, cfg: experiments.autol2_comparison(
        cfg, ds, budget=4, lams=[1e-3, v]), "lams[1]"),
}
# entry points whose lam must be > 0 (a natural clock lam * lr * t)
LAM_POSITIVE = {
    "c_from_t_star": (lambda v, ds, cfg: solvers.c_from_t_star(10.0, lam=v, lr=0.1), "lam"),
    "theory_vs_practice": (lambda v, ds, cfg: experiments.theory_vs_practice(ds, lam=v),
                           "lam"),
    "predict_lam_opt": (lambda v, ds, cfg: experiments.predict_lam_opt(
        cfg, ds, lam_large=v, lr=0.1, budgets=[4], lams=[1e-3]), "lam_large"),
    "hessian_vs_lam": (lambda v, ds, cfg: experiments.hessian_vs_lam(cfg, ds, lams=[v]),
                       "lams[0]"),
    "decoupled_and_schedules": (lambda v, ds, cfg: experiments.decoupled_and_schedules(
        cfg, ds, lams=[v], lrs=[0.1], steps=4), "lams[0]"),
}
LR = {
    "TrainConfig": (lambda v, ds, cfg: train.TrainConfig(lr=v), "lr"),
    "sweep": (lambda v, ds, cfg: train.sweep(cfg, ds, lam=[1e-3], lr=[v], seeds=[0],
                                             progress=False), "lr[0]"),
    "steps_for_natural_time": (lambda v, ds, cfg: train.steps_for_natural_time(1.0, 1e-3, v),
                               "lr"),
    "L2GradientFlow": (lambda v, ds, cfg: solvers.L2GradientFlow(K2, Y2, lam=0.1, lr=v,
                                                                 degree=2), "lr"),
    "default_times": (lambda v, ds, cfg: solvers.default_times(1e-3, v), "lr"),
    "c_from_t_star": (lambda v, ds, cfg: solvers.c_from_t_star(10.0, lam=1e-3, lr=v), "lr"),
    "lam_opt": (lambda v, ds, cfg: solvers.lam_opt(0.1, lr=v, budget=100), "lr"),
    "gd_limit_outputs": (lambda v, ds, cfg: experiments.gd_limit_outputs(
        K2, K2, Y2, Y2, Y2, lam=0.1, lr=v, degree=2, steps=[0, 1]), "lr"),
    "budget_comparison": (lambda v, ds, cfg: experiments.budget_comparison(
        cfg, ds, lams=[1e-3], lr=v, budget_steps=4, natural_time=1.0), "lr"),
    "predict_lam_opt": (lambda v, ds, cfg: experiments.predict_lam_opt(
        cfg, ds, lam_large=0.1, lr=v, budgets=[4], lams=[1e-3]), "lr"),
    "theory_vs_practice": (lambda v, ds, cfg: experiments.theory_vs_practice(ds, lr=v), "lr"),
    "hessian_vs_lam": (lambda v, ds, cfg: experiments.hessian_vs_lam(cfg, ds, lams=[1e-3],
                                                                     lr=v), "lr"),
    "decoupled_and_schedules": (lambda v, ds, cfg: experiments.decoupled_and_schedules(
        cfg, ds, lams=[1e-3], lrs=[0.1, v], steps=4), "lrs[1]"),
}
SEED = {
    "TrainConfig": (lambda v, ds, cfg: train.TrainConfig(seed=v), "seed"),
    "sweep": (lambda v, ds, cfg: train.sweep(cfg, ds, lam=[1e-3], lr=[0.1], seeds=[0, v],
                                             progress=False), "seeds[1]"),
    "data.load": (lambda v, ds, cfg: data.load("fashion_mnist_subset", n_train=10, seed=v),
                  "seed"),
    "data.subsample": (lambda v, ds, cfg: data.subsample(ds, 10, seed=v), "seed"),
    "data.make_synthetic": (lambda v, ds, cfg: data.make_synthetic(10, 10, seed=v), "seed"),
    "budget_comparison": (lambda v, ds, cfg: experiments.budget_comparison(
        cfg, ds, lams=[1e-3], lr=0.1, budget_steps=4, natural_time=1.0, seeds=[v]), "seeds[0]"),
    "autol2_comparison": (lambda v, ds, cfg: experiments.autol2_comparison(
        cfg, ds, budget=4, lams=[1e-3], seeds=[v]), "seeds[0]"),
    "theory_vs_practice": (lambda v, ds, cfg: experiments.theory_vs_practice(ds, seeds=[v]),
                           "seeds[0]"),
    "decoupled_and_schedules": (lambda v, ds, cfg: experiments.decoupled_and_schedules(
        cfg, ds, lams=[1e-3], lrs=[0.1], steps=4, seeds=[v]), "seeds[0]"),
}
# positive ints: layer counts and step counts
POSITIVE_INT = {
    "TrainConfig.depth": (lambda v, ds, cfg: train.TrainConfig(depth=v), "depth"),
    "TrainConfig.steps": (lambda v, ds, cfg: train.TrainConfig(steps=v), "steps"),
    "models.get": (lambda v, ds, cfg: models.get("fc", depth=v), "depth"),
    "fully_connected": (lambda v, ds, cfg: models.fully_connected(width=v), "width"),
    "cnn": (lambda v, ds, cfg: models.cnn(depth=v), "depth"),
    "wide_resnet": (lambda v, ds, cfg: models.wide_resnet(widen=v), "widen"),
    "fc_relu": (lambda v, ds, cfg: kernels.fc_relu(np.ones((2, 3)), depth=v), "depth"),
    "empirical_ntk": (lambda v, ds, cfg: kernels.empirical_ntk(
        lambda p, x: x @ p, np.ones((3, 2)), np.ones((4, 3)), batch_size=v), "batch_size"),
    "L2GradientFlow": (lambda v, ds, cfg: solvers.L2GradientFlow(K2, Y2, lam=0.1, degree=v),
                       "degree"),
    "sweep": (lambda v, ds, cfg: train.sweep(cfg, ds, lam=[1e-3], lr=[0.1], seeds=[0],
                                             chunk_size=v, progress=False), "chunk_size"),
    "budget_comparison": (lambda v, ds, cfg: experiments.budget_comparison(
        cfg, ds, lams=[1e-3], lr=0.1, budget_steps=v, natural_time=1.0), "budget_steps"),
    "autol2_comparison": (lambda v, ds, cfg: experiments.autol2_comparison(
        cfg, ds, budget=v, lams=[1e-3]), "budget"),
    "predict_lam_opt": (lambda v, ds, cfg: experiments.predict_lam_opt(
        cfg, ds, lam_large=0.1, lr=0.1, budgets=[4, v], lams=[1e-3]), "budgets[1]"),
    "theory_vs_practice": (lambda v, ds, cfg: experiments.theory_vs_practice(
        ds, widths=[16, v]), "widths[1]"),
}

# (value, exception type, the problem text for a lam / lr / seed)
LAM_CASES = [(-1, ValueError, "the L2 coefficient must be a finite number >= 0"),
             (NAN, ValueError, "the L2 coefficient must be a finite number >= 0"),
             (math.inf, ValueError, "the L2 coefficient must be a finite number >= 0"),
             ("x", TypeError, "the L2 coefficient must be a real number, not str"),
             (True, TypeError, "the L2 coefficient must be a real number, not bool"),
             (None, TypeError, "the L2 coefficient must be a real number, not NoneType")]
LR_CASES = [(0, ValueError, "the learning rate must be a finite number > 0"),
            (-1.0, ValueError, "the learning rate must be a finite number > 0"),
            (NAN, ValueError, "the learning rate must be a finite number > 0"),
            ("x", TypeError, "the learning rate must be a real number, not str"),
            (True, TypeError, "the learning rate must be a real number, not bool")]
SEED_CASES = [(-1, ValueError, "must be an int in [0, 2**31)"),
              (2**31, ValueError, "must be an int in [0, 2**31)"),
              (1.5, TypeError, "must be an int, not float"),
              (True, TypeError, "must be an int, not bool")]
INT_CASES = [(0, ValueError, "must be an int >= 1"), (-3, ValueError, "must be an int >= 1"),
             (True, TypeError, "must be an int, not bool"),
             (2.0, TypeError, "must be an int, not float"),
             ("3", TypeError, "must be an int, not str")]


def _check_all(table, cases, ds, cfg, *, same_fix=True):
    for value, kind, problem in cases:
        fixes = set()
        for label, (call, name) in _entry_points(table, ds, cfg).items():
            m = _raised(lambda: call(value), kind)
            where = f"{label} with {value!r}: {m.string}"
            assert m["name"] == name, where
            assert m["value"] == _checks.show(value), where
            assert m["problem"].endswith(problem), where
            fixes.add(m["fix"])
        if same_fix:  # the same text everywhere, up to the name
            assert len(fixes) == 1, (value, fixes)


def test_lam_same_text_everywhere(ds, cfg):
    _check_all(LAM, LAM_CASES, ds, cfg)
    positive = [(v, k, p.replace(">= 0", "> 0")) for v, k, p in LAM_CASES]
    _check_all(LAM_POSITIVE, positive + [(0.0, ValueError,
                                          "the L2 coefficient must be a finite number > 0")],
               ds, cfg)


def test_lr_same_text_everywhere(ds, cfg):
    _check_all(LR, LR_CASES, ds, cfg)


def test_seed_same_text_everywhere(ds, cfg):
    _check_all(SEED, SEED_CASES, ds, cfg)


def test_positive_ints_type_and_form(ds, cfg):
    _check_all(POSITIVE_INT, INT_CASES, ds, cfg, same_fix=False)


def test_list_arguments_name_the_element_with_the_scalar_text(ds, cfg):
    """``sweep(lam=[-1])`` says ``lam[0]=-1`` with TrainConfig(lam=-1)'s text: no
    ``TrainConfig.lam[0]`` field that does not exist."""
    scalar = _raised(lambda: train.TrainConfig(lam=-1), ValueError).string
    listed = _raised(lambda: train.sweep(cfg, ds, lam=[-1], lr=[0.1], seeds=[0],
                                         progress=False), ValueError).string
    assert scalar == "lam=-1: the L2 coefficient must be a finite number >= 0; e.g. 1e-4"
    assert listed == "lam[0]=-1: the L2 coefficient must be a finite number >= 0; e.g. 1e-4"
    assert _raised(lambda: train.sweep(cfg, ds, lam=[], lr=[0.1], seeds=[0]),
                   ValueError)["problem"] == "is empty"
    assert "TrainConfig" not in listed


def test_choices_list_the_options(ds, cfg):
    for call, name in [(lambda: train.TrainConfig(loss="hinge"), "loss"),
                       (lambda: train.TrainConfig(model="mlp"), "model"),
                       (lambda: models.get("mlp"), "name"),
                       (lambda: models.fully_connected(activation="sigmoid"), "activation"),
                       (lambda: solvers.L2GradientFlow(K2, Y2, lam=0.1, degree=2,
                                                       loss="hinge"), "loss"),
                       (lambda: data.load("imagenet"), "name")]:
        m = _raised(call, ValueError)
        assert m["name"] == name and m["problem"].startswith("unknown")
        assert m["fix"].startswith("valid"), m.string


def test_other_type_errors(ds, cfg):
    for call, name in [(lambda: train.train("config", ds), "config"),
                       (lambda: train.sweep(cfg, "fashion_mnist", lam=[0.0], lr=[0.1],
                                            seeds=[0]), "dataset"),
                       (lambda: train.TrainConfig(model=3), "model"),
                       (lambda: train.TrainConfig(augment="yes"), "augment"),
                       (lambda: solvers.L2GradientFlow(K2, Y2, lam=0.1, degree=2,
                                                       dtype=np.int32), "dtype"),
                       (lambda: kernels.as_kernel_fn(3), "kernel_fn"),
                       (lambda: data.one_hot(np.array([0.5]), 3), "labels"),
                       (lambda: experiments.collapse([1, 2, 3]), "rows")]:
        assert _raised(call, TypeError)["name"] == name


def test_show():
    assert _checks.show(np.float32(0.1)) == "0.1"  # the shortest repr, not 0.10000000149...
    assert _checks.show(np.int64(3)) == "3"
    assert _checks.show(np.zeros((3, 4))) == "<array of shape (3, 4)>"
    assert _checks.show(np.array(2.5)) == "2.5"
    assert _checks.show(list(range(100))) == "<list of length 100>"
    assert _checks.show("x") == "'x'"
    assert str(_checks.bad("a[2]", NAN, "is bad", "pass a good one")) == \
        "a[2]=nan: is bad; pass a good one"
    assert isinstance(_checks.bad("a", 1, "p", "f", kind=TypeError), TypeError)
