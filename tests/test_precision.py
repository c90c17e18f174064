"""The precision policy (docs/conventions.md section 6), read off the compiled programs: every
product of the theory functions and of the training programs carries full float32 precision
(``HIGHEST``) whatever JAX's default, and ``TrainConfig(matmul_precision=...)`` sets the training
programs' precision. Each check runs under a *reduced* outer default (``bfloat16``), so a product
that does not set its own precision shows up as ``DEFAULT`` and fails the test (on a CPU the
numbers would not tell: CPUs compute float32 products in full whatever the setting)."""
from __future__ import annotations

import json
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from l2theory import _precision, data, kernels, solvers, train
from l2theory._cli import training as cli
from l2theory._experiments import fc_network, hessian
from l2theory._practice.train import engine as engine_mod
from l2theory._theory import gradient_flow

_PRODUCT = re.compile(r"stablehlo\.(dot_general|convolution)")
_PRECISION = re.compile(r"precision(?:_config)? = \[(?:#stablehlo<precision )?(\w+)>?, "
                        r"(?:#stablehlo<precision )?(\w+)>?\]")


def product_precisions(lowered) -> list[tuple[str, str]]:
    """``(kind, precision)`` of every dot_general and convolution of a lowered program."""
    out = []
    for line in lowered.as_text().splitlines():
        kind = _PRODUCT.search(line)
        if kind:
            lhs, rhs = _PRECISION.search(line).groups()
            assert lhs == rhs, line
            out.append((kind.group(1), lhs))
    return out


def assert_all(lowered, precision: str, kinds=("dot_general",)) -> None:
    found = product_precisions(lowered)
    for kind in kinds:
        assert any(k == kind for k, _ in found), f"no {kind} in the program"
    assert {p for _, p in found} == {precision}, found


@pytest.fixture
def reduced_default():
    """An outer default of one bfloat16 pass (``DEFAULT`` in the program text)."""
    with jax.default_matmul_precision("bfloat16"):
        yield


X = np.random.default_rng(0).normal(size=(6, 5)).astype(np.float32)


def test_the_outer_default_is_seen_by_an_unscoped_product(reduced_default):
    """The test's premise: without a scope of its own a product shows the outer default."""
    assert_all(jax.jit(lambda a: a @ a.T).lower(X), "DEFAULT")
    assert_all(jax.jit(_precision.full_precision(lambda a: a @ a.T)).lower(X), "HIGHEST")


def test_analytic_and_empirical_kernels_use_full_precision(reduced_default):
    assert_all(jax.jit(lambda x: kernels.fc_relu(x, depth=3)).lower(X), "HIGHEST")

    def apply_fn(p, x):
        return jnp.tanh(x @ p["w1"]) @ p["w2"]

    params = {"w1": jnp.ones((5, 4)), "w2": jnp.ones((4, 3))}
    assert_all(jax.jit(lambda x: kernels.empirical_ntk(apply_fn, params, x)).lower(X), "HIGHEST")
    # the layer-by-layer empirical NTK of the theory comparison, and the Hessian's HVP
    net = fc_network.fc_config(depth=2, width=4, lam=1e-2, lr=0.5, steps=1).build_model(3)
    p, _ = net.init(jax.random.key(0), (5,))
    assert_all(jax.jit(lambda x: fc_network._fc_ntk(p, x, 2, 2 ** 0.5)).lower(X), "HIGHEST")
    hvp, n, _ = hessian.hvp_fn(lambda q: jnp.sum(net.apply(q, {}, X, False)[0] ** 2), p)
    assert_all(hvp.lower(jnp.ones(n)), "HIGHEST")


def test_solvers_and_kernel_adapters_compute_in_full_precision(monkeypatch, reduced_default):
    """The exact solver's products (eager, so spied on) run with full precision in force."""
    seen = []

    class Spy:
        def __getattr__(self, name):
            fn = getattr(jnp, name)
            if name not in ("einsum", "matmul"):
                return fn

            def spied(*args, **kwargs):
                seen.append(jax.config.jax_default_matmul_precision)
                return fn(*args, **kwargs)
            return spied

    monkeypatch.setattr(gradient_flow, "jnp", Spy())
    _, k = kernels.fc_relu(X, depth=2)
    flow = solvers.L2GradientFlow(k, X[:, :2], lam=1e-2, lr=0.5, degree=2)
    flow.predict([0.0, 1.0], k[:3])
    flow.predict_test([1.0], k[:3])
    assert seen and set(seen) == {"float32"}, seen
    kernel_fn = lambda x1, x2=None: (None, jnp.asarray(  # noqa: E731
        [[jax.config.jax_default_matmul_precision == "float32"]]))
    assert kernels.ntk_matrices(kernel_fn, X)[0].all()


