"""Bad inputs a new user met: each is one line naming the option or argument and the fix, raised
before any work is done, with nothing written and no numpy warning leaking out."""
from __future__ import annotations

import inspect
import time
import warnings

import numpy as np
import pytest

from l2theory import data, experiments, kernels, train
from l2theory.cli import main

TINY = ["--n-train", "200", "--n-test", "100", "--depth", "2", "--width", "16", "--steps", "20",
        "--eval-every", "10", "--batch-size", "50"]


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def _cli_error(argv, capsys, status=2) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a numpy RuntimeWarning would fail here
        start = time.perf_counter()
        assert main(argv) == status, argv
        elapsed = time.perf_counter() - start
    captured = capsys.readouterr()
    return _one_line(captured.err), elapsed, captured.out


def test_demo_with_no_training_points(capsys, tmp_path):
    line, _, out = _cli_error(["demo", "--n-train", "0", "--out", str(tmp_path / "d")], capsys)
    assert line == ("l2theory demo: error: --n-train=0: must be in [10, 2000] (at least one image "
                    "per class, at most the shipped subset's 2000); e.g. --n-train 1000")
    assert out == "" and not (tmp_path / "d").exists()


@pytest.mark.parametrize("argv", [["demo"], ["train", *TINY, "--no-predict"],
                                  ["sweep", *TINY, "--lam", "0", "--lr", "1"]])
def test_an_out_folder_that_cannot_be_created_fails_first_naming_out(argv, capsys):
    """/proc accepts no folders even for root (whom os.access would let pass): the folder is
    tried, and the command fails in well under a second, before any computation."""
    line, elapsed, out = _cli_error([*argv, "--out", "/proc/x"], capsys)
    assert line == (f"l2theory {argv[0]}: error: --out='/proc/x': cannot create this folder (No "
                    "such file or directory); pass a folder you can write to"
                    + (", or --out none to write nothing" if argv[0] != "demo" else ""))
    assert elapsed < 5 and out == ""


def test_sweep_into_a_folder_that_cannot_be_created(tmp_path):
    ds = data.load("fashion_mnist_subset", n_train=100, n_test=50)
    with pytest.raises(ValueError) as e:
        train.sweep(train.TrainConfig(depth=2, width=8, steps=2), ds, lam=[0.0], lr=[0.1],
                    seeds=[0], out="/proc/xx", progress=False)
    assert str(e.value) == ("out='/proc/xx': cannot create this folder (No such file or "
                            "directory); pass a folder you can write to")


def test_kernels_refuse_nan_inputs():
    x = np.random.default_rng(0).normal(size=(5, 4))
    x[2, 1] = np.nan
    with pytest.raises(ValueError) as e:
        kernels.fc_relu(x, depth=3)
    assert str(e.value).startswith("x1=<array of shape (5, 4)>: has non-finite entries (nan or "
                                   "inf) in 1 of 5 rows (the first: row 2)")
    with pytest.raises(ValueError, match=r"^x2=.*non-finite"):
        kernels.fc_relu(np.ones((3, 4)), x, depth=2)
    with pytest.raises(ValueError, match=r"^x1=.*non-finite"):
        kernels.conv_relu(x.reshape(5, 2, 2, 1), depth=1)


def test_data_load_subset_sizes():
    with pytest.raises(ValueError) as e:
        data.load("fashion_mnist_subset", n_train=0)
    assert str(e.value) == ("n_train=0: a subset size must be an int >= 1; e.g. n_train=1000, "
                            "or None for the whole split")
    # fewer than one per class: the documented stratified subset (one example each of 7
    # classes), not silent: a warning naming the argument
    with pytest.warns(data.FewerThanClasses) as caught:
        seven = data.load("fashion_mnist_subset", n_train=7)
    assert str(caught[0].message) == (
        "n_train=7: fewer than the 10 classes of the train split of 'fashion_mnist_subset': the "
        "class-stratified subset holds one example of 7 of them (the largest remainders, ties by "
        "the seed); pass n_train >= 10 for every class")
    assert len(set(seven.y_train.tolist())) == 7 and seven.n_train == 7
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert data.load("fashion_mnist_subset", n_train=7, stratify=False).n_train == 7
    ten = data.load("fashion_mnist_subset", n_train=10, n_test=10)
    assert sorted(np.unique(ten.y_train).tolist()) == list(range(10))
    with pytest.raises(ValueError, match=r"^n_test=0: "):
        data.load(ten, n_test=0)


def test_predict_network_at_lam_zero_names_an_argument_it_has():
    cfg = train.TrainConfig(depth=2, width=8, loss="mse", lam=0.0)
    with pytest.raises(ValueError) as e:
        experiments.predict_network(cfg, n_train=20, n_test=20)
    assert str(e.value) == ("t=None: config.lam = 0 has no natural time scale for the default "
                            "grid of times; pass t, a grid of steps (e.g. np.geomspace(1, 1e6, "
                            "400)), or a config with lam > 0")
    # the argument named is one predict_network has (it once named a t_max it did not have)
    assert "t" in inspect.signature(experiments.predict_network).parameters


def test_fc_width_per_layer_suggests_one_width():
    with pytest.raises(TypeError) as e:
        train.TrainConfig(model="fc", width=(16, 32))
    assert str(e.value) == ("width=(16, 32): model 'fc' takes one width for every hidden layer "
                            "(one width per layer is for model='cnn'); pass an int, e.g. "
                            "width=32")
    assert train.TrainConfig(model="fc", width=32).build_model(10) is not None


def test_a_typo_in_an_option_or_a_command_gets_a_suggestion(capsys):
    line, _, _ = _cli_error(["train", "--lrr", "0.1", "--depht", "3"], capsys)
    assert line == ("l2theory train: error: unrecognized arguments: --lrr 0.1 --depht 3 (did you "
                    "mean --lr for --lrr, --depth for --depht?); see `l2theory train --help`")
    line, _, _ = _cli_error(["predcit"], capsys)
    assert line.startswith("l2theory: unknown command 'predcit'; did you mean 'predict'?")


def test_a_diverged_run_exits_non_zero_saying_so(capsys):
    line, _, out = _cli_error(["train", *TINY, "--lr", "1e6", "--out", "none", "--no-progress",
                               "--no-predict"], capsys, status=1)
    assert line.startswith("l2theory train: 1 of 1 run(s) diverged (a non-finite loss, or "
                           "||theta||^2 beyond 100.0 x its initial value; see "
                           "--divergence-norm-factor): run 0 (lam 0, lr 1e+06) at step ")
    assert line.endswith("; lower --lr")
    assert "yes (step" in out  # the table says it too


def test_the_commands_refuse_fewer_training_points_than_classes(capsys, tmp_path):
    line, _, out = _cli_error(["train", *TINY[2:], "--n-train", "7", "--no-predict",
                               "--out", str(tmp_path / "t")], capsys)
    assert line.startswith("l2theory train: error: --n-train=7: fewer than the 10 classes")
    assert line.endswith("pass --n-train >= 10 for every class")
    assert not (tmp_path / "t").exists()
