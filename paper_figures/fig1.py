"""Entry point: ``python paper_figures/fig1.py [options]`` runs ``l2theory.figures.fig1`` and writes
its ``REPORT.md``. Options: those of ``l2theory figures`` (the docstring of ``l2theory.figures``);
what it shows and measured numbers: ``docs/figures.md``."""
from l2theory.figures import fig1

if __name__ == "__main__":
    raise SystemExit(fig1.main())
