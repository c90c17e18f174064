"""Theory vs practice, as tables: predicted (theory) vs measured (network) t*, c, lam_opt vs the
best swept lam, and the theory/network output distance by width.

Settings (``--setting``, both by default), all on the shipped Fashion-MNIST subset (or the full
Fashion-MNIST with ``--dataset fashion_mnist`` and ``L2THEORY_DATA``):

- ``fc_mse``: per lam of ``--lams``, the exact infinite-width L2 gradient flow (analytic NTK of a
  depth-3 bias-free ReLU net, MSE) predicts t* (steps to minimum test loss) and
  ``c = lam lr t*``; a finite network of ``--net-width`` trained by full-batch GD from the same
  points measures them (``experiments.theory_vs_practice`` with one width). Then
  ``lam_opt(T) = c / (lr T)`` (c from the theory at the largest lam) against the best lam of a
  sweep of finite networks for each budget T of ``--budgets``.
- ``distance``: ``||f_net - f_theory|| / ||f_theory||`` on test outputs by width
  (``--widths``), mean/max over the window ``lam lr t`` in [0.05, 4].

Measured (defaults: depth 3, lr 0.5, 64 train / 256 test points of the shipped subset, seeds
0-1, full-batch GD; 2-core AMD EPYC VM shared with other jobs, jax 0.10.2; 144 s;
``results/theory_vs_practice-cpu-amd-epyc-2cores.json``)::

         lam  t* theory  t* net   c theory  c net     (width 1024; t* = steps to min test loss)
       0.005      285.9   287.3      0.715  0.718
        0.01      141.1   141.3      0.706  0.707
        0.02       72.2    72.3      0.722  0.723
      budget  lam_opt pred  best swept  ratio   (c = 0.722 from the theory at lam 0.02)
         100        0.0144        0.01   1.44
         200       0.00722       0.005   1.44
         400       0.00361      0.0025   1.44
       width  dist mean  dist max  linearized mean
         128      0.490     1.548      0.754
         512      0.192     0.259      0.720
        2048      0.098     0.122      0.699       (width exponent -0.58)

The lam_opt ratio 1.44 is the grid's resolution (lams a factor 2 apart): the prediction falls
between the best swept lam and the next one up.

Usage::

    PYTHONPATH=. python benchmarks/theory_vs_practice.py [--widths 128 512 2048] [--lams ...]
"""
from __future__ import annotations

