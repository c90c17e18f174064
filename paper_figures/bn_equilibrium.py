"""Entry point: ``python paper_figures/bn_equilibrium.py [options]`` runs
``l2theory.figures.bn_equilibrium`` and writes its ``REPORT.md``. Options: those of ``l2theory
figures`` (the docstring of ``l2theory.figures``); what it shows and measured numbers:
``docs/figures.md``."""
from l2theory.figures import bn_equilibrium

if __name__ == "__main__":
    raise SystemExit(bn_equilibrium.main())
