"""Entry point: ``python paper_figures/collapse.py [options]`` runs ``l2theory.figures.collapse``
and writes its ``REPORT.md``. Options: those of ``l2theory figures`` (the docstring of
``l2theory.figures``); what it shows and measured numbers: ``docs/figures.md``."""
from l2theory.figures import collapse

if __name__ == "__main__":
    raise SystemExit(collapse.main())
