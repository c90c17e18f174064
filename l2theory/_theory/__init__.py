"""The theory half: kernels and exact function-space solvers (see docs/conventions.md)."""
