"""``l2theory figures``: regenerate the paper's figures and ``REPORT.md`` (predicted vs measured,
PASS/FAIL per relation) by running ``l2theory.figures.make_all.run_all``."""
from __future__ import annotations

import argparse

from l2theory.figures import FIGURES


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="l2theory figures", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=("quick", "paper"), default="quick",
                        help="quick: CPU minutes on the shipped Fashion-MNIST subset (default); "
                             "paper: the paper's datasets and models (GPU; MNIST/CIFAR-10 must "
                             "be on disk, see $L2THEORY_DATA)")
    parser.add_argument("--out", default="out/figures",
                        help="output folder: one subfolder per figure and REPORT.md "
                             "(default out/figures)")
    parser.add_argument("--only", nargs="+", choices=FIGURES, metavar="NAME",
                        help=f"run only these figures ({', '.join(FIGURES)})")
    parser.add_argument("--tiny", action="store_true",
                        help="tiny settings that run in about a minute (tests; numbers "
                             "meaningless)")
    args = parser.parse_args(argv)
    from l2theory.figures import make_all

    report = make_all.run_all(args.preset, args.out, args.only, args.tiny)
    print(f"report: {report}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
