"""Metrics of output trajectories ``f [..., n, k]`` (in float64): the relative distance of two
trajectories, the MSE loss and the accuracy against targets, and the step of the minimum of a
noise-free (full-batch) curve."""
from __future__ import annotations

import numpy as np


def relative_distance(a, b, axis=(-2, -1)) -> np.ndarray:
    """``||a - b|| / ||b||`` (Frobenius norms over ``axis``, by default the points and outputs)."""
    return (np.sqrt(np.sum((np.asarray(a, np.float64) - b) ** 2, axis=axis))
            / np.sqrt(np.sum(np.asarray(b, np.float64) ** 2, axis=axis)))


def mse_loss(f, y) -> np.ndarray:
    """``mean_i 1/2 ||f_i - y_i||^2`` over the points ``i`` (the second-to-last axis)."""
    return np.mean(0.5 * np.sum((np.asarray(f, np.float64) - y) ** 2, axis=-1), axis=-1)


def accuracy(f, labels) -> np.ndarray:
    """The fraction of points whose largest output is their label."""
    return np.mean(np.argmax(f, axis=-1) == labels, axis=-1)


def refined_min(steps, values) -> float:
    """Step of the minimum of a smooth sampled curve: parabola through the discrete minimum and
    its neighbours in ``ln step`` (noise-free full-batch curves need no smoothing; noisy ones
    take ``peak.t_star``)."""
    steps, values = np.asarray(steps, np.float64), np.asarray(values, np.float64)
    i = int(np.argmin(values))
    if i == 0 or i == len(values) - 1:
        return float(steps[i])
    u = np.log(steps[i - 1:i + 2])
    c2, c1, _ = np.polyfit(u, values[i - 1:i + 2], 2)
    if c2 <= 0:
        return float(steps[i])
    return float(np.exp(np.clip(-c1 / (2 * c2), u[0], u[2])))
