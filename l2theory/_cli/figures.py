"""``l2theory figures``: regenerate the paper's figures and ``REPORT.md`` (predicted vs measured,
PASS/FAIL per relation) by running ``l2theory.figures.make_all.run_all``.

Progress: one line per figure (``[2/5] theory_vs_practice``, then its time), a progress bar in
each long sweep and one line per width and seed in theory_vs_practice, on stderr (``--no-progress``
and ``--tiny`` keep to the per-figure lines). A figure whose dataset is missing is not run; the
others are, and the command then exits with status 2 naming what is missing."""
from __future__ import annotations

from l2theory._cli._common import Parser, check_out
from l2theory.figures import FIGURES


def main(argv=None) -> int:
    from l2theory.figures import make_all

    parser = Parser(prog="l2theory figures", description=__doc__)
    parser.add_argument("--preset", choices=make_all.presets(), default="quick",
                        help="quick: CPU minutes on the shipped Fashion-MNIST subset (default); "
                             "paper: the paper's datasets and models (GPU; MNIST/CIFAR-10 must "
                             "be on disk, see $L2THEORY_DATA); a figure's own preset (gpu: "
                             "Figure 1 in minutes on one GPU) runs the figures that have it")
    parser.add_argument("--out", default="out/figures", metavar="DIR",
                        help="output folder: one subfolder per figure and REPORT.md "
                             "[default: out/figures]")
    parser.add_argument("--only", nargs="+", choices=FIGURES, metavar="NAME",
                        help=f"run only these figures ({', '.join(FIGURES)})")
    parser.add_argument("--tiny", action="store_true",
                        help="tiny settings that run in about a minute (tests; numbers "
                             "meaningless)")
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress bars or per-width lines inside the figures")
    args = parser.parse_args(argv)
    check_out(args.out)
    report = make_all.run_all(args.preset, args.out, args.only, args.tiny,
                              progress=not (args.tiny or args.no_progress))
    print(f"report: {report}")
    return 0
