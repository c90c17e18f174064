"""The command line, ``l2theory <command>``: a user error is one line on stderr with exit status 2
and no traceback (``--debug``/``L2THEORY_DEBUG=1`` raise instead); Ctrl-C says what is saved
(exit 130) and a rerun says where it resumes and ends with the uninterrupted results; ``--help``
gives each option's meaning, unit and choices; negative numbers reach the validators;
``--version``; CNN widths as lists; progress labels and the figures' progress lines."""
from __future__ import annotations

import dataclasses
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import l2theory
from l2theory import train
from l2theory._cli import training
from l2theory._practice.train import engine as engine_mod
from l2theory.cli import main

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--n-train", "200", "--n-test", "100", "--depth", "2", "--width", "16", "--steps", "20",
        "--eval-every", "10", "--batch-size", "50"]


def _env(**extra) -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
            **extra}


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"l2theory {l2theory.__version__}\n"


@pytest.mark.parametrize("command", ["train", "sweep"])
def test_help_gives_meaning_unit_and_choices(command, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")  # no line wrapping inside what is checked
    assert main([command, "--help"]) == 0
    text = capsys.readouterr().out
    for option in ("--loss {xent,mse}", "--lr-schedule {constant,step,cosine}",
                   "--lam-schedule {constant,autol2}", "--dtype {float32,float64}",
                   "--compute-dtype {float32,bfloat16,float16,float64,none}",
                   "--activation {relu,", "--parameterization {ntk,standard}",
                   "--steps STEPS", "--eval-every STEPS", "--lr-decay-at FRACTION", "--debug"):
        assert option in text, option
    assert "Choices: fc (= fully_connected), cnn, wrn (= wide_resnet), wrn-DEPTH-WIDEN" in text
    assert re.search(r"--steps STEPS\s+number of gradient steps", text)
    assert re.search(r"--lr-decay-factor FACTOR\s+see --lr-schedule", text)
    # a setting of one mode: its default there, and the option that turns the mode on
    assert "[default: 0.2; counts only with --lr-schedule step]" in text
    assert "[default: 1.0; counts only with --mixup]" in text
    assert "[default: 100; counts only with --evals-per-decade none]" in text
    assert "theta <- theta - lr * m" in text  # the update rule the options refer to
    if command == "sweep":
        assert re.search(r"--natural-time TAU\s+natural time lam\*lr\*t", text)


def test_every_config_field_has_a_meaning_in_help():
    """From TrainConfig's docstring: its own entry, a shared entry, or an entry naming it."""
    entries = training.field_docs()
    documented = {n for names, _ in entries for n in names}
    for f in dataclasses.fields(train.TrainConfig):
        assert f.name in documented or any(re.search(rf"\b{f.name}\b", t) for _, t in entries), \
            f"TrainConfig.{f.name} has no entry in the Attributes section"


def test_user_errors_are_one_line_with_status_2(tmp_path, capsys):
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    cases = [
        (["train", *TINY, "--lam", "-1e-3", "--out", "none"], "lam=-0.001: "),
        (["sweep", *TINY, "--lam", "1e-3", "-1e-3", "--lr", "1", "--out", "none"], "=-0.001: "),
        (["train", *TINY, "--lr", "-inf", "--out", "none"], "lr=-inf: "),
        (["train", *TINY, "--loss", "hinge"], "valid: 'xent', 'mse'"),
        (["train", *TINY, "--evals-per-decade", "8", "--out", "none"],
         "eval_every=10: has no effect with evals_per_decade=8; pass evals_per_decade=None"),
        (["train", *TINY, "--lr-decay-factor", "0.5", "--out", "none"],
         "lr_decay_factor=0.5: has no effect with lr_schedule='constant'; pass "
         "lr_schedule='step'"),
        (["sweep", *TINY, "--lam", "1e-3", "--lr", "1", "--natural-time", "0.1", "--out", "none"],
         "--steps=20: has no effect with --natural-time 0.1 (each run takes ceil(TAU / (lam lr)) "
         "steps); drop --steps"),
        (["train", "--steps", "ten"], "argument --steps: invalid int value: 'ten'"),
        (["sweep", "--lr", "1"], "the following arguments are required: --lam"),
        (["train", *TINY, "--out", str(a_file / "run")], f"{a_file} is a file, not a folder"),
        (["sweep", *TINY, "--lam", "0", "--lr", "1", "--out", str(a_file)], "is a file"),
        (["demo", "--out", str(a_file / "demo")], "--out="),
        (["demo", "--n-train", "-5", "--out", str(tmp_path / "demo")],
         "--n-train=-5: must be in [10, 2000]"),
        (["figures", "--out", str(a_file / "figures")], "--out="),
        (["figures", "--only", "nope"], "invalid choice: 'nope'"),
        (["nope"], "unknown command 'nope'"),
    ]
    for argv, expected in cases:
        assert main(argv) == 2, argv
        line = _one_line(capsys.readouterr().err)
        assert line.startswith(f"l2theory {argv[0]}") or argv == ["nope"], line
        assert expected in line, (argv, line)
    assert not (tmp_path / "demo").exists()  # nothing created by a failed command


def test_debug_shows_the_traceback(monkeypatch):
    with pytest.raises(ValueError, match=r"^loss='hinge': unknown loss"):
        main(["train", "--loss", "hinge", "--debug"])
    monkeypatch.setenv("L2THEORY_DEBUG", "1")
    with pytest.raises(ValueError, match=r"^loss='hinge': unknown loss"):
        main(["train", "--loss", "hinge"])


def test_missing_dataset_is_reported_without_traceback(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "l2theory", "train", "--dataset", "mnist", *TINY, "--out", "none"],
        cwd=tmp_path, env=_env(L2THEORY_DATA=str(empty), HOME=str(empty)), capture_output=True,
        text=True, timeout=300)
    assert proc.returncode == 2 and proc.stdout == "", proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("l2theory train: error: dataset 'mnist' not found on disk")
    assert f"  {empty / 'mnist'}  [$L2THEORY_DATA]" in proc.stderr
    assert "How to get it" in proc.stderr


