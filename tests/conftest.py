"""Shared fixtures. Tests that need float64 take the ``x64`` fixture (JAX x64 on, then restored),
so the default float32 behaviour of the other tests is not changed. ``resumed_sweep`` runs a sweep
that crashes after its second checkpoint, then resumes it.

Precision: every test compares with a reference, so the whole session (and the subprocesses it
starts, through the environment) runs at JAX's full float32 matmul precision
(``docs/conventions.md`` section 6); on an NVIDIA GPU JAX's default would be TF32. The package's
own policy - its theory functions and training programs set the precision themselves, whatever
this default - is tested in ``tests/test_precision.py`` under other defaults.
"""
import os

os.environ["JAX_DEFAULT_MATMUL_PRECISION"] = "float32"  # before JAX reads it (subprocesses too)

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_default_matmul_precision", "float32")

from l2theory import _x64


@pytest.fixture
def x64():
    with _x64.x64():
        yield


@pytest.fixture
def resumed_sweep(monkeypatch):
    """``f(config, dataset, out, **kw)``: ``train.sweep`` into ``out`` interrupted (as by a crash)
    right after writing its second checkpoint, then called again to resume; returns the resumed
    table."""
    from l2theory import train
    from l2theory._practice.train import results

    def run(config, dataset, out, **kw):
        save, calls = results.save_npz, []

        def crash_after_two_checkpoints(path, arrays):
            save(path, arrays)
            calls.append(path)
            if "checkpoints" in str(path) and len(calls) == 2:
                raise KeyboardInterrupt

        monkeypatch.setattr(results, "save_npz", crash_after_two_checkpoints)
        with pytest.raises(KeyboardInterrupt):
            train.sweep(config, dataset, out=out, **kw)
        monkeypatch.setattr(results, "save_npz", save)
        return train.sweep(config, dataset, out=out, **kw)

    return run


# The slowest checks (measured with --durations on 2 CPU cores; each repeats what a cheaper test
# here already checks at another size, case or process count). `bash tests/run.sh` - README's
# and CI's test command, held under 15 minutes on 2 cores - leaves them out; with
# L2THEORY_TESTS=all it runs them too, as benchmarks/gpu_check.sh does.
SLOW = (
    "tests/test_solver_mse.py::test_mse_matches_high_precision_integration[*-2]",
    "tests/test_solver_mse.py::test_mse_matches_high_precision_integration[*-4]",
    "tests/test_solver_mse.py::test_mse_matches_high_precision_integration[*-5]",
    "tests/test_solver_xent_linearized.py::test_peak_of_test_loss_matches_brute_force",
    "tests/test_readme.py::test_readme_example_runs",
    "tests/test_sweep.py::test_several_devices_give_the_same_rows",
    "tests/test_network_theory.py::test_empirical_flow_is_the_network_at_initialization",
    "tests/test_network_theory.py::test_wide_resnet_without_batchnorm_with_the_euler_degree",
    "tests/test_kernels.py::test_empirical_ntk_equals_jacobian_product",
    "tests/test_kernels.py::test_empirical_ntk_of_wide_cnn_approaches_conv_relu",
    "tests/test_batchnorm.py::test_groups_give_the_outputs_and_the_gradient_of_separate_batches[wrn-*",
    "tests/test_distributed.py::test_processes_that_disagree_stop_together_with_one_clear_error",
    "tests/test_distributed.py::test_killed_and_resumed_two_processes_give_one_process_rows_bit_for_bit",
    "tests/test_distributed.py::test_load_results_combines_the_parts_of_the_processes",
    "tests/test_solver_krylov.py::test_krylov_matches_eigh_on_random_psd_kernels",
    "tests/test_solver_krylov.py::test_krylov_matches_eigh_on_fashion_mnist_kernels[3-0.001]",
    "tests/test_kernels.py::test_empirical_ntk_of_wide_relu_net_approaches_fc_relu",
    "tests/test_autol2.py::test_mixup_lanes_equal_solo_runs",
    "tests/test_experiments.py::test_hessian_at_several_late_times_continues_one_run",
    # the experiments the figures' tiny runs (tests/test_figures.py) run end to end
    "tests/test_experiments.py::test_theory_vs_practice_tiny",
    "tests/test_experiments.py::test_budget_comparison_tiny",
    "tests/test_experiments.py::test_predict_lam_opt_tiny",
    "tests/test_network_theory.py::test_cnn_theory_vs_practice_tiny",
    "tests/test_network_theory.py::test_cnn_theory_vs_practice_other_networks_by_their_empirical_ntk",
)


def pytest_collection_modifyitems(config, items):
    """Mark the tests of ``SLOW`` (node ids, every parametrization of one named without brackets;
    ``*`` matches any text, brackets are literal)."""
    import re

    slow = re.compile("|".join(re.escape(p).replace(r"\*", ".*") + ("" if "[" in p else r"(\[.*\])?")
                               for p in SLOW))
    for item in items:
        if slow.fullmatch(item.nodeid.replace("\\", "/")):
            item.add_marker(pytest.mark.slow)
