"""The MLP's maths in ``keras.ops``, shared by the single network and the fold-batched engine.

Every function works on the last axis and broadcasts over the leading ones, so one network's
(B, d) and F folds' (F, B, d) activations go through the same code.

Noise (dropout masks, masking corruption) is not drawn from a random-number generator but
hashed: the uniform number of unit j of cell c under noise key k is a 32-bit integer hash of
(k, c, j) (``keyed_uniform``). A network's keys come from its seed and key (``streams.noise_keys``:
one per noise site, stage and epoch), so the noise a fold meets is the same in either engine,
alone or beside any other folds, in any batch position, and on every backend.
"""

from __future__ import annotations

from typing import Any

from keras import ops

LAYER_NORM_EPSILON = 1e-5
# Chris Wellons' "lowbias32" integer hash (public domain); multipliers as int32.
_HASH_MULTIPLIERS = (0x7FEB352D, 0x846CA68B - 2**32)


def _shift_right(x: Any, bits: int) -> Any:
    """Logical right shift of int32 ``x`` (``right_shift`` is arithmetic for signed integers)."""
    return ops.bitwise_and(ops.right_shift(x, bits), (1 << (32 - bits)) - 1)


def hash32(x: Any) -> Any:
    """The lowbias32 hash of int32 ``x``, elementwise, as int32 (the bits of the uint32 result).

    Multiplication wraps modulo 2³² (two's complement), as on every Keras backend.
    """
    x = ops.convert_to_tensor(x, dtype="int32")
    x = ops.bitwise_xor(x, _shift_right(x, 16))
    x = ops.multiply(x, _HASH_MULTIPLIERS[0])
    x = ops.bitwise_xor(x, _shift_right(x, 15))
    x = ops.multiply(x, _HASH_MULTIPLIERS[1])
    return ops.bitwise_xor(x, _shift_right(x, 16))


def keyed_uniform(key: Any, cells: Any, n_units: int) -> Any:
    """Uniform numbers in [0, 1) (24-bit resolution) for every cell and unit, float32.

    Args:
        key: int32 noise key(s), broadcastable against ``cells`` (a scalar for one network, (F, 1)
            for F folds).
        cells: int32 cell indices, e.g. (B,) or (F, B).
        n_units: Units d of the noisy layer.

    Returns:
        ``cells.shape + (d,)`` float32, a function of (key, cell, unit) only.
    """
    per_cell = hash32(ops.bitwise_xor(ops.convert_to_tensor(key, dtype="int32"),
                                      hash32(cells)))
    units = hash32(ops.arange(n_units, dtype="int32"))
    bits = hash32(ops.bitwise_xor(ops.expand_dims(per_cell, -1), units))
    return ops.cast(_shift_right(bits, 8), "float32") * (1.0 / 2**24)


def dropout(hidden: Any, uniform: Any, rate: float) -> Any:
    """Inverted dropout: units whose ``uniform`` is below ``rate`` are zeroed, the others scaled
    by 1 / (1 − rate)."""
    keep = ops.cast(uniform >= rate, hidden.dtype)
    return hidden * keep * (1.0 / (1.0 - rate))


def mask_noise(inputs: Any, uniform: Any, corruption: float) -> Any:
    """The tutorial's masking corruption: inputs whose ``uniform`` is below ``corruption`` are
    set to 0 (for standardised inputs, the training mean), the others kept unscaled."""
    return inputs * ops.cast(uniform >= corruption, inputs.dtype)


def layer_norm(hidden: Any, gamma: Any, beta: Any) -> Any:
    """Layer normalisation over the last axis, in float32: ``(h − mean) / sqrt(var + ε) · γ + β``.

    ``gamma`` and ``beta`` broadcast against ``hidden`` ((d,) for one network, (F, 1, d) for F).
    """
    h = ops.cast(hidden, "float32")
    mean = ops.mean(h, axis=-1, keepdims=True)
    centred = h - mean
    variance = ops.mean(ops.square(centred), axis=-1, keepdims=True)
    normalised = centred * ops.rsqrt(variance + LAYER_NORM_EPSILON)
    return ops.cast(normalised * ops.cast(gamma, "float32") + ops.cast(beta, "float32"),
                    hidden.dtype)


def activate(hidden: Any, activation: str) -> Any:
    """``relu`` or ``gelu`` (exact, with erf)."""
    if activation == "relu":
        return ops.relu(hidden)
    if activation == "gelu":
        return ops.gelu(hidden, approximate=False)
    raise ValueError(f"Unknown activation {activation!r}; expected 'relu' or 'gelu'")


def he_uniform_limit(fan_in: int) -> float:
    """Half-width of He-uniform initial kernels for ReLU-like layers: sqrt(6 / fan_in)."""
    return (6.0 / fan_in) ** 0.5


def glorot_uniform_limit(fan_in: int, fan_out: int) -> float:
    """Half-width of Glorot-uniform initial kernels (the logistic layer): sqrt(6 / (in + out))."""
    return (6.0 / (fan_in + fan_out)) ** 0.5
