"""Entry point: ``python paper_figures/make_all.py [options]`` runs every figure and writes
``REPORT.md`` (``l2theory.figures.make_all``: the same as ``l2theory figures``). Options: those of
``l2theory figures`` (the docstring of ``l2theory.figures``); what it shows and measured numbers:
``docs/figures.md``."""
from l2theory.figures import make_all

if __name__ == "__main__":
    raise SystemExit(make_all.main())