def test_width_takes_one_value_or_one_per_layer():
    parse = training.train_parser().parse_args
    cnn = training._config(parse(["--model", "cnn", "--depth", "2", "--width", "8", "16"]))
    assert list(cnn.width) == [8, 16]
    assert cnn.build_model(10) is not None
    assert training._config(parse(["--width", "16"])).width == 16
    # options not given keep TrainConfig's defaults (the model fields: the family's own), but
    # for the loss: the commands' default is MSE (training.CLI_DEFAULTS)
    assert training._config(parse([])) == train.TrainConfig(loss="mse")


def test_train_progress_bar_says_train(capsys):
    assert main(["train", *TINY, "--out", "none", "--no-predict"]) == 0
    captured = capsys.readouterr()
    assert "train:" in captured.err and "sweep" not in captured.err
    assert "best_acc" in captured.out


def test_interrupted_train_says_what_is_saved(tmp_path, capsys, monkeypatch):
    """Ctrl-C (a KeyboardInterrupt at an evaluation) in train: one line, status 130."""
    on_eval = engine_mod.ProgressBar.on_eval

    def interrupt_at_step_20(self, state, t, rows, n_steps):
        on_eval(self, state, t, rows, n_steps)
        if t == 20:
            raise KeyboardInterrupt

    monkeypatch.setattr(engine_mod.ProgressBar, "on_eval", interrupt_at_step_20)
    assert main(["train", *TINY, "--out", "none", "--no-progress", "--no-predict"]) == 130
    assert _one_line(capsys.readouterr().err) == (
        "l2theory train: interrupted at step 20; nothing was saved (--out none)")
    out = tmp_path / "run"
    assert main(["train", *TINY, "--out", str(out), "--checkpoint-every", "1",
                 "--no-progress", "--no-predict"]) == 130
    assert _one_line(capsys.readouterr().err) == (
        f"l2theory train: interrupted at step 20; checkpoint in {out} at step 10; rerun the "
        "same command to resume")


