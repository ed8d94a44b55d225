"""Early stopping by geometrically increasing patience (the Theano deep-learning tutorial's rule)."""

from __future__ import annotations

import numpy as np


class GeometricPatience:
    """The tutorial's stopping rule, checked after every epoch, for F folds at once.

    Patience starts at ``patience_epochs × n_batches`` updates. After epoch ``e`` (1-based) a fold
    with ``it = e × n_batches − 1`` and a validation error below its best so far takes it as the
    new best (its weights are to be kept); if the error is also below ``best × threshold`` the
    patience grows to ``max(patience, it × increase)``. A fold stops once ``patience <= it`` or
    after ``max_epochs`` epochs.

    Attributes (arrays of shape (F,)):
        active: Folds still training.
        best_error: Lowest validation error so far (``inf`` before the first epoch).
        best_epoch: Epoch (1-based) of ``best_error``; 0 before the first.
        epochs_run: Epochs each fold trained.
        patience: Current patience, in updates.
    """

    def __init__(self, n_batches: np.ndarray, *, patience_epochs: int, improvement_threshold: float,
                 patience_increase: float, max_epochs: int) -> None:
        """Args:
            n_batches: (F,) mini-batches (updates) per epoch of each fold's own training set.
        """
        self.n_batches = np.asarray(n_batches, dtype=np.int64)
        if self.n_batches.ndim != 1 or (self.n_batches < 1).any():
            raise ValueError(f"n_batches must be a 1-d array of positive counts, got {n_batches!r}")
        n_folds = len(self.n_batches)
        self.patience = (patience_epochs * self.n_batches).astype(np.float64)
        self.improvement_threshold = float(improvement_threshold)
        self.patience_increase = float(patience_increase)
        self.max_epochs = int(max_epochs)
        self.active = np.ones(n_folds, dtype=bool)
        self.best_error = np.full(n_folds, np.inf)
        self.best_epoch = np.zeros(n_folds, dtype=np.int64)
        self.epochs_run = np.zeros(n_folds, dtype=np.int64)

    def update(self, epoch: int, valid_error: np.ndarray) -> np.ndarray:
        """Applies the rule after ``epoch`` (1-based) to the active folds.

        Args:
            valid_error: (F,) validation error of each fold after this epoch (ignored where inactive).

        Returns:
            (F,) bool, the folds whose weights after this epoch are their new best.
        """
        valid_error = np.asarray(valid_error, dtype=np.float64)
        it = epoch * self.n_batches - 1
        improved = self.active & (valid_error < self.best_error)
        significant = improved & (valid_error < self.best_error * self.improvement_threshold)
        self.patience = np.where(significant, np.maximum(self.patience, it * self.patience_increase),
                                 self.patience)
        self.best_error = np.where(improved, valid_error, self.best_error)
        self.best_epoch = np.where(improved, epoch, self.best_epoch)
        self.epochs_run = np.where(self.active, epoch, self.epochs_run)
        self.active = self.active & ~((self.patience <= it) | (epoch >= self.max_epochs))
        return improved
