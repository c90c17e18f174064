"""Shared pieces of the figure scripts: arguments, config printing, datasets with clear errors,
saving figure (PNG + PDF) + CSV + JSON summary with the machine and versions."""
from __future__ import annotations

import argparse
import copy
import csv
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from l2theory import x64  # noqa: F401  (JAX 64-bit mode in a block: the exact solvers)

PRESETS = ("quick", "paper")


class DatasetMissing(FileNotFoundError):
    """A preset needs a dataset that is not on disk (the message says where it was searched and
    how to get it; ``dataset`` is its name)."""

    def __init__(self, message: str, dataset: str | None = None):
        super().__init__(message)
        self.dataset = dataset


def pm(mean: float | None, se: float | None, fmt: str = ".4f") -> str:
    """``mean +- se`` for reports (``se`` None: one seed, no noise estimate; ``mean`` None:
    ``-``); with a ``g`` format the error gets 2 significant digits."""
    if mean is None:
        return "-"
    se_fmt = ".2g" if fmt.endswith("g") else fmt
    return format(mean, fmt) + ("" if se is None else f" +- {format(se, se_fmt)}")


def numbers(values: Sequence[float | None], fmt: str = ".3g") -> str:
    """``0.001, 0.002`` (not a Python list repr); ``-`` when empty."""
    return ", ".join("-" if v is None else format(v, fmt) for v in values) or "-"


def excluded_text(excluded: Mapping[str, Sequence[int]] | None) -> str:
    """``at_boundary: runs 3, 4; diverged: run 7`` (``none`` when nothing was excluded)."""
    return "; ".join(f"{why}: run{'s' if len(runs) > 1 else ''} {', '.join(map(str, runs))}"
                     for why, runs in (excluded or {}).items() if runs) or "none"


PRESET_HELP = {"quick": "CPU minutes on the shipped Fashion-MNIST subset",
               "paper": "the paper's datasets/models (GPU)"}


