"""Entry point: ``python paper_figures/infinite_width.py [options]`` runs
``l2theory.figures.infinite_width`` and writes its ``REPORT.md``. Options: those of ``l2theory
figures`` (the docstring of ``l2theory.figures``); what it shows and measured numbers:
``docs/figures.md``."""
from l2theory.figures import infinite_width

if __name__ == "__main__":
    raise SystemExit(infinite_width.main())
