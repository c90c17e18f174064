"""Entry point: ``python paper_figures/theory_vs_practice.py [options]`` runs
``l2theory.figures.theory_vs_practice`` and writes its ``REPORT.md``. Options: those of ``l2theory
figures`` (the docstring of ``l2theory.figures``); what it shows and measured numbers:
``docs/figures.md``."""
from l2theory.figures import theory_vs_practice

if __name__ == "__main__":
    raise SystemExit(theory_vs_practice.main())
