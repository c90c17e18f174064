"""``l2theory train`` and ``l2theory sweep``: the training engine from the command line.

Every ``TrainConfig`` field is an option (``--batch-size 128``, ``--lr-schedule step``,
``--no-center-targets``, ``--width 16 32`` for a CNN's channels, ``--model-kw widen=4``);
``--help`` lists each with its meaning, unit and choices, read from ``TrainConfig``'s docstring.
An option not given keeps ``TrainConfig``'s default. Both commands write a results directory
(``--out``, default ``runs/<command>-<time>``; see ``l2theory._practice.train.results``), show a
progress bar and print a summary table. Ctrl-C stops with one line saying what is saved; running
the same command again with the same ``--out`` resumes (and says from where), or prints the
stored result. Errors are reported by ``l2theory.cli`` (one line, exit status 2).

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
import inspect
import json
import re
import textwrap
from typing import Any, Sequence

from l2theory import _checks
from l2theory._cli._common import Parser, check_out
from l2theory._practice.train import config as config_mod
from l2theory._practice.train.config import TrainConfig

# Fields the sweep grid sets (its own options take lists).
_GRID_FIELDS = ("lam", "lr", "seed")

# The values a field takes (shown as the option's metavar); the config's own check reports a
# value outside them, so every entry point gives the same message.
_CHOICES = {"loss": config_mod.LOSSES, "lr_schedule": config_mod.LR_SCHEDULES,
            "lam_schedule": config_mod.LAM_SCHEDULES, "dtype": config_mod.PARAM_DTYPES,
            "compute_dtype": config_mod.COMPUTE_DTYPES + ("none",),
            "matmul_precision": config_mod.MATMUL_PRECISIONS + ("none",)}

# Units of the numeric options, as metavars.
_METAVARS = {"steps": "STEPS", "eval_every": "STEPS", "autol2_measure_every": "STEPS",
             "autol2_delay": "DELAY", "lr_decay_at": "FRACTION", "batch_size": "N",
             "train_eval_size": "N", "eval_batch_size": "N", "evals_per_decade": "N",
             "depth": "LAYERS", "width": "UNITS", "lr": "LR", "lam": "LAM",
             "lr_decay_factor": "FACTOR", "autol2_factor": "FACTOR", "seed": "SEED",
             "init_seed": "SEED", "bn_group_size": "N",
             "model": "NAME", "w_std": "STD", "b_std": "STD", "momentum": "BETA"}


def field_docs(cls: type = TrainConfig) -> list[tuple[list[str], str]]:
    """The ``Attributes:`` section of ``cls``'s docstring as ``(names, text)`` entries (one source
    for the docstring and ``--help``): ``name: text`` (``a, b: text`` documents several fields at
    once), continued on more deeply indented lines; double backquotes dropped."""
    section = inspect.getdoc(cls).split("Attributes:", 1)[1]
    entries: list[tuple[list[str], str]] = []
    for line in section.splitlines():
        entry = re.match(r"^ {2}(\w+(?:, \w+)*): (.*)$", line)
        if entry:
            entries.append((entry.group(1).split(", "), entry.group(2)))
        elif line.startswith("    ") and entries:
            entries[-1] = (entries[-1][0], entries[-1][1] + " " + line.strip())
        elif line.strip():
            break
    return [(names, text.replace("``", "")) for names, text in entries]


def _model_names() -> str:
    """The model families, aliases beside their name: ``fc (= fully_connected), cnn, ...``."""
    from l2theory.models import FAMILIES

    names = [f.name + (f" (= {', '.join(f.aliases)})" if f.aliases else "")
             for f in FAMILIES.values()]
    return ", ".join(names + ["wrn-DEPTH-WIDEN (e.g. wrn-28-10)",
                              "wrn-DEPTH-WIDEN-autol2 (google/autol2's WRN)"])


def _choices(field: str) -> tuple[str, ...] | None:
    if field == "activation":
        from l2theory.models import ACTIVATIONS
        return ACTIVATIONS
    if field == "parameterization":
        from l2theory.models import PARAMETERIZATIONS
        return PARAMETERIZATIONS
    return _CHOICES.get(field)


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


def _default_text(f: dataclasses.Field) -> str:
    """``[default: ...]`` of a field's option: its default, the family's own for a model
    setting, and for a setting that counts in one mode only that mode's default and switch."""
    if f.name in config_mod.MODE_OF:
        mode = config_mod.MODE_OF[f.name]
        return (f"{_value_text(mode.defaults[f.name])}; counts only with "
                f"{_as_option(mode.turn_on)}")
    default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
    if default is None:
        return ("the model family's own" if f.name in config_mod.MODEL_FIELDS else "none")
    return _value_text(default)