# A real Ctrl-C (SIGINT) to the command, with checkpoints slowed down so that it arrives mid-run.
SCRIPT = textwrap.dedent("""
    import signal, sys, time
    from l2theory._practice.train import results

    save = results.save_npz

    def slow_save(path, arrays):
        save(path, arrays)
        if "checkpoints" in str(path):
            time.sleep(0.4)

    results.save_npz = slow_save
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started ignoring SIGINT
    from l2theory.cli import main
    sys.exit(main(sys.argv[1:]))
""")


def test_ctrl_c_on_sweep_then_rerun_resumes_to_the_uninterrupted_results(tmp_path, capsys):
    out = tmp_path / "sweep"
    argv = ["sweep", *TINY, "--steps", "100", "--lam", "0", "1e-2", "--lr", "0.5", "1",
            "--chunk-size", "2", "--checkpoint-every", "2"]
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, *argv, "--out", str(out),
                             "--no-progress"], cwd=tmp_path, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = out / "checkpoints" / "chunk-00000.npz"
    deadline = time.time() + 180
    while not first.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert first.exists(), proc.communicate()[1][-3000:]
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    line = _one_line(stderr)
    saved = re.fullmatch(
        rf"l2theory sweep: interrupted at chunk 1/2, step \d+; checkpoint in {re.escape(str(out))}"
        r" at chunk 1/2, step (\d+) \(0 of 2 chunks done\); rerun the same command to resume",
        line)
    assert saved, line
    assert not (out / "results.npz").exists()

    assert main([*argv, "--out", str(out)]) == 0  # progress on: says where it resumes
    assert (f"resuming {out} at chunk 1/2, step {saved.group(1)} (0 of 2 chunks done)"
            in capsys.readouterr().err)
    assert main([*argv, "--out", str(tmp_path / "clean"), "--no-progress"]) == 0
    resumed = train.load_results(out / "results.npz")
    clean = train.load_results(tmp_path / "clean" / "results.npz")
    assert resumed.keys() == clean.keys()
    for k in clean:
        np.testing.assert_array_equal(resumed[k], clean[k], err_msg=k)
    assert main([*argv, "--out", str(out)]) == 0  # finished: read back, says so
    assert "finished: returning its results" in capsys.readouterr().err


def test_figures_report_each_figure_and_missing_datasets(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("L2THEORY_DATA", str(tmp_path / "empty"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert main(["figures", "--preset", "paper", "--only", "collapse", "fig1", "--out",
                 str(tmp_path / "out")]) == 2
    captured = capsys.readouterr()
    assert "[1/2] collapse\n" in captured.out and "[2/2] fig1\n" in captured.out
    lines = captured.err.strip().splitlines()
    assert lines[:2] == ["[1/2] collapse: not run: dataset 'mnist' is not on disk",
                         "[2/2] fig1: not run: dataset 'cifar10' is not on disk"]
    assert len(lines) == 3 and lines[2].startswith(
        "l2theory figures: error: 2 of 2 figures not run, their datasets are not on disk: "
        "collapse ('mnist'), fig1 ('cifar10');")
    assert "How to get it" in (tmp_path / "out" / "REPORT.md").read_text()


def test_theory_vs_practice_reports_each_width_and_seed(capsys):
    from l2theory import experiments

    experiments.theory_vs_practice(widths=[8], seeds=[0, 1], n_train=8, n_test=16, n_records=4,
                                   window=(0.05, 0.5), linearized=False, progress=True)
    err = capsys.readouterr().err
    assert re.search(r"\[1/2\] width 8, seed 0: distance to the flow \d\.\d+", err), err
    assert re.search(r"\[2/2\] width 8, seed 1: ", err), err
