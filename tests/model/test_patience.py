"""The tutorial's geometric-patience rule on scripted validation curves."""

from __future__ import annotations

import numpy as np
import pytest

from hca_dtl.model import GeometricPatience


def run(curves: np.ndarray, n_batches, *, patience_epochs=2, max_epochs=100):
    """Feeds (epochs, F) scripted errors until every fold stops; returns the rule's state."""
    rule = GeometricPatience(np.asarray(n_batches), patience_epochs=patience_epochs,
                             improvement_threshold=0.995, patience_increase=2.0,
                             max_epochs=max_epochs)
    improved_at = []
    for epoch, errors in enumerate(curves, start=1):
        improved_at.append(rule.update(epoch, errors))
        if not rule.active.any():
            break
    return rule, np.array(improved_at)


def reference(curve, n_batches, patience_epochs, max_epochs):
    """The tutorial's loop, written out literally for one fold (validation after every epoch)."""
    patience, best, best_epoch = patience_epochs * n_batches, np.inf, 0
    for epoch in range(1, max_epochs + 1):
        it = epoch * n_batches - 1
        error = curve[epoch - 1]
        if error < best:
            if error < best * 0.995:
                patience = max(patience, it * 2.0)
            best, best_epoch = error, epoch
        if patience <= it or epoch == max_epochs:
            return epoch, best_epoch, best


def test_flat_curve_stops_after_initial_patience():
    # n_batches 1, patience 2 updates: epoch 1 improves (patience max(2, 0) = 2); stop when it >= 2.
    rule, improved = run(np.full((10, 1), 0.5), [1])
    assert rule.epochs_run[0] == 3
    assert rule.best_epoch[0] == 1 and improved[:, 0].tolist() == [True, False, False]


def test_improvements_extend_patience_geometrically():
    # Improving every epoch with n_batches = 3: patience = 2 * it keeps growing, so only the cap stops.
    curve = np.linspace(0.9, 0.1, 40)[:, None]
    rule, _ = run(curve, [3], max_epochs=25)
    assert rule.epochs_run[0] == 25 and rule.best_epoch[0] == 25


def test_insignificant_improvements_are_kept_but_do_not_extend_patience():
    # 0.5 → 0.499 → 0.4985 each beat the best (new best weights) but not by the 0.995 factor:
    # patience stays 2 updates, so the fold stops at epoch 3 (it = 2) and never sees the 0.1.
    curve = np.array([[0.5], [0.499], [0.4985], [0.1]])
    rule, improved = run(curve, [1])
    assert improved[:, 0].tolist() == [True, True, True]
    assert rule.patience[0] == 2
    assert rule.epochs_run[0] == 3 and rule.best_epoch[0] == 3
    assert rule.best_error[0] == pytest.approx(0.4985)


@pytest.mark.parametrize("seed", range(5))
def test_vectorised_folds_match_the_literal_loop(seed):
    rng = np.random.default_rng(seed)
    n_batches = rng.integers(1, 6, size=4)
    curves = np.clip(np.cumsum(rng.normal(-0.01, 0.03, (60, 4)), axis=0) + 0.6, 0, 1)
    rule, _ = run(curves, n_batches, patience_epochs=3, max_epochs=50)
    for fold in range(4):
        stopped, best_epoch, best = reference(curves[:, fold], n_batches[fold], 3, 50)
        assert rule.epochs_run[fold] == stopped
        assert rule.best_epoch[fold] == best_epoch
        assert rule.best_error[fold] == best


def test_a_stopped_fold_ignores_later_errors():
    curves = np.array([[0.5, 0.5], [0.5, 0.4], [0.5, 0.3], [0.1, 0.2]])
    rule, _ = run(curves, [1, 1])
    assert rule.epochs_run.tolist() == [3, 4]
    assert rule.best_error[0] == 0.5  # the 0.1 of epoch 4 came after fold 0 had stopped


def test_rejects_bad_batch_counts():
    with pytest.raises(ValueError, match="n_batches"):
        GeometricPatience(np.array([0]), patience_epochs=1, improvement_threshold=0.995,
                          patience_increase=2.0, max_epochs=3)