def parse_args(name: str, doc: str | None, argv: Sequence[str] | None,
               presets: Sequence[str] = PRESETS,
               preset_help: Mapping[str, str] | None = None) -> argparse.Namespace:
    """The figure scripts' arguments; ``presets``: the figure's presets (its ``CONFIGS`` keys: a
    figure may have more than ``quick`` and ``paper``), ``preset_help`` what each is."""
    parser = argparse.ArgumentParser(prog=f"python -m l2theory.figures.{name}", description=doc,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    helps = {**PRESET_HELP, **(preset_help or {})}
    parser.add_argument("--preset", choices=tuple(presets), default="quick",
                        help="; ".join(f"{p}: {helps[p]}" for p in presets if p in helps))
    parser.add_argument("--out", default=None,
                        help=f"output folder (default out/figures/{name}/)")
    parser.add_argument("--tiny", action="store_true",
                        help="shrink the preset to run in seconds (tests; numbers meaningless)")
    parser.add_argument("--dataset", default=None,
                        help="run every panel on this dataset instead (e.g. fashion_mnist "
                             "standing in for mnist with --preset paper)")
    parser.add_argument("--panels", nargs="+", default=None,
                        help="run only these panels (keys, e.g. fc) of a multi-panel figure")
    return parser.parse_args(argv)


def get_config(configs: Mapping[str, dict], preset: str, tiny: Mapping[str, Any] | None = None,
               use_tiny: bool = False) -> dict:
    """The config of ``preset`` (a copy), with ``preset`` set. ``use_tiny``: updated with the
    tiny overrides: the preset's own ``"tiny"`` entry when it has one (e.g. a GPU preset shrunk
    to a CPU-sized check of the same recipe), else the figure's ``tiny``."""
    if preset not in configs:
        raise ValueError(f"preset={preset!r}: unknown preset; valid: {', '.join(configs)}")
    cfg = copy.deepcopy(dict(configs[preset]))
    own_tiny = cfg.pop("tiny", None)
    cfg["preset"] = preset
    overrides = own_tiny if own_tiny is not None else tiny
    if use_tiny and overrides:
        cfg.update(copy.deepcopy(dict(overrides)))
        cfg["tiny"] = True
    return cfg


def config_text(value: Any, nested: bool = False) -> str:
    """A config value as plain text, not a Python repr: ``0.001, 0.002`` for a list,
    ``depth=3 width=128`` for a dict (inside another value: ``(depth=3 width=16,32)``), the
    panels of a multi-panel figure one per line."""
    if isinstance(value, Mapping):
        text = " ".join(f"{k}={config_text(v, True)}" for k, v in value.items())
        return f"({text})" if nested else text
    if isinstance(value, (list, tuple)):
        if value and all(isinstance(v, Mapping) for v in value) and not nested:
            return "".join(f"\n{'':26}- {config_text(v)}" for v in value)
        return (", " if not nested else ",").join(config_text(v, True) for v in value) or "-"
    if isinstance(value, float):
        return format(value, "g")
    if isinstance(value, str) and nested and " " in value:
        return f'"{value}"'
    return str(value)


def print_config(name: str, config: Mapping[str, Any]) -> None:
    print(f"== {name} (preset {config.get('preset')}{', tiny' if config.get('tiny') else ''})")
    for key, value in config.items():
        print(f"   {key:<22} {config_text(value)}")
    sys.stdout.flush()


def load_dataset(name: str, *, n_train: int | None = None, n_test: int | None = None,
                 seed: int = 0, standardize: bool = True, downsample: int = 1):
    """``l2theory.data.load`` (+ ``standardize``); a missing dataset raises ``DatasetMissing``
    naming the dataset, every folder searched and how to get it. ``downsample=k`` averages
    ``k x k`` pixel blocks (quick CNN presets: 28x28 -> 14x14, 4x less compute)."""
    from l2theory import data

    try:
        ds = data.load(name, n_train=n_train, n_test=n_test, seed=seed)
    except FileNotFoundError as e:
        raise DatasetMissing(
            f"this preset needs the dataset {name!r}, which is not on disk. {e}\n"
            "Set L2THEORY_DATA to the folder holding it, or run the quick preset "
            "(--preset quick), which uses the Fashion-MNIST subset shipped with l2theory.",
            dataset=name) from None
    if downsample > 1:
        import dataclasses

        def pool(x):
            n, h, w, c = x.shape
            h2, w2 = h // downsample, w // downsample
            x = x[:, :h2 * downsample, :w2 * downsample]
            return x.reshape(n, h2, downsample, w2, downsample, c).mean(axis=(2, 4))

        ds = dataclasses.replace(ds, x_train=pool(ds.x_train), x_test=pool(ds.x_test))
    return data.standardize(ds) if standardize else ds




def machine() -> dict[str, Any]:
    """Versions, devices and host (``l2theory``'s environment record)."""
    from l2theory import train

    return train.environment()


def hardware_line(env: Mapping[str, Any] | None = None) -> str:
    env = env or machine()
    dev = env.get("device_kind") if env.get("backend") != "cpu" else \
        f"CPU {env.get('cpu')} ({env.get('cpu_count')} cores)"
    return f"{dev}, jax {env.get('jax')}, {platform.python_implementation()} {env.get('python')}"


def out_dir(name: str, out: str | os.PathLike | None) -> Path:
    path = Path(out) if out is not None else Path("out") / "figures" / name
    path.mkdir(parents=True, exist_ok=True)
    return path


# Axis labels in the paper's notation (eta = lr); one place so every figure says the same.
LABELS = {
    "natural": r"natural time $\lambda\,\eta\,t$",
    "steps": r"$t$ (steps)",
    "lam": r"$\lambda$",
    "lam_lr": r"$\lambda\,\eta$",
    "t_star": r"$t^*$ (steps)",
    "test_acc": "test accuracy",
    "test_loss": "test loss",
    "train_loss": "training loss",
    "train_acc": "training accuracy",
}


def label(metric: str) -> str:
    """The axis label of a table column or clock (``LABELS``), else the name with spaces."""
    return LABELS.get(metric, metric.replace("_", " "))


def legend_outside(ax, *, ncol: int = 2, fontsize: int = 7, **kwargs):
    """The legend below the axes, off the data (``save_figure`` keeps it in the saved image)."""
    return ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=ncol,
                     fontsize=fontsize, frameon=False, **kwargs)


