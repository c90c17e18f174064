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
import sys
import textwrap
import warnings
from typing import Any, Sequence

from l2theory import _checks
from l2theory._cli._common import Parser, check_out
from l2theory._practice.train import config as config_mod
from l2theory._practice.train.config import TrainConfig

# Fields the sweep grid sets (its own options take lists).
_GRID_FIELDS = ("lam", "lr", "seed")

# Where the commands' default differs from TrainConfig's: (value, why). One set for train, sweep
# and predict, so that a prediction and a run of the same options are of the same problem.
CLI_DEFAULTS = {"loss": ("mse", "the command line's default, the loss the theory solves in "
                                "closed form, on centred one-hot targets; TrainConfig's own "
                                "default is xent")}

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
    if f.name in CLI_DEFAULTS:
        value, why = CLI_DEFAULTS[f.name]
        return f"{value} ({why})"
    default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
    if default is None:
        return (f"the model family's own: {_family_defaults(f.name)}"
                if f.name in config_mod.MODEL_FIELDS else "none")
    return _value_text(default)


def _family_defaults(name: str) -> str:
    """A model setting's default in each family that takes it: ``fc 2, cnn 3, wrn 28``."""
    from l2theory.models import FAMILIES

    found = []
    for family in FAMILIES.values():
        parameter = inspect.signature(family.constructor).parameters.get(name)
        if parameter is not None and parameter.default is not inspect.Parameter.empty:
            value = parameter.default
            found.append(f"{family.name} " + (f"{value:.6g}" if isinstance(value, float)
                                               else _value_text(value)))
    return ", ".join(found) or "none"


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


def add_run_options(parser: argparse.ArgumentParser, skip: Sequence[str] = ()) -> None:
    """The options that say which run: every ``TrainConfig`` field (less ``skip``) and the data.
    ``l2theory train``, ``sweep`` and ``predict`` are built from this one function, so the same
    options mean the same run with the same defaults."""
    _add_config_options(parser, skip=skip)
    group = parser.add_argument_group("data (the same for training and prediction)")
    group.add_argument("--dataset", default="fashion_mnist_subset", metavar="NAME",
                       help="dataset name for l2theory.data.load: fashion_mnist_subset (shipped "
                            "with the package, the default), mnist, fashion_mnist, cifar10 (found "
                            "on disk via --data-root or $L2THEORY_DATA), synthetic")
    group.add_argument("--data-root", default=None, metavar="DIR",
                       help="folder searched first for the dataset's files")
    group.add_argument("--n-train", type=int, default=None, metavar="N",
                       help="training examples (a class-stratified subset, at least one per "
                            "class; default: all)")
    group.add_argument("--n-test", type=int, default=None, metavar="N",
                       help="test examples (default: all)")
    group.add_argument("--data-seed", type=int, default=0, metavar="SEED",
                       help="seed of the subsets [default: 0]")
    group.add_argument("--standardize", action=argparse.BooleanOptionalAction, default=True,
                       help="per-channel standardization with the training set's statistics "
                            "(--no-standardize: raw pixels in [0, 1]) [default: on]")
    group.add_argument("--x64", action="store_true",
                       help="64-bit JAX: float64 theory (predict) and --dtype float64 "
                            "parameters (train) [default: off, float32]")


def _add_output_options(parser: argparse.ArgumentParser, command: str) -> None:
    group = parser.add_argument_group("output")
    group.add_argument("--out", default=None, metavar="DIR",
                       help=f"results folder: config, checkpoints, results.csv/.npz; rerunning "
                            f"the same command with the same --out resumes an interrupted run "
                            f"(default: runs/{command}-<time>; none: write nothing)")
    group.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                       help="--progress: a progress bar even when stderr is not a terminal; "
                            "--no-progress: nothing (nor the line saying where a run resumes) "
                            "[default: a bar on a terminal, otherwise one line per phase]")
    group.add_argument("--checkpoint-every", type=int, default=10, metavar="EVALS",
                       help="checkpoint every this many evaluations [default: 10]")
    group.add_argument("--plan", action="store_true",
                       help="print what each run would do, one JSON line per run (model, batch, "
                            "BatchNorm groups, steps, steps per epoch, lr, lam and its schedule, "
                            "seed, the whole config), and exit without training")