def _value_text(value: Any) -> str:
    """A value as an option takes it: ``on``/``off``, ``0.3 0.6 0.9``, ``none``."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (tuple, list)):
        return " ".join(str(v) for v in value)
    return str(value) if value not in (None, {}) else "none"


def _as_option(setting: str) -> str:
    """A setting as the options spell it: ``lr_schedule='step'`` -> ``--lr-schedule step``,
    ``mixup=True`` -> ``--mixup``, ``momentum > 0`` -> ``--momentum > 0``."""
    name, sep, value = re.match(r"(\w+)\s*(=?)\s*(.*)", setting).groups()
    flag = "--" + name.replace("_", "-")
    if not sep:
        return f"{flag} {value}"
    if value == "True":
        return flag
    return f"{flag} {value.strip(chr(39)).replace('None', 'none')}"


def _add_config_options(parser: argparse.ArgumentParser, skip: Sequence[str] = ()) -> None:
    """One option per ``TrainConfig`` field, its help from the docstring's ``Attributes:`` entry
    (an entry that documents several fields becomes the description of their own group; a field
    without an entry points at the entry that mentions it). An option not given leaves the field
    at ``TrainConfig``'s default (so the model fields take the chosen family's defaults)."""
    main = parser.add_argument_group("training settings (TrainConfig fields; see the objective "
                                     "and update at the end)")
    entries = field_docs()
    texts = {name: text for names, text in entries for name in names}
    groups = {}
    for names, text in entries:
        if len(names) > 1:
            group = parser.add_argument_group(
                f"{', '.join('--' + n.replace('_', '-') for n in names)} (TrainConfig fields)",
                textwrap.fill(text, 78).replace("%", "%%"))
            groups.update({name: group for name in names})
    for f in dataclasses.fields(TrainConfig):
        if f.name in skip:
            continue
        flag = "--" + f.name.replace("_", "-")
        group = groups.get(f.name, main)
        if group is not main:
            text = ""
        elif f.name in texts:
            text = texts[f.name].replace("see the update above", "see the update at the end")
        else:
            users = [n for names, t in entries for n in names if re.search(rf"\b{f.name}\b", t)]
            text = f"see --{users[0].replace('_', '-')}." if users else ""
        if f.name == "model":
            text += f" Choices: {_model_names()}."
        if f.name == "width":  # a CNN takes one width per layer
            text += " One value, or one per layer (CNN channels: --width 16 32)."
        kw: dict[str, Any] = {
            "default": argparse.SUPPRESS,
            "help": f"{text} [default: {_default_text(f)}]".strip().replace("%", "%%")}
        choices = _choices(f.name)
        if choices:
            kw["metavar"] = "{" + ",".join(choices) + "}"
        elif f.name in _METAVARS:
            kw["metavar"] = _METAVARS[f.name]
        kind = str(f.type)
        if f.name == "model_kwargs":
            group.add_argument("--model-kw", dest="model_kwargs", action="append", type=_kwarg,
                               metavar="KEY=VALUE", default=argparse.SUPPRESS,
                               help=f"{text} One KEY=VALUE (a JSON value) per option, e.g. "
                                    "--model-kw widen=4; repeatable.")
        elif f.name in ("lr_decay_at", "width"):
            group.add_argument(flag, type=float if f.name == "lr_decay_at" else int, nargs="+",
                               **kw)
        elif kind.startswith("bool"):
            group.add_argument(flag, action=argparse.BooleanOptionalAction, **kw)
        else:
            base = next((t for name, t in (("int", int), ("float", float))
                         if kind.split("|")[0].strip() == name), str)
            group.add_argument(flag, type=_optional(base) if "None" in kind else base, **kw)


def _objective() -> str:
    """The docstring's objective and update rule (before ``Attributes:``), for the epilog."""
    text = inspect.getdoc(TrainConfig).split("Attributes:", 1)[0]
    return "TrainConfig: " + text.replace("``", "").replace("::", ":").strip()


