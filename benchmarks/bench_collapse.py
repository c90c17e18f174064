"""Time of the paper's FC t*-collapse panel as one compiled program.

The panel (``l2theory/figures/collapse.py``, ``CONFIGS["paper"]`` panel ``"fc"``): FC-512x3
(NTK parameterization, cross-entropy, SGD batch 128) on full Fashion-MNIST (the paper's MNIST
stand-in here), lam 1.25e-4 .. 2e-3 (x2 steps) x lr 0.25, 1 x 3 seeds = 30 lanes, each trained to
natural time ``lam lr t = 1.5`` (750 to 48,000 steps), rows on a log grid (20 per decade) with
the test set and a 2000-example training subset. ``train.sweep`` as the figure calls it:
``collapse.chunk_size(panel)`` lanes per program (on a GPU all 30: each lane stops updating at
its own step, but a lane that has ended still computes, masked, so the program costs the
longest lane's 48,000 steps for every lane; on a CPU one (lam, lr) per chunk).

Variants (``--variants``): ``figure`` (the figure's settings on this backend, run twice: ``cold``
includes compilation, ``warm`` reuses the compiled programs), ``tf32`` (the same with
``matmul_precision="tensorfloat32"``, not the figure's full float32), ``chunk6`` (6 lanes per
program: 5 programs of lanes of similar length, less masked work, more sequential steps).
Each reports the seconds of ``train.sweep``, the lane-steps needed and computed, and the
collapse fit (``experiments.collapse``, metric test accuracy) as a sanity check.

``--small``: 2 lams x 1 lr x 1 seed on 5000 training / 2000 test examples (a CPU check).
Results: ``<out>/bench_collapse-<preset>-<device>.json``.

Target: the ``figure`` variant, cold, in under 15 s on one H200 (issue 12; the chunked run of
the landed code took 42 s there).

Usage::

    PYTHONPATH=. L2THEORY_DATA=.data python benchmarks/bench_collapse.py --out benchmarks/results
    PYTHONPATH=. L2THEORY_DATA=/work/shared/data python benchmarks/bench_collapse.py --small
"""
from __future__ import annotations

import argparse
import copy
import json
import re
import sys
import time
from pathlib import Path


from l2theory import data, experiments, train
from l2theory.figures import collapse

HERE = Path(__file__).resolve().parent
VARIANTS = ("figure", "tf32", "chunk6")


def panel_config(small: bool, dataset: str) -> dict:
    panel = copy.deepcopy(next(p for p in collapse.CONFIGS["paper"]["panels"]
                               if p["key"] == "fc"))
    panel["dataset"] = dataset
    if small:
        panel.update(lams=[1e-3, 2e-3], lrs=[1.0], seeds=[0], n_train=5000, n_test=2000)
    return panel


def device_tag(env: dict) -> str:
    name = f"cpu {env['cpu']} {env['cpu_count']}cores" if env["backend"] == "cpu" else \
        env["device_kind"]
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def run_variant(panel: dict, ds, variant: str, chunk: int) -> dict:
    cfg = train.TrainConfig(**panel["model"])
    if variant == "tf32":
        cfg = cfg.replace(matmul_precision="tensorfloat32")
    lanes = [(m, r, s) for m in panel["lams"] for r in panel["lrs"] for s in panel["seeds"]]
    steps = [train.steps_for_natural_time(panel["natural_time"], m, r) for m, r, _ in lanes]
    order = sorted(steps, reverse=True)
    chunks = [order[i:i + chunk] for i in range(0, len(order), chunk)]
    t0 = time.perf_counter()
    rows = train.sweep(cfg, ds, lam=panel["lams"], lr=panel["lrs"], seeds=panel["seeds"],
                       natural_time=panel["natural_time"], chunk_size=chunk, progress=False)
    seconds = time.perf_counter() - t0
    out = {"variant": variant, "seconds": seconds, "lanes": len(lanes), "chunk_size": chunk,
           "chunks": len(chunks), "matmul_precision": cfg.matmul_precision_in_force,
           "longest_lane_steps": max(steps), "sequential_steps": sum(c[0] for c in chunks),
           "lane_steps_needed": int(sum(steps)),
           "lane_steps_computed": int(sum(c[0] * chunk for c in chunks)),
           "evaluations": int(len(rows["step"]))}
    try:
        fit = experiments.collapse(rows, metric=panel["metric"], n_boot=100)
        out["fit"] = {"slope": fit["fit"] and fit["fit"]["slope"],
                      "lam_lr_t_star": fit["lam_lr_t_star"], "excluded": fit["excluded"]}
    except Exception as e:  # noqa: BLE001 - a tiny check may have too few lanes to fit
        out["fit"] = f"no fit: {e}"
    out["final_test_acc"] = [float(rows["test_acc"][rows["run"] == i][-1])
                             for i in range(len(lanes))]
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="fashion_mnist",
                        help="dataset name for l2theory.data.load (found via $L2THEORY_DATA)")
    parser.add_argument("--small", action="store_true",
                        help="2 lams x 1 lr x 1 seed on 5000/2000 examples (CPU check)")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--out", default=str(HERE / "results"), help="folder for the JSON")
    args = parser.parse_args(argv)
    env = train.environment()
    panel = panel_config(args.small, args.dataset)
    t0 = time.perf_counter()
    ds = data.standardize(data.load(panel["dataset"], n_train=panel["n_train"],
                                    n_test=panel["n_test"]))
    load_s = time.perf_counter() - t0
    preset = "small" if args.small else "paper"
    print(f"# bench_collapse ({preset}): {env['device_kind']} ({env['backend']}), jax "
          f"{env['jax']}; {ds.n_train}/{ds.n_test} examples loaded in {load_s:.1f} s")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"bench_collapse-{preset}-{device_tag(env)}.json"
    results = []
    figure_chunk = collapse.chunk_size(panel)
    for variant in args.variants:
        runs = ["cold", "warm"] if variant == "figure" else ["cold"]
        for when in runs:
            chunk = 6 if variant == "chunk6" else figure_chunk
            r = run_variant(panel, ds, variant, min(chunk, len(panel["lams"]) * len(
                panel["lrs"]) * len(panel["seeds"])))
            r["when"] = when
            results.append(r)
            print(f"{variant:>7} {when:>4}: {r['seconds']:7.1f} s  {r['lanes']} lanes, "
                  f"{r['chunks']} chunk(s) of {r['chunk_size']}, {r['sequential_steps']} "
                  f"sequential steps, lane-steps computed/needed "
                  f"{r['lane_steps_computed']}/{r['lane_steps_needed']}, "
                  f"precision {r['matmul_precision']}; fit {r['fit']}", flush=True)
            path.write_text(json.dumps({
                "panel": panel, "environment": env, "load_seconds": load_s,
                "target_seconds": 15.0, "results": results}, indent=2, default=str) + "\n")
    best = [r for r in results if r["variant"] == "figure" and r["when"] == "cold"]
    if best and not args.small and env["backend"] == "gpu":
        verdict = "PASS" if best[0]["seconds"] < 15.0 else "FAIL"
        print(f"# {verdict}: figure variant cold {best[0]['seconds']:.1f} s (target < 15 s "
              f"on one H200)")
    print(f"# wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