def _progress(args: argparse.Namespace):
    """``sweep``'s ``progress`` of ``--progress``/``--no-progress``/neither."""
    return {None: True, True: "bar", False: False}[args.progress]


def _config(args: argparse.Namespace, skip: Sequence[str] = ()) -> TrainConfig:
    """The ``TrainConfig`` of the options given; the others keep ``TrainConfig``'s defaults."""
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)
              if f.name not in skip and hasattr(args, f.name)}
    for name, (value, _) in CLI_DEFAULTS.items():
        values.setdefault(name, value)
    if "model_kwargs" in values:
        values["model_kwargs"] = dict(values["model_kwargs"])
    if "lr_decay_at" in values:
        values["lr_decay_at"] = tuple(values["lr_decay_at"])
    if "width" in values and len(values["width"]) == 1:
        values["width"] = values["width"][0]
    return TrainConfig(**values)


def _dataset(args: argparse.Namespace, standardize: bool | None = None):
    """The run's data (``standardize``: override ``--standardize``)."""
    from l2theory import data

    with warnings.catch_warnings():
        warnings.simplefilter("error", data.FewerThanClasses)
        try:
            ds = data.load(args.dataset, root=args.data_root, n_train=args.n_train,
                           n_test=args.n_test, seed=args.data_seed)
        except data.FewerThanClasses as e:  # an error here: one option, one line
            text = str(e)
            for name in ("n_train", "n_test"):
                text = text.replace(f"{name}=", f"--{name.replace('_', '-')}=", 1).replace(
                    f"pass {name}", f"pass --{name.replace('_', '-')}")
            raise ValueError(text) from None
    return data.standardize(ds) if (args.standardize if standardize is None
                                    else standardize) else ds


def preprocessing_line(args: argparse.Namespace, config: TrainConfig) -> str:
    """The data's preprocessing in one line (printed by train, sweep and predict)."""
    inputs = ("standardized per channel (training-set statistics)" if args.standardize
              else "raw pixels in [0, 1] (--no-standardize)")
    targets = ("centred one-hot y = one_hot - 1/k" if config.loss == "mse"
               and config.setting("center_targets") else "one-hot")
    note = ("" if "loss" in vars(args) else " (the commands' default loss; TrainConfig's own "
            "is xent)")
    return (f"data: {args.dataset}, inputs {inputs}; loss {config.loss} on {targets} targets"
            f"{note}")


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


def _record_data(args: argparse.Namespace, out: str | None) -> None:
    """How the data were made, into the results folder's config.json (``data``; process 0
    writes it)."""
    import jax

    if out is not None and jax.process_index() == 0:
        from l2theory._practice.train.results import record_data

        record_data(out, {"dataset": args.dataset, "data_root": args.data_root,
                          "n_train": args.n_train, "n_test": args.n_test,
                          "data_seed": args.data_seed, "standardize": args.standardize})


def use_x64(args: argparse.Namespace) -> None:
    """``--x64``: 64-bit JAX for the rest of the process."""
    if args.x64:
        import jax

        jax.config.update("jax_enable_x64", True)


def _diverged(table: dict) -> list[str]:
    """One entry per diverged run: ``run 3 (lam 0.001, lr 1e+06) at step 1``."""
    import numpy as np

    runs = table["run"] if "run" in table else np.zeros(len(table["step"]), int)
    out = []
    for run in np.unique(runs):
        m = runs == run
        step = int(table["diverged_step"][m][-1])
        if step >= 0:
            out.append(f"run {int(run)} (lam {float(table['run_lam'][m][0]):.3g}, lr "
                       f"{float(table['run_lr'][m][0]):.3g}) at step {step}")
    return out