@pytest.fixture(scope="module")
def tiny():
    rng = np.random.default_rng(0)
    return data.Dataset(rng.random((16, 6, 6, 1), np.float32), rng.integers(0, 3, 16),
                        rng.random((8, 6, 6, 1), np.float32), rng.integers(0, 3, 8))


def _programs(config, dataset):
    """The lowered segment (2 full-batch steps) and evaluation programs of a one-lane engine."""
    engine = engine_mod.Engine(config, dataset, 1)
    state = engine.init(engine.hyper([0.1], [1e-3], [0], [2]))
    t = jnp.asarray(0, jnp.int32)
    fresh = jnp.asarray(True)  # the first piece after an evaluation
    return (engine.programs.segment.lower(state, 2, t, engine.train_data, (), fresh),
            engine.programs.evaluate.lower(state, t, engine.eval_data))


@pytest.mark.parametrize("model", ["fc", "cnn"])
@pytest.mark.parametrize("precision, compute_dtype, expected", [
    (None, None, "HIGHEST"),                 # the default: full float32
    ("highest", "bfloat16", "HIGHEST"),      # asked for explicitly
    ("tensorfloat32", None, "HIGH"),
    ("default", None, "DEFAULT"),            # not forced: the caller's (here bfloat16) default
    (None, "bfloat16", "DEFAULT"),           # bf16 compute asks for reduced precision already
])
def test_training_programs_carry_the_configs_precision(tiny, reduced_default, model, precision,
                                                       compute_dtype, expected):
    width = [4] if model == "cnn" else 8
    cfg = train.TrainConfig(model=model, depth=2 if model == "fc" else 1, width=width,
                            batch_size=None, train_eval_size=None, eval_batch_size=8,
                            matmul_precision=precision, compute_dtype=compute_dtype)
    kinds = ("dot_general", "convolution") if model == "cnn" else ("dot_general",)
    for lowered in _programs(cfg, tiny):
        assert_all(lowered, expected, kinds)


def test_the_precision_is_a_checked_config_field_with_a_cli_flag_and_a_record(tiny):
    with pytest.raises(ValueError, match=r"matmul_precision='tf32': unknown matmul_precision; "
                                         r"valid: 'highest', 'tensorfloat32', 'bfloat16'"):
        train.TrainConfig(matmul_precision="tf32")
    assert train.TrainConfig().matmul_precision_in_force == "highest"
    assert train.TrainConfig(compute_dtype="bfloat16").matmul_precision_in_force == "default"
    placement = engine_mod.Placement(jax.devices()[:1])
    keys = {engine_mod.program_key(train.TrainConfig(matmul_precision=p), tiny, 1, placement)
            for p in (None, "highest", "tensorfloat32")}
    assert len(keys) == 2  # None and "highest" are the same programs
    args = cli.train_parser().parse_args(["--matmul-precision", "tensorfloat32"])
    assert cli._config(args).matmul_precision == "tensorfloat32"
    assert "--matmul-precision" in cli.train_parser().format_help()
    env = train.environment(train.TrainConfig(matmul_precision="bfloat16"))
    assert env["matmul_precision"] == "bfloat16"
    assert env["jax_default_matmul_precision"] == jax.config.jax_default_matmul_precision


def test_a_sweep_records_its_precision(tiny, tmp_path):
    cfg = train.TrainConfig(depth=2, width=4, steps=2, eval_every=2, batch_size=None,
                            train_eval_size=None, matmul_precision="tensorfloat32")
    train.sweep(cfg, tiny, lam=[1e-3], lr=[0.1], seeds=[0], out=tmp_path, progress=False)
    env = json.loads((tmp_path / "environment.json").read_text())[-1]
    assert env["matmul_precision"] == "tensorfloat32"