import argparse
import json
import math
import re
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def device_tag(env: dict) -> str:
    name = f"cpu {env['cpu']} {env['cpu_count']}cores" if env["backend"] == "cpu" else \
        env["device_kind"]
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="fashion_mnist_subset")
    p.add_argument("--widths", type=int, nargs="+", default=[128, 512, 2048])
    p.add_argument("--lams", type=float, nargs="+", default=[5e-3, 1e-2, 2e-2])
    p.add_argument("--lr", type=float, default=0.5)
    p.add_argument("--depth", type=int, default=3)
    p.add_argument("--net-width", type=int, default=1024)
    p.add_argument("--n-train", type=int, default=64)
    p.add_argument("--n-test", type=int, default=256)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--budgets", type=int, nargs="+", default=[100, 200, 400])
    p.add_argument("--sweep-lams", type=float, nargs="+",
                   default=[2.5e-3, 5e-3, 1e-2, 2e-2, 4e-2, 8e-2])
    p.add_argument("--out", default=str(HERE / "results"))
    args = p.parse_args(argv)

    import jax

    jax.config.update("jax_enable_x64", True)
    from l2theory import data, experiments as ex, train
    from l2theory.experiments import per_lam, to_json
    from l2theory.train import environment

    start = time.perf_counter()
    env = environment()
    ds = data.load(args.dataset, seed=0)
    # 1. t* and c: theory vs network, per lam (one width)
    tstar_rows = []
    for lam in args.lams:
        r = ex.theory_vs_practice(ds, widths=[args.net_width], depth=args.depth, lam=lam,
                                  lr=args.lr, n_train=args.n_train, n_test=args.n_test,
                                  seeds=args.seeds, linearized=False, n_records=48)
        e = r["per_width"][0]
        tstar_rows.append({"lam": lam, "lr": args.lr, "t_star_theory": e["t_star_flow"],
                           "t_star_network": e["t_star_net"],
                           "c_theory": lam * args.lr * e["t_star_flow"],
                           "c_network": lam * args.lr * e["t_star_net"],
                           "distance_mean": e["distance_mean"]})
    # 2. lam_opt: c from the theory at the largest lam vs the best lam of a network sweep
    c_theory = tstar_rows[-1]["c_theory"]
    sub = data.standardize(data.load(args.dataset, n_train=args.n_train, n_test=args.n_test,
                                     seed=0))
    cfg = train.TrainConfig(model="fc", depth=args.depth, width=args.net_width, bias=False,
                            parameterization="ntk", loss="mse", lr=args.lr,
                            steps=max(args.budgets),
                            eval_every=math.gcd(*args.budgets), batch_size=None,
                            train_eval_size=None)
    rows = train.sweep(cfg, sub, lam=args.sweep_lams, lr=[args.lr], seeds=args.seeds,
                       progress=False)
    lam_rows = []
    for b in args.budgets:
        got = per_lam(rows, args.sweep_lams, metric="test_loss", at_step=b)
        ib = int(np.nanargmin([np.inf if v is None else v for v in got["mean"]]))
        pred = c_theory / (args.lr * b)
        lam_rows.append({"budget": b, "lam_opt_predicted": pred,
                         "lam_best_swept": args.sweep_lams[ib],
                         "ratio": pred / args.sweep_lams[ib],
                         "test_loss_best": got["mean"][ib]})
    # 3. distance by width
    r = ex.theory_vs_practice(ds, widths=args.widths, depth=args.depth, lam=args.lams[1]
                              if len(args.lams) > 1 else args.lams[0], lr=args.lr,
                              n_train=args.n_train, n_test=args.n_test, seeds=args.seeds)
    dist_rows = [{k: e[k] for k in ("width", "distance_mean", "distance_max",
                                    "distance_linearized_mean", "t_star_net", "t_star_flow")}
                 for e in r["per_width"]]
    runtime = time.perf_counter() - start

    print(f"\nTheory vs practice ({args.dataset}, depth {args.depth}, lr {args.lr}, "
          f"{args.n_train}/{args.n_test} points, seeds {args.seeds}; "
          f"{env['cpu'] if env['backend'] == 'cpu' else env['device_kind']})")
    print(f"\n{'lam':>8} {'t* theory':>10} {'t* net':>10} {'c theory':>9} {'c net':>9}   "
          f"(width {args.net_width}; t* = steps to min test loss)")
    for x in tstar_rows:
        print(f"{x['lam']:8.3g} {x['t_star_theory']:10.1f} {x['t_star_network']:10.1f} "
              f"{x['c_theory']:9.3f} {x['c_network']:9.3f}")
    print(f"\n{'budget':>8} {'lam_opt pred':>13} {'best swept':>11} {'ratio':>6}   "
          f"(c = {c_theory:.3f} from the theory at lam {args.lams[-1]:g}; best = min test loss)")
    for x in lam_rows:
        print(f"{x['budget']:8d} {x['lam_opt_predicted']:13.3g} {x['lam_best_swept']:11.3g} "
              f"{x['ratio']:6.2f}")
    print(f"\n{'width':>8} {'dist mean':>10} {'dist max':>9} {'lin. mean':>10}")
    for x in dist_rows:
        print(f"{x['width']:8d} {x['distance_mean']:10.3f} {x['distance_max']:9.3f} "
              f"{x['distance_linearized_mean']:10.3f}")
    print(f"\nwidth exponent {r['width_exponent'] and round(r['width_exponent']['distance_mean'], 3)}"
          f"; runtime {runtime:.0f} s")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"theory_vs_practice-{device_tag(env)}.json"
    with open(path, "w") as fh:
        json.dump(to_json({"config": vars(args), "machine": env, "t_star": tstar_rows,
                           "lam_opt": lam_rows, "distance": dist_rows,
                           "width_exponent": r["width_exponent"], "runtime_s": runtime}),
                  fh, indent=2)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
