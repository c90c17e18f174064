"""Entry point: ``python paper_figures/budget.py [--preset quick|paper] [--out DIR]`` runs
``l2theory.figures.budget`` (see its docstring for what it shows, presets and measured numbers)."""
from l2theory.figures import budget

if __name__ == "__main__":
    raise SystemExit(budget.main())
