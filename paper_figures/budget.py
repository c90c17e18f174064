"""Entry point: ``python paper_figures/budget.py [options]`` runs ``l2theory.figures.budget`` and
writes its ``REPORT.md``. Options: those of ``l2theory figures`` (the docstring of
``l2theory.figures``); what it shows and measured numbers: ``docs/figures.md``."""
from l2theory.figures import budget

if __name__ == "__main__":
    raise SystemExit(budget.main())
