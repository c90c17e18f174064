"""``l2theory figures``: regenerate the paper's figures and ``REPORT.md`` (predicted vs measured,
PASS/FAIL per relation) by running ``paper_figures.make_all.run_all``.

The figure scripts live in the repository's ``paper_figures/`` folder, not in the installed
package: this command needs the repository checkout (run it from the checkout's root, or with
the checkout on ``PYTHONPATH``).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

FIGURES = ("theory", "theory_vs_practice", "collapse", "budget", "fig1")


def _import_make_all():
    try:
        from paper_figures import make_all
        return make_all
    except ImportError:
        pass
    # l2theory imported from a checkout: the folder above the package holds paper_figures/
    repo = Path(__file__).resolve().parents[2]
    if (repo / "paper_figures" / "make_all.py").is_file():
        sys.path.insert(0, str(repo))
        from paper_figures import make_all
        return make_all
    return None


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
    make_all = _import_make_all()
    if make_all is None:
        print("l2theory figures: the figure scripts (paper_figures/) are part of the l2theory "
              "repository checkout, not of the installed package. Clone the repository and run "
              "`l2theory figures` (or `python -m paper_figures.make_all`) from its root.",
              file=sys.stderr)
        return 2
    report = make_all.run_all(args.preset, args.out, args.only, args.tiny)
    print(f"report: {report}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
