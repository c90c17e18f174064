"""Shared fixtures. Tests that need float64 take the ``x64`` fixture (JAX x64 on, then restored),
so the default float32 behaviour of the other tests is not changed."""
import pytest

from l2theory import _x64


@pytest.fixture
def x64():
    with _x64.x64():
        yield
