"""Each network's random draws, keyed so that they do not depend on the other networks of a run.

A network is named by a key: a row of non-negative integers (``run_saa_experiment`` uses
(member, repetition, compound index)). Its initial weights come from ``init_rng`` and its cell
order in epoch e of training stage s (pretraining hidden layer k: s = k; fine-tuning: s = K) from
``epoch_order``. Both are functions of (seed, key, stage, epoch) only, so a network trains the same
whether it runs alone or beside others, in either engine, and with any prefetching.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

_INIT, _ORDER = 0, 1


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
