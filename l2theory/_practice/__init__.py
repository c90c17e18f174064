"""Practice half of l2theory: finite-width JAX networks, datasets and the training engine.

Public entry points are re-exported by the thin modules ``l2theory.models``, ``l2theory.data`` and
``l2theory.train``; everything under ``l2theory._practice`` is private and may move.
"""
