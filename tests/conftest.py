"""Shared fixtures. Tests that need float64 take the ``x64`` fixture (JAX x64 on, then restored),
so the default float32 behaviour of the other tests is not changed."""
import jax
import pytest


@pytest.fixture
def x64():
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", previous)
