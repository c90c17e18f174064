"""The theory half: kernels and exact function-space solvers (see THEORY.md)."""