def save_figure(fig, out: Path, stem: str) -> list[str]:
    """PNG (120 dpi) and PDF, cropped to what is drawn (legends outside the axes included)."""
    paths = []
    for ext in ("png", "pdf"):
        p = out / f"{stem}.{ext}"
        fig.savefig(p, dpi=120 if ext == "png" else None, bbox_inches="tight")
        paths.append(str(p))
    import matplotlib.pyplot as plt

    plt.close(fig)
    return paths


def save_csv(path: Path, rows: Sequence[Mapping[str, Any]]) -> str:
    """Rows (dicts with the same keys) as CSV."""
    names: list[str] = []
    for r in rows:
        for k in r:
            if k not in names:
                names.append(k)
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=names)
        w.writeheader()
        for r in rows:
            w.writerow({k: _fmt(v) for k, v in r.items()})
    return str(path)


def _fmt(v):
    if isinstance(v, float):
        return f"{v:.8g}"
    return v


def to_json(x: Any) -> Any:
    from l2theory import experiments

    return experiments.to_json(x)


def save_summary(out: Path, name: str, config: Mapping[str, Any], results: Mapping[str, Any],
                 start: float, files: Sequence[str]) -> dict[str, Any]:
    summary = {"figure": name, "config": dict(config), "results": results,
               "runtime_s": time.perf_counter() - start, "machine": machine(),
               "files": list(files) + [str(out / f"{name}.json")]}
    summary = to_json(summary)
    with open(out / f"{name}.json", "w") as fh:
        json.dump(summary, fh, indent=2)
    print(f"   wrote {len(summary['files'])} files to {out} in {summary['runtime_s']:.1f} s")
    return summary


def lane_curves(rows: Mapping[str, Any], metric: str = "test_acc") -> list[dict[str, Any]]:
    """A sweep table as CSV rows: run, seed, lam, lr, step, lam_lr_t, metric."""
    import numpy as np

    out = []
    cols = {k: np.asarray(v) for k, v in rows.items()}
    for i in range(len(cols["run"])):
        lam, lr, step = float(cols["run_lam"][i]), float(cols["run_lr"][i]), int(cols["step"][i])
        out.append({"run": int(cols["run"][i]), "seed": int(cols["seed"][i]), "lam": lam,
                    "lr": lr, "step": step, "lam_lr_t": lam * lr * step,
                    metric: float(cols[metric][i]), "diverged": bool(cols["diverged"][i])})
    return out


def train_config(cfg: Mapping[str, Any]):
    """``TrainConfig`` from a figure config's ``model`` dict."""
    from l2theory import train

    return train.TrainConfig(**dict(cfg))


def setup_matplotlib():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def main_for(module_name: str, name: str, doc: str | None, configs, tiny,
             run: Callable[[dict, Path], dict], argv: Sequence[str] | None = None,
             preset_help: Mapping[str, str] | None = None) -> int:
    args = parse_args(name, doc, argv, presets=tuple(configs), preset_help=preset_help)
    config = get_config(configs, args.preset, tiny, args.tiny)
    if args.panels:
        if "panels" not in config:
            raise SystemExit(f"error: {name} has no panels; drop --panels")
        keys = [p["key"] for p in config["panels"]]
        bad = [k for k in args.panels if k not in keys]
        if bad:
            raise SystemExit(f"error: unknown panel(s) {bad}; valid: {', '.join(keys)}")
        config["panels"] = [p for p in config["panels"] if p["key"] in args.panels]
    if args.dataset:
        for panel in config.get("panels", [config]):
            if "dataset" in panel:
                panel["dataset"] = args.dataset
                panel["title"] = f"{panel.get('title', '')} [data: {args.dataset}]"
        config["dataset_override"] = args.dataset
    try:
        run(config, out_dir(name, args.out), progress=not args.tiny)
    except DatasetMissing as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0