def _run(args: argparse.Namespace, command: str, config: TrainConfig, lam, lr, seeds,
         natural_time=None, chunk_size=None) -> tuple[int, dict | None]:
    """Run the grid with ``sweep`` (``train`` is its one-run case: the same results folder and
    resume); print the summary table. Returns ``(exit status, table)``: 1 when the run (train)
    or every run (sweep) diverged, with a line on stderr saying so. Ctrl-C raises
    ``KeyboardInterrupt`` with one line: where the run stopped, what is saved and how to
    resume."""
    from l2theory._practice.train.sweep import sweep

    import jax

    use_x64(args)
    if args.plan:
        from l2theory._practice.train.plan import plan_lines, run_plan

        dataset = _dataset(args)
        print(plan_lines(run_plan(config, n_train=dataset.n_train,
                                  input_shape=dataset.input_shape,
                                  num_classes=dataset.num_classes, lam=lam, lr=lr, seeds=seeds,
                                  natural_time=natural_time)))
        return 0, None
    if jax.process_count() > 1 and args.out is None:
        raise ValueError("--out: with several processes every process must name the same "
                         "results folder, on a filesystem they all see; pass --out DIR")
    out = _out(args, command)  # checked (tried) before any work
    dataset = _dataset(args)
    print(preprocessing_line(args, config), flush=True)
    try:
        table = sweep(config, dataset, lam=lam, lr=lr, seeds=seeds, natural_time=natural_time,
                      out=out, chunk_size=chunk_size, progress=_progress(args),
                      checkpoint_every=args.checkpoint_every,
                      desc="train" if command == "train" else None)
    except KeyboardInterrupt as e:
        _record_data(args, out)
        where = str(e) or "interrupted"
        if out is None:
            where += "; nothing was saved (--out none)"
        elif args.out is not None:
            where += "; rerun the same command to resume"
        else:
            where += f"; rerun it with --out {out} to resume"
        raise KeyboardInterrupt(where) from None
    _record_data(args, out)
    diverged = _diverged(table)
    n_runs = len(set(table["run"].tolist()))
    status = 1 if diverged and len(diverged) == n_runs else 0
    if jax.process_index() != 0:  # one summary for all processes
        return status, table
    print(summary(table))
    if out:
        print(f"results: {out}/results.csv (each run's full config: {out}/config.json, "
              "l2theory.train.load_config)")
    if diverged:
        fix = ("lower --lr" if command == "train" else "drop or lower those lr")
        print(f"l2theory {command}: {len(diverged)} of {n_runs} run(s) diverged (a non-finite "
              f"loss, or ||theta||^2 beyond {config.divergence_norm_factor} x its initial "
              f"value; see --divergence-norm-factor): {', '.join(diverged)}; {fix}",
              file=sys.stderr)
    return status, table


def train_parser() -> Parser:
    parser = Parser(prog="l2theory train", epilog=_objective(),
                    description="Train one network (loss + lam/2 |theta|^2, SGD); rows every "
                                "--eval-every steps, or log-spaced with --evals-per-decade. "
                                "Prints the measured t* (by test loss and accuracy) beside the "
                                "predicted one (l2theory predict with the same options).")
    add_run_options(parser)
    _add_output_options(parser, "train")
    group = parser.add_argument_group("prediction")
    group.add_argument("--predict", action=argparse.BooleanOptionalAction, default=None,
                       help="print the predicted t* (l2theory predict's) beside the measured "
                            "one: --predict always, --no-predict never [default: when cheap, "
                            "seconds: MSE, a fully connected homogeneous net, constant "
                            "schedules]")
    return parser


def sweep_parser() -> Parser:
    parser = Parser(prog="l2theory sweep", epilog=_objective(),
                    description="Train every (lam, lr, seed) of the grid together (vmap over "
                                "lanes, chunked, sharded over devices, resumable with --out). "
                                "Exit status 1 when every run diverged.")
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
    add_run_options(parser, skip=_GRID_FIELDS)
    _add_output_options(parser, "sweep")
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


