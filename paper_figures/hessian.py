"""Entry point: ``python paper_figures/hessian.py [--preset quick|paper] [--out DIR]`` runs
``l2theory.figures.hessian`` (see its docstring for what it shows, presets and measured numbers)."""
from l2theory.figures import hessian

if __name__ == "__main__":
    raise SystemExit(hessian.main())
