"""``l2theory train`` and ``l2theory sweep``: the training engine from the command line.

Every ``TrainConfig`` field is an option (``--batch-size 128``, ``--lr-schedule step``,
``--no-center-targets``, ``--model-kw widen=4``); ``--help`` lists them. Both commands write a
results directory (``--out``, default ``runs/<command>-<time>``; see
``l2theory._practice.train.results``), show a progress bar and print a summary table. Running the
same command again with the same ``--out`` resumes an interrupted run, or prints the stored result.

Examples::

    l2theory train --dataset fashion_mnist_subset --model fc --depth 3 --width 256 \\
        --lr 1 --lam 1e-3 --batch-size 128 --steps 2000
    l2theory sweep --lam 1e-4 1e-3 1e-2 --lr 0.1 0.2 --seeds 0 1 --natural-time 2 \\
        --dataset fashion_mnist_subset --model fc --depth 3 --width 256 --out runs/sweep1
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import sys
from typing import Any, Sequence

from l2theory._practice.train.config import TrainConfig

# Fields the sweep grid sets (its own options take lists).
_GRID_FIELDS = ("lam", "lr", "seed")


def _optional(kind):
    def parse(text: str):
        return None if text.lower() == "none" else kind(text)

    parse.__name__ = kind.__name__
    return parse


def _kwarg(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def _add_config_options(parser: argparse.ArgumentParser, skip: Sequence[str] = ()) -> None:
    group = parser.add_argument_group("training settings (TrainConfig fields; see its docstring)")
    for f in dataclasses.fields(TrainConfig):
        if f.name in skip:
            continue
        flag = "--" + f.name.replace("_", "-")
        default = f.default if f.default is not dataclasses.MISSING else None
        kind = str(f.type)
        help_ = f"default: {default!r}"
        if f.name == "model_kwargs":
            group.add_argument("--model-kw", dest="model_kwargs", action="append", type=_kwarg,
                               metavar="KEY=VALUE", default=[],
                               help="extra model constructor argument (JSON value), repeatable")
        elif f.name == "lr_decay_at":
            group.add_argument(flag, type=float, nargs="+", default=list(default), help=help_)
        elif kind.startswith("bool"):
            group.add_argument(flag, action=argparse.BooleanOptionalAction, default=default,
                               help=help_)
        else:
            base = {"int": int, "float": float, "str": str}[kind.split()[0].split("|")[0]]
            parse = _optional(base) if "None" in kind else base
            group.add_argument(flag, type=parse, default=default, help=help_)


def _add_io_options(parser: argparse.ArgumentParser, command: str) -> None:
    group = parser.add_argument_group("data and output")
    group.add_argument("--dataset", default="fashion_mnist_subset",
                       help="dataset name for l2theory.data.load (default: the shipped "
                            "fashion_mnist_subset; full sets are found via $L2THEORY_DATA)")
    group.add_argument("--data-root", default=None, help="folder searched first for the files")
    group.add_argument("--n-train", type=int, default=None, help="training subset size")
    group.add_argument("--n-test", type=int, default=None, help="test subset size")
    group.add_argument("--data-seed", type=int, default=0, help="seed of the subsets")
    group.add_argument("--standardize", action=argparse.BooleanOptionalAction, default=False,
                       help="per-channel standardization with training-set statistics")
    group.add_argument("--x64", action="store_true", help="enable float64 (for --dtype float64)")
    group.add_argument("--out", default=None,
                       help=f"results directory (default: runs/{command}-<time>; 'none': no files)")
    group.add_argument("--no-progress", action="store_true", help="no progress bar")
    group.add_argument("--checkpoint-every", type=int, default=10,
                       help="checkpoint every this many evaluations (default: 10)")


def _config(args: argparse.Namespace, **overrides) -> TrainConfig:
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)
              if hasattr(args, f.name)}
    values["model_kwargs"] = dict(args.model_kwargs)
    values["lr_decay_at"] = tuple(args.lr_decay_at)
    values.update(overrides)
    return TrainConfig(**values)


def _dataset(args: argparse.Namespace):
    from l2theory import data

    ds = data.load(args.dataset, root=args.data_root, n_train=args.n_train, n_test=args.n_test,
                   seed=args.data_seed)
    return data.standardize(ds) if args.standardize else ds


def _out(args: argparse.Namespace, command: str) -> str | None:
    if args.out is not None:
        return None if args.out.lower() == "none" else args.out
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"runs/{command}-{stamp}"


def summary(table: dict) -> str:
    """One line per run: its settings, final and best test accuracy, divergence."""
    import numpy as np

    head = (f"{'run':>4} {'lam':>9} {'lr':>9} {'seed':>4} {'steps':>8} {'train_loss':>10} "
            f"{'test_acc':>8} {'best_acc':>8} {'@step':>8}  diverged")
    lines = [head, "-" * len(head)]
    runs = table["run"] if "run" in table else np.zeros(len(table["step"]), int)
    for run in np.unique(runs):
        m = runs == run
        acc = table["test_acc"][m]
        best = int(np.nanargmax(np.where(np.isfinite(acc), acc, -np.inf)))
        div = int(table["diverged_step"][m][-1])
        lines.append(
            f"{int(run):>4} {float(table['run_lam'][m][0]):>9.3g} {float(table['run_lr'][m][0]):>9.3g} "
            f"{int(table['seed'][m][0]):>4} {int(table['step'][m][-1]):>8} "
            f"{float(table['train_loss'][m][-1]):>10.4g} {float(acc[-1]):>8.4f} "
            f"{float(acc[best]):>8.4f} {int(table['step'][m][best]):>8}  "
            + (f"yes (step {div})" if div >= 0 else "no"))
    return "\n".join(lines)


def _run(args: argparse.Namespace, command: str, lam, lr, seeds, natural_time, chunk_size):
    import jax

    if args.x64:
        jax.config.update("jax_enable_x64", True)
    from l2theory._practice.train.sweep import sweep

    config = _config(args, lam=lam[0], lr=lr[0], seed=seeds[0])
    dataset = _dataset(args)
    out = _out(args, command)
    table = sweep(config, dataset, lam=lam, lr=lr, seeds=seeds, natural_time=natural_time,
                  out=out, chunk_size=chunk_size, progress=not args.no_progress,
                  checkpoint_every=args.checkpoint_every)
    print(summary(table))
    if out:
        print(f"results: {out}/results.csv")
    return 0


def _parser(command: str, description: str) -> argparse.ArgumentParser:
    return argparse.ArgumentParser(
        prog=f"l2theory {command}", description=description)


def train_main(argv: Sequence[str] | None = None) -> int:
    """``l2theory train``: one run of ``TrainConfig``."""
    parser = _parser("train", "Train one network (loss + lam/2 |theta|^2, SGD); rows every "
                     "--eval-every steps, or log-spaced with --evals-per-decade.")
    _add_config_options(parser)
    _add_io_options(parser, "train")
    args = parser.parse_args(argv)
    try:
        return _run(args, "train", [args.lam], [args.lr], [args.seed], None, None)
    except ValueError as e:
        parser.exit(2, f"l2theory train: error: {e}\n")


def sweep_main(argv: Sequence[str] | None = None) -> int:
    """``l2theory sweep``: the lam x lr x seed grid, all runs in one compiled program."""
    parser = _parser("sweep", "Train every (lam, lr, seed) of the grid together (vmap over "
                     "lanes, chunked, sharded over devices, resumable with --out).")
    grid = parser.add_argument_group("grid")
    grid.add_argument("--lam", type=float, nargs="+", required=True, help="L2 coefficients")
    grid.add_argument("--lr", type=float, nargs="+", required=True, help="learning rates")
    grid.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds")
    grid.add_argument("--natural-time", type=float, default=None,
                      help="natural time lam*lr*t per run: each run takes ceil(tau/(lam lr)) "
                           "steps (default: --steps for all)")
    grid.add_argument("--physical-time", type=float, default=None, dest="physical_time",
                      help=argparse.SUPPRESS)  # deprecated name of --natural-time
    grid.add_argument("--chunk-size", type=int, default=None,
                      help="runs per compiled program (default: from a memory estimate)")
    _add_config_options(parser, skip=_GRID_FIELDS)
    _add_io_options(parser, "sweep")
    args = parser.parse_args(argv)
    try:
        if args.physical_time is not None:
            print("l2theory sweep: --physical-time is deprecated; use --natural-time (the same "
                  "value, lam*lr*t)", file=sys.stderr)
            if args.natural_time is None:
                args.natural_time = args.physical_time
        return _run(args, "sweep", args.lam, args.lr, args.seeds, args.natural_time,
                    args.chunk_size)
    except ValueError as e:
        parser.exit(2, f"l2theory sweep: error: {e}\n")


if __name__ == "__main__":
    sys.exit(train_main())
