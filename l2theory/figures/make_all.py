"""The figures command: run the figures of a preset and write ``REPORT.md`` (predicted vs measured
numbers and a ``PASS``/``FAIL``/``TIE``/``n/a`` line per relation that must hold).

``l2theory figures``, ``python -m l2theory.figures.make_all`` and ``python -m
l2theory.figures.<name>`` (the same command for that figure alone) are one command with one set of
options (``add_options``), documented in ``l2theory.figures``. The report is the figures' own:
each figure's ``report(summary)`` gives its section and its claims, computed from the JSON summary
its ``run`` wrote, so ``--report-only`` rewrites the same report from the files.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from l2theory.figures import FIGURES, _common, _report


def figure(name: str):
    """The module of figure ``name`` (``ValueError`` naming the valid ones)."""
    if name not in FIGURES:
        raise ValueError(f"only={name!r}: unknown figure; valid: {', '.join(FIGURES)}")
    return importlib.import_module(f"l2theory.figures.{name}")


def presets(names: Sequence[str] = FIGURES) -> tuple[str, ...]:
    """Every preset of the figures ``names`` (``quick``, ``paper``, then the figures' own)."""
    found = list(_common.PRESETS)
    for name in names:
        found += [p for p in figure(name).CONFIGS if p not in found]
    return tuple(found)


def add_options(parser: argparse.ArgumentParser,
                name: str | None = None) -> argparse.ArgumentParser:
    """The command's options on ``parser`` (for figure ``name`` alone: its presets, and
    ``--only`` defaults to it); returns ``parser``."""
    names = FIGURES if name is None else (name,)
    parser.add_argument(
        "--preset", choices=presets(names), default=None,
        help="quick: CPU minutes on the Fashion-MNIST subset shipped with l2theory (default); "
             "paper: the paper's datasets and models, for a GPU (the datasets on disk, see "
             "$L2THEORY_DATA); a preset only some figures have (fig1's gpu: the authors' recipe "
             "in minutes on one GPU) runs those figures")
    parser.add_argument("--out", default="out/figures", metavar="DIR",
                        help="output folder: a subfolder per figure and REPORT.md "
                             "[default: out/figures]")
    parser.add_argument("--only", nargs="+", choices=names, metavar="NAME",
                        default=None if name is None else [name],
                        help=f"run only these figures ({', '.join(names)})")
    parser.add_argument("--report-only", action="store_true",
                        help="rewrite REPORT.md from the figures' JSON summaries in --out, "
                             "computing nothing")
    parser.add_argument("--plan", action="store_true",
                        help="print every run of the figures that have a plan (fig1) without "
                             "training: one JSON line per run (model and its options, batch, "
                             "BatchNorm groups, steps, steps per epoch, lr, lam and its schedule, "
                             "AutoL2 settings, seed), then a JSON line with the cost estimate")
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress bars or per-width lines inside the figures")
    parser.add_argument("--tiny", action="store_true",
                        help="tiny settings that run in seconds (tests; numbers meaningless)")
    parser.add_argument("--dataset", metavar="NAME",
                        help="run every figure (every panel) on this dataset instead, e.g. "
                             "fashion_mnist for mnist with --preset paper")
    parser.add_argument("--panels", nargs="+", metavar="KEY",
                        help="run only these panels of a figure with panels (collapse: fc, and "
                             "cnn or wrn, cnn with --preset paper)")
    parser.add_argument("--finite", metavar="DIR",
                        help="infinite_width: draw beside the theory the finite nets of this "
                             "collapse output folder (its FC panel ranked by test accuracy, as "
                             "--preset paper --panels fc writes) [default: none, theory only]")
    return parser


def execute(args: argparse.Namespace) -> int:
    """Run the command of parsed ``args`` (``add_options``); raises ``ValueError`` for a bad
    option and ``DatasetMissing`` after the report when a dataset is not on disk."""
    progress = not (args.tiny or args.no_progress)
    if args.report_only:
        unused = [f"--{k.replace('_', '-')}" for k in ("preset", "tiny", "no_progress",
                                                        "dataset", "panels", "finite", "plan")
                  if getattr(args, k)]
        if unused:
            raise ValueError(f"--report-only: {', '.join(unused)} would have no effect (the "
                             "report is rewritten from the summaries in --out); drop them")
        rewrite_report(args.out, args.only)
    elif args.plan:
        print_plans(args.preset or "quick", args.only, args.tiny, dataset=args.dataset)
    else:
        run_all(args.preset or "quick", args.out, args.only, args.tiny, progress,
                dataset=args.dataset, panels=args.panels, finite=args.finite)
    return 0


def main(argv: Sequence[str] | None = None, name: str | None = None) -> int:
    """``python -m l2theory.figures.make_all`` (``name``: ``python -m l2theory.figures.<name>``,
    the command for that figure alone). An error is one line on stderr, exit status 2
    (``--debug`` or ``L2THEORY_DEBUG=1``: its traceback)."""
    import l2theory.figures

    doc = (figure(name) if name else l2theory.figures).__doc__
    parser = argparse.ArgumentParser(
        prog=f"python -m l2theory.figures.{name or 'make_all'}", description=doc,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_options(parser, name).add_argument(
        "--debug", action="store_true", help="show the Python traceback of an error (also "
                                             "L2THEORY_DEBUG=1)")
    args = parser.parse_args(argv)
    try:
        return execute(args)
    except (ValueError, TypeError, OSError) as e:
        if args.debug or os.environ.get("L2THEORY_DEBUG", "0") not in ("", "0"):
            raise
        print(f"{parser.prog}: error: {e}", file=sys.stderr)
        return 2


def print_plans(preset: str = "quick", only: Sequence[str] | None = None, tiny: bool = False,
                *, dataset: str | None = None) -> list[dict[str, Any]]:
    """Print the plan of every run of the figures ``only`` (default: every figure with a
    ``plan``) at ``preset``, one JSON line per run (with ``figure`` in front), then one line
    ``{"figure": ..., "cost_estimate": ...}`` per figure (its ``cost_estimate``: seconds on one
    H200, or None where it has no step time); trains nothing and needs no data on disk. Returns
    the plans. A figure without a plan is a ``ValueError`` naming those that have one."""
    with_plan = [n for n in FIGURES if hasattr(figure(n), "plan")]
    names = list(only or with_plan)
    plans = []
    for name in names:
        module = figure(name)
        if not hasattr(module, "plan"):
            raise ValueError(f"--plan: {name} has no plan; figures with one: "
                             f"{', '.join(with_plan)}")
        if preset not in module.CONFIGS:
            raise ValueError(f"--plan: {name} has no {preset!r} preset (its presets: "
                             f"{', '.join(module.CONFIGS)})")
        config = _common.get_config(module.CONFIGS, preset, module.TINY, tiny)
        _common.apply_options({name: config}, dataset=dataset)
        runs = [{"figure": name, **p} for p in module.plan(config)]
        plans += runs
        for run in runs:
            print(json.dumps(run))
        print(json.dumps({"figure": name, "runs": len(runs),
                          "cost_estimate": module.cost_estimate(config)}))
    return plans


def run_all(preset: str = "quick", out: str | Path = "out/figures",
            only: Sequence[str] | None = None, tiny: bool = False, progress: bool = False, *,
            dataset: str | None = None, panels: Sequence[str] | None = None,
            finite: str | None = None) -> Path:
    """Run the figures (all, or ``only``) of ``preset`` into ``out/<name>/`` and write
    ``out/REPORT.md``; returns the report's path. ``tiny`` shrinks every config (tests);
    ``dataset``, ``panels``, ``finite``: the command's figure options (``_common.apply_options``).

    Prints one line per figure as it starts (``[2/8] theory_vs_practice``) and ends (its time);
    ``progress`` adds progress bars in the figures' sweeps and per-width lines (stderr). A figure
    without ``preset`` is reported as not run. A figure whose dataset is not on disk is reported
    and skipped; after the report is written, ``run_all`` then raises ``DatasetMissing`` naming
    the figures not run (the report says where each dataset was searched and how to get it).
    Bad options and a bad ``out`` fail before any figure runs."""
    names = list(only or FIGURES)
    modules = {name: figure(name) for name in names}
    errors = {name: f"{name} has no {preset!r} preset (its presets: {', '.join(m.CONFIGS)})"
              for name, m in modules.items() if preset not in m.CONFIGS}
    configs = {name: _common.get_config(m.CONFIGS, preset, m.TINY, tiny)
               for name, m in modules.items() if name not in errors}
    _common.apply_options(configs, dataset=dataset, panels=panels, finite=finite)
    out = _common.out_dir(out, "--out")
    start = time.perf_counter()
    summaries: dict[str, Any] = {}
    missing: dict[str, str | None] = {}
    for i, name in enumerate(names, 1):
        tag = f"[{i}/{len(names)}] {name}"
        print(tag, flush=True)
        if name in errors:  # a preset only some figures have (e.g. fig1's gpu)
            print(f"{tag}: not run: no {preset!r} preset", file=sys.stderr, flush=True)
            continue
        t0 = time.perf_counter()
        try:
            summaries[name] = modules[name].run(configs[name], out / name, progress=progress)
            print(f"{tag}: done in {time.perf_counter() - t0:.0f} s", flush=True)
        except _common.DatasetMissing as e:
            errors[name], missing[name] = str(e), e.dataset
            print(f"{tag}: not run: dataset {e.dataset!r} is not on disk", file=sys.stderr,
                  flush=True)
    reports = {name: modules[name].report(summaries[name]) if name in summaries else None
               for name in names}
    report = _report.write_report(out, preset, reports, summaries, errors,
                                  time.perf_counter() - start, tiny)
    if missing:
        raise _common.DatasetMissing(
            f"{len(missing)} of {len(names)} figures not run, their datasets are not on disk: "
            + ", ".join(f"{n} ({d!r})" for n, d in missing.items())
            + f"; {report} lists where each was searched and how to get it (or use --preset "
            "quick, which needs only the subset shipped with l2theory)",
            dataset=", ".join(sorted({str(d) for d in missing.values()})))
    return report


def rewrite_report(out: str | Path, only: Sequence[str] | None = None) -> Path:
    """Write ``out/REPORT.md`` again from the ``<name>/<name>.json`` summaries of an earlier run
    in ``out`` (of the figures ``only``, default every one found), computing nothing."""
    summaries = load_summaries(out, only or FIGURES)
    if not summaries:
        raise ValueError(f"--out={str(out)!r}: no figure summaries (<name>/<name>.json) in this "
                         "folder; run the figures first, or pass the folder they ran in")
    reports = {}
    for name, summary in summaries.items():
        try:
            reports[name] = figure(name).report(summary)
        except KeyError as e:
            raise ValueError(f"{Path(out) / name / name}.json: no field {e}: written by another "
                             f"version of l2theory; run {name} again") from None
    config = next(iter(summaries.values()))["config"]
    return _report.write_report(Path(out), config["preset"], reports, summaries, {},
                                sum(s["runtime_s"] for s in summaries.values()),
                                bool(config.get("tiny")))


def load_summaries(out: str | Path, names: Sequence[str] = FIGURES) -> dict[str, Any]:
    """The ``<name>.json`` summaries of an earlier run in ``out`` (by figure name)."""
    paths = {name: Path(out) / name / f"{name}.json" for name in names}
    return {name: json.loads(p.read_text()) for name, p in paths.items() if p.is_file()}


if __name__ == "__main__":
    raise SystemExit(main())
