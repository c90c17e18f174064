"""Entry point: ``python paper_figures/theory_cnn.py [--preset quick|paper] [--out DIR]`` runs
``l2theory.figures.theory_cnn`` (see its docstring for what it shows, presets and measured numbers)."""
from l2theory.figures import theory_cnn

if __name__ == "__main__":
    raise SystemExit(theory_cnn.main())
