"""Neural tangent kernels: analytic (infinite width) and empirical (any JAX model).

Analytic: ``fc_relu`` (fully connected ReLU nets), ``conv_relu`` (ReLU CNNs with a flatten or
global-average-pooling readout), and the same as kernel functions, ``fc_relu_fn`` and
``conv_relu_fn``; ``empirical_ntk`` for any ``apply_fn(params, x)``.

A kernel function is ``kernel_fn(x1, x2=None) -> (nngp, ntk)``; neural-tangents' ``kernel_fn``s
are accepted wherever one is taken (``as_kernel_fn``), when neural-tangents is installed.
``ntk_matrices`` gives the train-train and test-train NTKs of any kernel function.
``kernel_matrix`` evaluates any kernel function in tiles, for data sets whose kernel's
temporaries would not fit (the full 60,000-image training set); ``kernel_operator`` is the same
kernel as a linear operator that is never stored (a ``KernelOperator``: ``op @ V`` recomputes
its tiles).
"""
from l2theory._theory.conv_kernels import conv_relu
from l2theory._theory.conv_kernels import conv_relu_fn
from l2theory._theory.empirical_ntk import empirical_ntk
from l2theory._theory.fc_kernels import fc_relu
from l2theory._theory.fc_kernels import fc_relu_fn
from l2theory._theory.kernel_blocks import KernelOperator
from l2theory._theory.kernel_blocks import kernel_matrix
from l2theory._theory.kernel_blocks import kernel_operator
from l2theory._theory.nt_adapter import as_kernel_fn
from l2theory._theory.nt_adapter import ntk_matrices

__all__ = [
    "KernelOperator",
    "as_kernel_fn",
    "conv_relu",
    "conv_relu_fn",
    "empirical_ntk",
    "fc_relu",
    "fc_relu_fn",
    "kernel_matrix",
    "kernel_operator",
    "ntk_matrices",
]
