"""Entry point: ``python paper_figures/theory.py [options]`` runs ``l2theory.figures.theory`` and
writes its ``REPORT.md``. Options: those of ``l2theory figures`` (the docstring of
``l2theory.figures``); what it shows and measured numbers: ``docs/figures.md``."""
from l2theory.figures import theory

if __name__ == "__main__":
    raise SystemExit(theory.main())
