"""A plain (non-editable) install works outside the checkout: the figure code, the shipped data
subset and the CLI come with the package; nothing reaches back into the repository."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """``pip install --no-deps --target`` of the repository: a regular wheel build and install."""
    target = tmp_path_factory.mktemp("site")
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                           "--no-compile", "--target", str(target), str(REPO)],
                          capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        pytest.fail(f"pip install of the repository failed:\n{proc.stderr[-3000:]}")
    return target


def _run(target, cwd, *args):
    env = {**os.environ, "PYTHONPATH": str(target), "JAX_PLATFORMS": "cpu"}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


def test_installed_package_is_used_and_ships_figures_and_data(installed, tmp_path):
    code = ("import l2theory, l2theory.figures.make_all as m; from l2theory import data; "
            "ds = data.load('fashion_mnist_subset'); "
            "print(l2theory.__file__); print(m.__file__); print(ds.n_train, ds.n_test)")
    proc = _run(installed, tmp_path, "-c", code)
    assert proc.returncode == 0, proc.stderr
    pkg, figures, sizes = proc.stdout.split("\n")[:3]
    assert pkg.startswith(str(installed)) and figures.startswith(str(installed))
    assert sizes == "2000 1000"


def test_installed_figures_command_runs_outside_the_checkout(installed, tmp_path):
    proc = _run(installed, tmp_path, "-m", "l2theory.cli", "figures", "--tiny", "--only",
                "theory", "--out", "figs")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "figs" / "REPORT.md").is_file()
    assert (tmp_path / "figs" / "theory" / "theory.png").is_file()
