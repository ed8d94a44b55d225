"""Each network's random draws, keyed so that they do not depend on the other networks of a run.

A network is named by a key: a row of non-negative integers (``run_saa_experiment`` uses
(member, repetition, compound index)). Its initial weights come from ``init_rng`` and its cell
order in epoch e of training stage s (pretraining hidden layer k: s = k; fine-tuning: s = K) from
``epoch_order``, and the keys of its noise (dropout masks, input corruption) in an epoch from
``noise_keys``. All are functions of (seed, key, stage, epoch) only, so a network trains the same
whether it runs alone or beside others, in either engine, and with any prefetching.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

_INIT, _ORDER, _NOISE = 0, 1, 2


def checked_keys(keys: np.ndarray | None, n_networks: int) -> np.ndarray:
    """Checked (F, k) int64 keys; None gives network f the key (f,).

    Raises:
        ValueError: Not F rows of non-negative integers, or two rows alike (they would draw the
            same weights and orders).
    """
    if keys is None:
        return np.arange(n_networks, dtype=np.int64)[:, None]
    keys = np.asarray(keys)
    if keys.ndim != 2 or len(keys) != n_networks or not np.issubdtype(keys.dtype, np.integer) or (
            keys.size and keys.min() < 0):
        raise ValueError(f"network_keys must be ({n_networks}, k) non-negative integers, got "
                         f"shape {keys.shape}, dtype {keys.dtype}")
    if len(np.unique(keys, axis=0)) != n_networks:
        raise ValueError("network_keys has repeated rows: every network needs its own key")
    return keys.astype(np.int64)


def init_rng(seed: int, key: Sequence[int]) -> np.random.Generator:
    """The generator of a network's initial weights."""
    return np.random.default_rng([seed, _INIT, *map(int, key)])


def epoch_order(cells: np.ndarray, seed: int, key: Sequence[int], stage: int, epoch: int,
                shuffle: bool = True) -> np.ndarray:
    """A network's cells (n,) in the order it meets them in ``epoch`` (0-based) of ``stage``."""
    if not shuffle:
        return cells
    rng = np.random.default_rng([seed, _ORDER, stage, epoch, *map(int, key)])
    return rng.permutation(cells)


def noise_keys(seed: int, key: Sequence[int], stage: int, epoch: int, n_slots: int) -> np.ndarray:
    """(n_slots,) int32 keys of a network's noise in ``epoch`` (0-based) of ``stage``: one per noise
    site (a dropout layer, or the corrupted input of a pretrained layer), each in [0, 2³¹)."""
    rng = np.random.default_rng([seed, _NOISE, stage, epoch, *map(int, key)])
    return rng.integers(0, 2**31, n_slots, dtype=np.int64).astype(np.int32)
