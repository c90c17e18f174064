"""Entry point: ``python paper_figures/theory.py [--preset quick|paper] [--out DIR]`` runs
``l2theory.figures.theory`` (see its docstring for what it shows, presets and measured numbers)."""
from l2theory.figures import theory

if __name__ == "__main__":
    raise SystemExit(theory.main())
