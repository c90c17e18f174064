"""What the figure modules share: their run's opening and closing (``FigureRun``: output folder,
matplotlib, config print, timer, dataset, files and JSON summary with the machine and versions),
presets and the command's options applied to them, datasets with clear errors, axis labels, and
numbers as report text."""
from __future__ import annotations

import copy
import csv
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

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


def num(x: float | None, fmt: str = ".3g") -> str:
    """``x`` in ``fmt``; ``-`` for None."""
    return "-" if x is None else format(x, fmt)


def interval(ci: Sequence[float] | None) -> str:
    """A confidence interval as ``[0.930, 0.963]``; ``-`` when there is none."""
    return "-" if not ci else f"[{ci[0]:.3f}, {ci[1]:.3f}]"


def excluded_text(excluded: Mapping[str, Sequence[int]] | None) -> str:
    """``at_boundary: runs 3, 4; diverged: run 7`` (``none`` when nothing was excluded)."""
    return "; ".join(f"{why}: run{'s' if len(runs) > 1 else ''} {', '.join(map(str, runs))}"
                     for why, runs in (excluded or {}).items() if runs) or "none"


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
                 seed: int = 0, standardize: bool = True, downsample: int = 1,
                 n_val: int | None = None):
    """``l2theory.data.load`` (+ ``standardize``); a missing dataset raises ``DatasetMissing``
    naming the dataset, every folder searched and how to get it. ``downsample=k`` averages
    ``k x k`` pixel blocks (quick CNN presets: 28x28 -> 14x14, 4x less compute). ``n_val``: a
    validation split of that many examples held out of the training set (``data.hold_out``;
    ``n_train`` training examples remain), standardized with the training statistics."""
    from l2theory import data

    try:
        ds = data.load(name, n_train=n_train + n_val if n_train is not None and n_val else n_train,
                       n_test=n_test, seed=seed)
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
    if n_val:
        ds = data.hold_out(ds, n_val, seed=seed)
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


def out_dir(path: str | os.PathLike, option: str = "out") -> Path:
    """``path`` as a folder, created with its parents; ``ValueError`` naming ``option`` when it
    cannot be (a file in the way, no permission)."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValueError(f"{option}={str(path)!r}: cannot create this folder ({e.strerror}); "
                         "pass a folder you can write to") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ValueError(f"{option}={str(path)!r}: cannot write in this folder (permission "
                         "denied); pass a folder you can write to")
    return path


def apply_options(configs: Mapping[str, dict], *, dataset: str | None = None,
                  panels: Sequence[str] | None = None, finite: str | None = None) -> None:
    """Apply the command's figure options to the ``configs`` (by figure name) about to run, in
    place; ``ValueError`` naming the option when it applies to none of them or names an
    unknown panel (checked before any figure runs).

    ``dataset``: every config and panel with a ``dataset`` key uses it (titles say so);
    ``panels``: the figures with panels run only these (by key); ``finite``: the figures with a
    ``finite`` key (a collapse output folder to draw beside the theory) read this one."""
    if not configs:  # no figure runs (none has the preset)
        return
    if panels:
        having = {name: c for name, c in configs.items() if "panels" in c}
        if not having:
            raise ValueError(f"--panels={' '.join(panels)}: "
                             f"{_lacks(configs, 'has', 'panels')}; drop --panels")
        for name, config in having.items():
            keys = [p["key"] for p in config["panels"]]
            bad = [k for k in panels if k not in keys]
            if bad:
                raise ValueError(f"--panels={' '.join(panels)}: {name} has no panel "
                                 f"{', '.join(bad)}; valid: {', '.join(keys)}")
            config["panels"] = [p for p in config["panels"] if p["key"] in panels]
    if finite is not None:
        having = [c for c in configs.values() if "finite" in c]
        if not having:
            raise ValueError(f"--finite={finite}: "
                             f"{_lacks(configs, 'draws', 'finite nets beside a theory')} "
                             "(infinite_width does); drop --finite")
        for config in having:
            config["finite"] = None if finite.lower() == "none" else finite
    if dataset:
        for config in configs.values():
            for part in config.get("panels", [config]):
                if "dataset" in part:
                    part["dataset"] = dataset
                    if "title" in part:
                        part["title"] = f"{part['title']} [data: {dataset}]"
            config["dataset_override"] = dataset


def _lacks(names: Sequence[str], verb: str, what: str) -> str:
    """``theory has no panels`` for one figure, ``none of theory, budget has panels`` for
    several."""
    names = list(names)
    if len(names) == 1:
        return f"{names[0]} {verb} no {what}"
    return f"none of {', '.join(names)} {verb} {what}"


class FigureRun:
    """The opening and closing of every figure's ``run``.

    Opening (``FigureRun(name, config, out)``): the output folder ``out`` is created (a bad one
    fails before any work), matplotlib is set to draw to files (``plt``), the config is printed
    and the clock starts. Then ``dataset()`` loads the config's dataset; ``save_figure``,
    ``save_csv`` write the figure's files into ``out`` and keep their paths; ``finish(results)``
    writes ``<name>.json`` (config, results, runtime, machine, files) and returns it."""

    def __init__(self, name: str, config: Mapping[str, Any], out: str | os.PathLike):
        self.name, self.config = name, config
        self.out = out_dir(out)
        self.plt = setup_matplotlib()
        print_config(name, config)
        self.start = time.perf_counter()
        self.files: list[str] = []

    def dataset(self, **kwargs):
        """``load_dataset`` of ``config["dataset"]`` with the config's ``n_train``, ``n_test``
        and ``n_val`` (``kwargs`` override them and pass the rest)."""
        sizes = {k: self.config.get(k) for k in ("n_train", "n_test", "n_val")}
        return load_dataset(self.config["dataset"], **{**sizes, **kwargs})

    def save_figure(self, fig) -> None:
        """``<name>.png`` and ``<name>.pdf``."""
        self.files += save_figure(fig, self.out, self.name)

    def save_csv(self, part: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """``<name>_<part>.csv``."""
        self.files.append(save_csv(self.out / f"{self.name}_{part}.csv", rows))

    def finish(self, results: Mapping[str, Any]) -> dict[str, Any]:
        """Write ``<name>.json`` and return the summary."""
        return save_summary(self.out, self.name, self.config, results, self.start, self.files)


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
