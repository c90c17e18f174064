"""Entry point: ``python paper_figures/theory_vs_practice.py [--preset quick|paper] [--out DIR]`` runs
``l2theory.figures.theory_vs_practice`` (see its docstring for what it shows, presets and measured numbers)."""
from l2theory.figures import theory_vs_practice

if __name__ == "__main__":
    raise SystemExit(theory_vs_practice.main())