def _add_io_options(parser: argparse.ArgumentParser, command: str) -> None:
    group = parser.add_argument_group("data and output")
    group.add_argument("--dataset", default="fashion_mnist_subset", metavar="NAME",
                       help="dataset name for l2theory.data.load: fashion_mnist_subset (shipped "
                            "with the package, the default), mnist, fashion_mnist, cifar10 (found "
                            "on disk via --data-root or $L2THEORY_DATA), synthetic")
    group.add_argument("--data-root", default=None, metavar="DIR",
                       help="folder searched first for the dataset's files")
    group.add_argument("--n-train", type=int, default=None, metavar="N",
                       help="training examples (a class-stratified subset; default: all)")
    group.add_argument("--n-test", type=int, default=None, metavar="N",
                       help="test examples (default: all)")
    group.add_argument("--data-seed", type=int, default=0, metavar="SEED",
                       help="seed of the subsets [default: 0]")
    group.add_argument("--standardize", action=argparse.BooleanOptionalAction, default=False,
                       help="per-channel standardization with training-set statistics")
    group.add_argument("--x64", action="store_true", help="enable float64 (for --dtype float64)")
    group.add_argument("--out", default=None, metavar="DIR",
                       help=f"results folder: config, checkpoints, results.csv/.npz; rerunning "
                            f"the same command with the same --out resumes an interrupted run "
                            f"(default: runs/{command}-<time>; none: write nothing)")
    group.add_argument("--no-progress", action="store_true",
                       help="no progress bar (nor the line saying where a run resumes)")
    group.add_argument("--checkpoint-every", type=int, default=10, metavar="EVALS",
                       help="checkpoint every this many evaluations [default: 10]")
    group.add_argument("--plan", action="store_true",
                       help="print what each run would do, one JSON line per run (model, batch, "
                            "BatchNorm groups, steps, steps per epoch, lr, lam and its schedule, "
                            "seed, the whole config), and exit without training")


def _config(args: argparse.Namespace, skip: Sequence[str] = ()) -> TrainConfig:
    """The ``TrainConfig`` of the options given; the others keep ``TrainConfig``'s defaults."""
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)
              if f.name not in skip and hasattr(args, f.name)}
    if "model_kwargs" in values:
        values["model_kwargs"] = dict(values["model_kwargs"])
    if "lr_decay_at" in values:
        values["lr_decay_at"] = tuple(values["lr_decay_at"])
    if "width" in values and len(values["width"]) == 1:
        values["width"] = values["width"][0]
    return TrainConfig(**values)


def _dataset(args: argparse.Namespace):
    from l2theory import data

    ds = data.load(args.dataset, root=args.data_root, n_train=args.n_train, n_test=args.n_test,
                   seed=args.data_seed)
    return data.standardize(ds) if args.standardize else ds


def _out(args: argparse.Namespace, command: str) -> str | None:
    if args.out is not None:
        if args.out.lower() == "none":
            return None
        return str(check_out(args.out, none_ok=True))
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return str(check_out(f"runs/{command}-{stamp}", none_ok=True))


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


def _run(args: argparse.Namespace, command: str, config: TrainConfig, lam, lr, seeds,
         natural_time=None, chunk_size=None) -> int:
    """Run the grid with ``sweep`` (``train`` is its one-run case: the same results folder and
    resume). Ctrl-C raises ``KeyboardInterrupt`` with one line: where the run stopped, what is
    saved and how to resume."""
    import jax

    if args.x64:
        jax.config.update("jax_enable_x64", True)
    from l2theory._practice.train.sweep import sweep

    if args.plan:
        from l2theory._practice.train.plan import plan_lines, run_plan

        dataset = _dataset(args)
        print(plan_lines(run_plan(config, n_train=dataset.n_train,
                                  input_shape=dataset.input_shape,
                                  num_classes=dataset.num_classes, lam=lam, lr=lr, seeds=seeds,
                                  natural_time=natural_time)))
        return 0
    if jax.process_count() > 1 and args.out is None:
        raise ValueError("--out: with several processes every process must name the same "
                         "results folder, on a filesystem they all see; pass --out DIR")
    out = _out(args, command)
    dataset = _dataset(args)
    try:
        table = sweep(config, dataset, lam=lam, lr=lr, seeds=seeds, natural_time=natural_time,
                      out=out, chunk_size=chunk_size, progress=not args.no_progress,
                      checkpoint_every=args.checkpoint_every,
                      desc="train" if command == "train" else None)
    except KeyboardInterrupt as e:
        where = str(e) or "interrupted"
        if out is None:
            where += "; nothing was saved (--out none)"
        elif args.out is not None:
            where += "; rerun the same command to resume"
        else:
            where += f"; rerun it with --out {out} to resume"
        raise KeyboardInterrupt(where) from None
    if jax.process_index() == 0:  # one summary for all processes
        print(summary(table))
        if out:
            print(f"results: {out}/results.csv")
    return 0


