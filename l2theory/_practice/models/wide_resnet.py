"""Wide residual networks WRN-d-k (Zagoruyko & Komodakis, "Wide Residual Networks", BMVC 2016),
as in their reference implementation or as in google/autol2 (the paper's experiments)."""

from __future__ import annotations

import jax

from l2theory import _checks
from l2theory._practice.models import _layers
from l2theory._practice.models._model import Model

VARIANTS = ("reference", "autol2")

_HE = dict(parameterization="standard", w_std=2**0.5, b_std=0.0)  # W ~ N(0, 2/fan_in)
_HEAD = dict(parameterization="standard", w_std=1.0, b_std=0.0)  # W ~ N(0, 1/fan_in), b = 0
# google/autol2: neural-tangents' stax Conv/Dense (2020) with parameterization='standard' and
# their defaults W_std = 1, b_std = 0: W ~ N(0, 1/fan_in), a bias initialized at 0
_STAX = dict(parameterization="standard", w_std=1.0, b_std=0.0)


def wide_resnet(
    *,
    depth: int = 28,
    widen: int = 10,
    out_dim: int = 10,
    batchnorm: bool = True,
    bn_momentum: float | None = None,
    bn_group_size: int | None = None,
    residual_scale: float = 1.0,
    variant: str = "reference",
    dtype=None,
) -> Model:
    """Wide ResNet WRN-``depth``-``widen`` with pre-activation basic blocks, no dropout.

    ``n = (depth - 4) / 6`` blocks per stage (``depth`` = 10, 16, 22, 28, ...). Architecture::

        conv3x3(16) -> stage 1: n blocks, 16k channels, stride 1
                    -> stage 2: n blocks, 32k channels, stride 2
                    -> stage 3: n blocks, 64k channels, stride 2
                    -> BN - ReLU - global average pool - dense(out_dim)

    A block computes ``y = conv3x3(ReLU(BN(conv3x3(ReLU(BN(x)), stride))))`` and returns
    ``shortcut + residual_scale * y``. Two variants (``variant``) differ as follows::

                         "reference" (the default)         "autol2" (google/autol2's WideResnetnt)
        shortcut         x; conv1x1(ReLU(BN(x)), stride)   x; conv3x3(x, stride) of the raw input
                         where channels or size change     in every stage's first block (16->16 too)
        weight init      He, W ~ N(0, 2/fan_in);           W ~ N(0, 1/fan_in) everywhere
                         readout N(0, 1/fan_in)            (stax standard, W_std = 1)
        biases           none on convs; readout bias 0     every conv and the readout, init 0
        BN at eval       running averages (state)          the evaluated batch's own statistics
                                                           (no running averages, state = {})
        stride-2 pad     symmetric (1, 1)                  XLA "SAME": (0, 1)
        name             wrn-{depth}-{widen}               wrn-{depth}-{widen}-autol2

    Common to both: BatchNorm ``eps = 1e-5`` with trainable ``scale`` (init 1) and ``offset``
    (init 0) in ``params``, so the L2 term ``lam/2 ||theta||^2`` (over all params) applies to them;
    batch statistics in training, per group of ``bn_group_size`` consecutive examples when it is
    set (each group normalized on its own, as each device's share of a data-parallel batch: a
    batch of 1024 in groups of 128 gives exactly the outputs of 8 batches of 128); the global
    average pool (google/autol2's ``AvgPool((8, 8))`` on the 8x8 maps of 32x32 inputs, the only
    size their net takes). In ``"autol2"`` an example's evaluation output depends on the other
    examples of its batch (``model.eval_batch_stats``); their script evaluated the 10000 CIFAR-10
    test images in 8 shards of 1250 (``TrainConfig.eval_batch_size``). ``docs/conventions.md``
    section 4 compares the two with the authors' code.

    Reference BatchNorm in evaluation: ``running <- m * running + (1 - m) * batch`` with ``m =
    bn_momentum`` (default 0.9, i.e. PyTorch momentum 0.1); with groups, ``batch`` is the mean of
    the groups' statistics. ``batchnorm=False`` replaces every BN by the identity; then the forward
    variance roughly doubles per block at init, and ``residual_scale < 1`` (e.g. ``1/sqrt(3n)``)
    tames it.

    Scale invariance (``model.scale_invariant``): the first conv of every block feeds a BatchNorm
    directly (through its bias alone in ``"autol2"``, which BatchNorm's mean subtraction removes),
    and so does the stem of ``"reference"`` when the first block has a projection shortcut
    (``widen > 1``). The network is never homogeneous (scale-invariant BN; residual sums of
    different depths; biases), so ``degree`` is ``None``.

    Args:
      depth: total depth ``6n + 4`` with ``n >= 1``.
      widen: widening factor ``k >= 1``.
      out_dim: number of outputs.
      batchnorm: BatchNorm (or identity).
      bn_momentum: the running-average momentum (``"reference"`` only; default 0.9).
      bn_group_size: examples per BatchNorm statistics group in training (``None``: the whole
        batch); the batch size must be a multiple of it.
      residual_scale: multiplies the residual branch.
      variant: ``"reference"`` or ``"autol2"`` (the table above).
      dtype: compute dtype (e.g. ``jnp.bfloat16``) or ``None``; params stay float32, the output is
        cast back to the parameters' dtype, BatchNorm statistics are computed in float32 (float64
        for float64 parameters).

    Returns:
      A ``Model`` named as in the table. Parameter counts (CIFAR-10, 3 input channels, 10 outputs,
      BatchNorm): WRN-28-10 36,479,194 (``"autol2"``: 38,557,770); WRN-16-4 2,748,890
      (``"autol2"``: 3,087,018).

    Example:
      >>> import jax, jax.numpy as jnp
      >>> model = wide_resnet(depth=10, widen=1)
      >>> params, state = model.init(jax.random.PRNGKey(0), (32, 32, 3))
      >>> out, state = model.apply(params, state, jnp.ones((2, 32, 32, 3)), train=True)
      >>> out.shape
      (2, 10)
    """
    depth = _layers.check_positive_int("depth", depth)
    if (depth - 4) % 6 != 0 or depth < 10:
        raise _checks.bad("depth", depth, "a wide ResNet's depth must be 6n + 4 with n >= 1",
                          "e.g. 10, 16, 22, 28 or 40")
    n_blocks = (depth - 4) // 6
    widen = _layers.check_positive_int("widen", widen)
    out_dim = _layers.check_positive_int("out_dim", out_dim)
    dtype = _layers.canonical_dtype(dtype)
    batchnorm = _checks.boolean("batchnorm", batchnorm)
    variant = _layers.check_choice("variant", variant, VARIANTS)
    authors = variant == "autol2"
    if bn_momentum is not None and authors:
        raise _checks.bad("bn_momentum", bn_momentum, "has no effect with variant='autol2' "
                          "(its BatchNorm keeps no running averages)",
                          "leave bn_momentum unset (None)")
    bn_momentum = 0.9 if bn_momentum is None else _checks.real(
        "bn_momentum", bn_momentum, low=0.0, high=1.0, fix="e.g. 0.9")
    group = _layers.check_group_size(bn_group_size, batchnorm)
    residual_scale = _checks.real("residual_scale", residual_scale, fix="e.g. 1.0")
    stages = ((16 * widen, 1), (32 * widen, 2), (64 * widen, 2))  # (channels, first stride)
    conv_kw = dict(_STAX, padding="SAME") if authors else dict(_HE)
    init_kw = {k: v for k, v in conv_kw.items() if k != "padding"}
    head_kw = _STAX if authors else _HEAD

    def blocks():
        """(name, in_channels, out_channels, stride, shortcut conv?) of every block, in order."""
        c_in = 16
        for s, (c_out, stride) in enumerate(stages, start=1):
            for b in range(n_blocks):
                st = stride if b == 0 else 1
                projects = b == 0 if authors else (c_in != c_out or st != 1)
                yield f"stage{s}_block{b}", c_in, c_out, st, projects
                c_in = c_out

    def init(key, input_shape):
        channels = _layers.check_input_shape(input_shape, ndim=3)[2]
        return _layers.init_from_normals(key, lambda normal: build(normal, channels))

    def build(normal, channels):
        params = {"stem": _layers.conv_init(normal, 3, channels, 16, bias=authors, **init_kw)}
        state = {}
        for name, c_in, c_out, _, projects in blocks():
            p, s = {}, {}
            if batchnorm:
                p["bn1"], s["bn1"] = _layers.batchnorm_init(c_in)
                p["bn2"], s["bn2"] = _layers.batchnorm_init(c_out)
            p["conv1"] = _layers.conv_init(normal, 3, c_in, c_out, bias=authors, **init_kw)
            p["conv2"] = _layers.conv_init(normal, 3, c_out, c_out, bias=authors, **init_kw)
            if projects:
                p["shortcut"] = _layers.conv_init(normal, 3 if authors else 1, c_in, c_out,
                                                  bias=authors, **init_kw)
            params[name] = p
            if batchnorm and not authors:
                state[name] = s
        c_final = stages[-1][0]
        if batchnorm:
            params["bn_final"], s_final = _layers.batchnorm_init(c_final)
            if not authors:
                state["bn_final"] = s_final
        params["head"] = _layers.dense_init(normal, c_final, out_dim, bias=True, **head_kw)
        return params, state

    def apply(params, state, x, train):
        train = _layers.check_train(train)
        new_state = {}

        def norm(p, s, h, name, key):
            if not batchnorm:
                return h
            if authors:  # batch statistics in training and evaluation, no state
                return _layers.batch_normalize(p[key], h, group_size=group if train else None)[0]
            h, new_s = _layers.batchnorm_apply(p[key], None if s is None else s.get(key), h,
                                               train=train, momentum=bn_momentum,
                                               group_size=group)
            new_state.setdefault(name, {})[key] = new_s
            return h

        def conv(p, h, stride=1):
            return _layers.conv_apply(p, h, stride=stride, dtype=dtype, **conv_kw)

        h = conv(params["stem"], x)
        for name, _, _, stride, _ in blocks():
            p, s = params[name], state.get(name)
            o = jax.nn.relu(norm(p, s, h, name, "bn1"))
            y = conv(p["conv1"], o, stride)
            y = conv(p["conv2"], jax.nn.relu(norm(p, s, y, name, "bn2")))
            if "shortcut" in p:
                h = conv(p["shortcut"], h if authors else o, stride)
            h = h + residual_scale * y
        if batchnorm and authors:
            h = _layers.batch_normalize(params["bn_final"], h,
                                        group_size=group if train else None)[0]
        elif batchnorm:
            h, new_state["bn_final"] = _layers.batchnorm_apply(
                params["bn_final"], state.get("bn_final"), h, train=train, momentum=bn_momentum,
                group_size=group)
        h = _layers.global_pool(jax.nn.relu(h), "avg")
        out = _layers.dense_apply(params["head"], h, dtype=dtype, **head_kw)
        if dtype is not None:
            out = out.astype(params["head"]["w"].dtype)
        return out, (new_state if train else state)

    invariant = ()
    if batchnorm:
        invariant = tuple((name, "conv1", "w") for name, *_ in blocks())
        if not authors and 16 != stages[0][0]:
            # the first block projects the stem's output after its BN: nothing else reads it
            invariant = (("stem", "w"),) + invariant
    name = f"wrn-{depth}-{widen}" + ("-autol2" if authors else "") + ("" if batchnorm else "-nobn")
    return Model(init=init, apply=apply, name=name, degree=None, scale_invariant=invariant,
                 eval_batch_stats=authors and batchnorm)