def run_prediction(args: argparse.Namespace, config: TrainConfig):
    """``experiments.predict_run`` for the run options ``args`` (train's, or predict's with its
    own ``--budget``, ``--kernel``, ``--f0``, ``--max-n``)."""
    from l2theory._experiments.run_prediction import DEFAULT_MAX_N, predict_run

    dataset = _dataset(args, standardize=False)  # predict_run standardizes its subset
    return predict_run(config, dataset, budget=getattr(args, "budget", None),
                       kernel=getattr(args, "kernel", "empirical"),
                       f0=getattr(args, "f0", "network"), standardize=args.standardize,
                       data_seed=args.data_seed, max_n=getattr(args, "max_n", DEFAULT_MAX_N),
                       degree=getattr(args, "degree", None))


def cheap_prediction(config: TrainConfig) -> str | None:
    """None when ``l2theory train`` predicts by default (seconds), else why not."""
    from l2theory._practice.models import registry

    if config.loss != "mse":
        return f"loss={config.loss} is integrated numerically (about a minute)"
    if registry.family(config.model) != "fc":
        return f"model {config.model!r}: its empirical NTK takes minutes on a CPU"
    if config.build_model(10).degree is None:
        return "the network is not homogeneous"
    if config.lr_schedule != "constant" or config.lam_schedule != "constant":
        return "the theory's flow has constant lr and lam"
    return None


def _measured(table: dict, metric: str):
    """``experiments.t_star`` of the run's test loss or accuracy (None with fewer than 3
    evaluations)."""
    from l2theory._experiments.peak import t_star

    column, mode = ("test_loss", "min") if metric == "loss" else ("test_acc", "max")
    try:
        return t_star(table["step"], table[column], mode=mode)
    except ValueError:
        return None


def _t_star_lines(config: TrainConfig, table: dict, prediction) -> list[str]:
    """The measured t* beside the predicted one, per metric."""
    lam_lr = config.lam * config.lr
    lines = []
    for metric in ("loss", "accuracy"):
        found = _measured(table, metric)
        if found is None:
            measured = "not measured (fewer than 3 evaluations; lower --eval-every)"
        else:
            bound = ""
            if found.at_boundary:
                bound = ">= " if found.index == len(table["step"]) - 1 else "<= "
            c = f", c = {lam_lr * found.t_star:.3g}" if lam_lr > 0 else ""
            measured = f"measured {bound}{found.t_star:.4g} steps{c}"
        predicted = ""
        if prediction is not None and not prediction.rates["stable"]:
            predicted = "; not predicted (lr above gradient descent's stability bound)"
        elif prediction is not None:
            t_pred = getattr(prediction, f"t_star_{metric}")
            c_pred = (f", c = {lam_lr * t_pred:.3g}" if lam_lr > 0 else "")
            predicted = f"; predicted {t_pred:.4g} steps{c_pred}"
        lines.append(f"t* by test {metric + ':':<10} {measured}{predicted}")
    return lines


def train_main(argv: Sequence[str] | None = None) -> int:
    """``l2theory train``: one run of ``TrainConfig``; the measured t* beside the predicted."""
    args = train_parser().parse_args(argv)
    config = _config(args)
    if args.plan:
        return _run(args, "train", config, [config.lam], [config.lr], [config.seed])[0]
    why_not = None if args.predict else (cheap_prediction(config) if args.predict is None
                                         else "--no-predict")
    prediction = None
    if why_not is None:  # before training: a prediction that cannot be made fails first
        _out(args, "train")
        use_x64(args)
        prediction = run_prediction(args, config)
        rates = prediction.rates
        if not rates["stable"]:
            print(f"warning: lr lam_max/n = {rates['fastest']:.3g} is above gradient descent's "
                  f"stability bound {rates['stability_bound']:g}: expect this run to diverge, "
                  f"and the flow not to describe it (lr below "
                  f"{rates['stability_bound'] / rates['fastest'] * config.lr:.3g} is stable)")
    status, table = _run(args, "train", config, [config.lam], [config.lr], [config.seed])
    for line in _t_star_lines(config, table, prediction):
        print(line)
    if prediction is None:
        print(f"predicted t*: not computed ({why_not}); pass --predict, or run l2theory predict "
              "with the same options")
    return status


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
                args.natural_time, args.chunk_size)[0]