def train_parser() -> Parser:
    parser = Parser(prog="l2theory train", epilog=_objective(),
                    description="Train one network (loss + lam/2 |theta|^2, SGD); rows every "
                                "--eval-every steps, or log-spaced with --evals-per-decade.")
    _add_config_options(parser)
    _add_io_options(parser, "train")
    return parser


def sweep_parser() -> Parser:
    parser = Parser(prog="l2theory sweep", epilog=_objective(),
                    description="Train every (lam, lr, seed) of the grid together (vmap over "
                                "lanes, chunked, sharded over devices, resumable with --out).")
    grid = parser.add_argument_group("grid (every combination is one run)")
    grid.add_argument("--lam", type=float, nargs="+", required=True, metavar="LAM",
                      help="L2 coefficients lam (objective loss + lam/2 |theta|^2), >= 0")
    grid.add_argument("--lr", type=float, nargs="+", required=True, metavar="LR",
                      help="learning rates (per step), > 0")
    grid.add_argument("--seeds", type=int, nargs="+", default=[0], metavar="SEED",
                      help="seeds of initialization and minibatch order [default: 0]")
    grid.add_argument("--natural-time", type=float, default=None, metavar="TAU",
                      help="natural time lam*lr*t per run: each run takes ceil(TAU/(lam lr)) "
                           "steps (default: --steps for all)")
    grid.add_argument("--chunk-size", type=int, default=None, metavar="RUNS",
                      help="runs per compiled program (default: from a memory estimate)")
    _add_config_options(parser, skip=_GRID_FIELDS)
    _add_io_options(parser, "sweep")
    _add_process_options(parser)
    return parser


def _add_process_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "several processes (one per host, JAX's multi-controller runtime; docs/cluster.md)",
        textwrap.fill(
            "Run the same command in every process, with the same --out on a shared filesystem: "
            "the runs are split over every device of every process, each process writes its own "
            "runs' files and process 0 the combined results. Without these options JAX's "
            "cluster detection (SLURM, Open MPI, TPU pods) connects the processes it finds; "
            "--num-processes 1 runs one process whatever the environment says.", 78))
    group.add_argument("--coordinator", default=None, metavar="HOST:PORT",
                       help="address of process 0 and a free port there (the same in every "
                            "process)")
    group.add_argument("--num-processes", type=int, default=None, metavar="N",
                       help="how many processes take part")
    group.add_argument("--process-id", type=int, default=None, metavar="I",
                       help="this process's number, 0 .. N-1")


def train_main(argv: Sequence[str] | None = None) -> int:
    """``l2theory train``: one run of ``TrainConfig``."""
    args = train_parser().parse_args(argv)
    config = _config(args)
    return _run(args, "train", config, [config.lam], [config.lr], [config.seed])


def sweep_main(argv: Sequence[str] | None = None) -> int:
    """``l2theory sweep``: the lam x lr x seed grid, all runs in one compiled program."""
    args = sweep_parser().parse_args(argv)
    if args.natural_time is not None and hasattr(args, "steps"):
        raise _checks.bad("--steps", args.steps, f"has no effect with --natural-time "
                          f"{args.natural_time:g} (each run takes ceil(TAU / (lam lr)) steps)",
                          "drop --steps, or drop --natural-time for --steps steps in every run")
    from l2theory import _distributed

    _distributed.start(args.coordinator, args.num_processes, args.process_id,
                       names=("--coordinator", "--num-processes", "--process-id"))
    return _run(args, "sweep", _config(args, skip=_GRID_FIELDS), args.lam, args.lr, args.seeds,
                args.natural_time, args.chunk_size)
