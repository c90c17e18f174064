"""Entry point: ``python paper_figures/lazy_limit.py [options]`` runs
``l2theory.figures.lazy_limit`` and writes its ``REPORT.md``. Options: those of ``l2theory figures``
(the docstring of ``l2theory.figures``); what it shows and measured numbers: ``docs/figures.md``."""
from l2theory.figures import lazy_limit

if __name__ == "__main__":
    raise SystemExit(lazy_limit.main())
