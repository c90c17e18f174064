"""On-device data augmentation: pure JAX functions of a PRNG key, usable under jit and vmap.

Each function takes the key first and draws its randomness only from it, so the same key gives
the same batch and a sweep can ``jax.vmap`` over keys. Shapes and ``pad`` are static.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from l2theory import _checks


def random_crop_flip(key: jax.Array, x: jax.Array, pad: int = 4, *, flip: bool = True) -> jax.Array:
    """Random crop after zero padding, and random horizontal flip, drawn per example.

    Each image ``[H, W, C]`` is zero-padded by ``pad`` pixels on every side, cropped back to
    ``[H, W]`` at an offset ``(dy, dx)`` uniform in ``{0, ..., 2 pad}^2``, then mirrored left-right
    (``x[:, ::-1]``) with probability 1/2. This is the standard CIFAR-10 augmentation (pad 4).
    Zero padding means padding with the mean when the inputs are standardized first.

    Args:
      key: a PRNG key (``jax.random.key`` or ``jax.random.PRNGKey``).
      x: a batch ``[N, H, W, C]`` (NHWC), or a single image ``[H, W, C]`` (treated as a batch of
        one).
      pad: the padding in pixels, a non-negative Python int; 0 gives flips only.
      flip: whether to flip (keyword-only).

    Returns:
      An array of the shape and dtype of ``x``.

    Example:
      >>> x = jnp.arange(2 * 4 * 4 * 1.0).reshape(2, 4, 4, 1)
      >>> jax.jit(random_crop_flip, static_argnums=2)(jax.random.PRNGKey(0), x, 1).shape
      (2, 4, 4, 1)
    """
    # Python or numpy ints; not bools, floats or tracers
    pad = _checks.integer("pad", pad, low=0, what="the padding (a static int under jit)",
                          fix="e.g. 4; under jax.jit mark it static (static_argnums)")
    x = jnp.asarray(x)
    if x.ndim == 3:
        return random_crop_flip(key, x[None], pad, flip=flip)[0]
    if x.ndim != 4:
        raise _checks.bad("x", x, "must be a batch of images [N, H, W, C] or one image [H, W, C]",
                          "add the missing axes, e.g. x[..., None] for one channel")
    n, h, w, c = x.shape
    key_crop, key_flip = jax.random.split(key)
    if pad:
        offsets = jax.random.randint(key_crop, (n, 2), 0, 2 * pad + 1)
        padded = jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))

        def crop(image, offset):
            return jax.lax.dynamic_slice(image, (offset[0], offset[1], 0), (h, w, c))

        x = jax.vmap(crop)(padded, offsets)
    if flip:
        mirror = jax.random.bernoulli(key_flip, 0.5, (n,))
        x = jnp.where(mirror[:, None, None, None], x[:, :, ::-1, :], x)
    return x


def mixup(key: jax.Array, x: jax.Array, y_onehot: jax.Array, alpha: float, *,
          per_example: bool = False, partner: str = "permutation") -> tuple[jax.Array, jax.Array]:
    """Mixup (Zhang et al. 2018): convex combinations of the batch with a shuffled copy of itself.

    With weights ``lam ~ Beta(alpha, alpha)`` and a partner index ``p``:
    ``x'_i = lam_i x_i + (1 - lam_i) x_p(i)`` and ``y'_i = lam_i y_i + (1 - lam_i) y_p(i)``.
    Centered one-hot targets stay centered. The default draws one ``lam`` for the batch and a
    random permutation ``p``. ``per_example=True, partner="reverse"`` is google/autol2's form
    (``jaxwrn_utils.mixup``): one ``lam_i`` per example, ``p(i) = N - 1 - i`` (a random pairing
    when the batch is in random order, as a minibatch is).

    Args:
      key: a PRNG key.
      x: inputs ``[N, ...]`` (floating point).
      y_onehot: targets ``[N, k]`` (one-hot, centered or not).
      alpha: the Beta parameter, > 0 (small alpha: ``lam`` near 0 or 1, little mixing).
      per_example: one weight per example instead of one per batch.
      partner: ``"permutation"`` (random) or ``"reverse"`` (the batch reversed).

    Returns:
      ``(x_mixed, y_mixed)`` with the shapes of ``x`` and ``y_onehot``, the dtype of ``x`` and
      that of ``y_onehot`` (integer targets are cast to the dtype of ``x``).
    """
    if not isinstance(alpha, jax.Array):  # a traced alpha is the caller's to check
        _checks.positive("alpha", alpha, what="the Beta parameter", fix="e.g. 0.2")
    _checks.choice("partner", partner, ("permutation", "reverse"))
    x, y_onehot = jnp.asarray(x), jnp.asarray(y_onehot)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise _checks.bad("x", x, f"mixup needs floating-point inputs, got dtype {x.dtype}",
                          "e.g. x.astype(jnp.float32)", kind=TypeError)
    if x.shape[0] != y_onehot.shape[0]:
        raise _checks.bad("y_onehot", y_onehot, f"x has {x.shape[0]} examples but y_onehot has "
                          f"{y_onehot.shape[0]}", "pass one target row per example")
    if not jnp.issubdtype(y_onehot.dtype, jnp.floating):
        y_onehot = y_onehot.astype(x.dtype)
    key_lam, key_perm = jax.random.split(key)
    # Beta(alpha, alpha) as g1 / (g1 + g2) with g1, g2 ~ Gamma(alpha): one gamma sampler (faster
    # to compile than jax.random.beta, which builds two).
    n = x.shape[0]
    g = jax.random.gamma(key_lam, alpha, (2, n) if per_example else (2,))
    lam = g[0] / (g[0] + g[1])
    if partner == "reverse":
        x_p, y_p = x[::-1], y_onehot[::-1]
    else:
        perm = jax.random.permutation(key_perm, n)
        x_p, y_p = x[perm], y_onehot[perm]

    def mix(a, b):
        shape = lam.shape + (1,) * (a.ndim - 1) if per_example else ()
        w, v = lam.astype(a.dtype).reshape(shape), (1 - lam).astype(a.dtype).reshape(shape)
        return w * a + v * b

    return mix(x, x_p), mix(y_onehot, y_p)
