"""Entry point: ``python paper_figures/hessian.py [options]`` runs ``l2theory.figures.hessian`` and
writes its ``REPORT.md``. Options: those of ``l2theory figures`` (the docstring of
``l2theory.figures``); what it shows and measured numbers: ``docs/figures.md``."""
from l2theory.figures import hessian

if __name__ == "__main__":
    raise SystemExit(hessian.main())
