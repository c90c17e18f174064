"""``l2theory predict``: a training run predicted without training.

The same model, data and optimizer options as ``l2theory train`` (one function builds both
parsers, ``training.add_run_options``: the same defaults), and prints:

- the model, its homogeneity degree (or the lazy limit; ``--degree`` imposes one on a network
  that is not homogeneous) and the kernel (the network's empirical NTK at its initialization by
  default; ``--kernel analytic`` for infinite width);
- the data and its preprocessing (the run's: ``--standardize`` on by default, centred one-hot
  targets for MSE), on at most ``--max-n`` training and test points;
- the flow's rates per step (output shrink ``lr lam L``, kernel decay ``2(L-1) lr lam``, the
  fastest mode ``lr lam_max / n`` against gradient descent's stability bound);
- ``t*`` by test loss and by test accuracy with their ``c = lam lr t*``;
- ``lam_opt = c / (lr T)`` for ``--budget T`` steps (default ``--steps``), by each ``c``, and a
  verdict line per ``lam_opt`` saying whether it means anything (``solvers.lam_opt_verdict``:
  beats lam = 0 beyond the test noise, a sharp peak, consistent, resolved in float32/float64).

Which ``c`` answers which question: ``c`` by test accuracy, "which lam gives the best test
accuracy after T steps"; ``c`` by test loss, the lowest test loss. ``--json`` prints the same as
one JSON object (``experiments.RunPrediction.summary``) for machines. ``l2theory train`` with
the same options prints the measured ``t*`` beside this prediction.

Example::

    l2theory predict --depth 3 --width 512 --lr 0.5 --lam 1e-3 --steps 10000
"""
from __future__ import annotations

import argparse
import json
from typing import Sequence

from l2theory._cli import training
from l2theory._cli._common import Parser


def predict_parser() -> Parser:
    parser = Parser(prog="l2theory predict", description=__doc__, epilog=training._objective())
    training.add_run_options(parser)
    group = parser.add_argument_group("prediction")
    group.add_argument("--budget", type=float, default=None, metavar="T",
                       help="step budget T of lam_opt = c / (lr T) [default: --steps]")
    group.add_argument("--kernel", choices=("empirical", "analytic"), default="empirical",
                       help="empirical: the network's NTK at its initialization (this width, "
                            "this seed); analytic: the infinite-width NTK (fc, and cnn without "
                            "local pooling, in the NTK parameterization) [default: empirical]")
    group.add_argument("--f0", choices=("network", "zero"), default="network",
                       help="initial outputs: the initialized network's, or zero (the "
                            "infinite-ensemble mean) [default: network]")
    group.add_argument("--degree", type=_degree, default=None, metavar="L",
                       help="homogeneity degree of the flow for a network that is not "
                            "homogeneous (biases, residual sums), as an approximation: an int, or "
                            "euler (the network's effective degree at initialization) [default: "
                            "the model's own degree; a network that is not homogeneous takes its "
                            "lazy limit where the package has it]")
    group.add_argument("--max-n", type=int, default=2000, metavar="N",
                       help="most training and test points of the flow (a class-stratified "
                            "subset of the data; the kernel is N x N) [default: 2000]")
    group.add_argument("--json", action="store_true",
                       help="print one JSON object instead of the lines")
    return parser


def _degree(text: str):
    if text == "euler":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an int or 'euler', got {text!r}") from None


def main(argv: Sequence[str] | None = None) -> int:
    """``l2theory predict``."""
    args = predict_parser().parse_args(argv)
    config = training._config(args)
    if args.budget is not None and not args.budget > 0:
        raise ValueError(f"--budget={args.budget:g}: the step budget T must be > 0; e.g. "
                         "--budget 10000")
    if args.max_n < 10:
        raise ValueError(f"--max-n={args.max_n}: the flow needs at least one point per class; "
                         "e.g. --max-n 2000")
    training.use_x64(args)
    prediction = training.run_prediction(args, config)
    if args.json:
        print(json.dumps(prediction.summary(), indent=2))
    else:
        print("\n".join(prediction.lines()))
        print(f"({prediction.seconds:.1f} s)")
    return 0
