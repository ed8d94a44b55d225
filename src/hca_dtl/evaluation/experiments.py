"""Training the networks of one experiment (a row of the paper's Table 1) under a fold plan.

Glue between ``hca_dtl.model`` (fold-batched training) and the result tables of
``hca_dtl.evaluation``: every fold × member is one network of one batched model, keyed
(member, repetition, compound[, inner fold]) so that it trains the same in any block of folds.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from hca_dtl.data.schema import ROLE_TEST, ROLE_VALID
from hca_dtl.evaluation.loocv import FoldPlan
from hca_dtl.evaluation.results import EXPERIMENT_KEYS
from hca_dtl.evaluation.sources import fold_sources, fold_transfer_init
from hca_dtl.model.learners import Learner
from hca_dtl.model.masks import BASELINE, TransferSetting

logger = logging.getLogger(__name__)


def experiment_keys(approach: str, target: str, *, setting: TransferSetting = BASELINE,
                    source: str = "") -> dict[str, str]:
    """The identifying columns of one experiment, e.g. ``DTL_1 Pset2→Pset1``; ``mask`` is the
    setting's ``label`` and ``source`` is kept only where the setting transfers."""
    source = source if setting.transfers else ""
    name = f"{approach} {source}→{target}" if source else f"{approach} {target}"
    return dict(zip(EXPERIMENT_KEYS, (name, approach, setting.label, source, target)))


def member_keys(plan: FoldPlan, members: int, inner: np.ndarray | None = None) -> np.ndarray:
    """(members · F, k) network keys (member, repetition, compound index[, inner fold]): a
    network's weights and cell orders depend on which fold and member it is, not on which other
    folds train beside it. Compounds are indexed in name order among the outer folds' compounds;
    ``inner`` (F,) (0 for outer folds) adds a fourth column for nested plans."""
    outer = plan.compounds if inner is None else [c for c, i in zip(plan.compounds, inner) if i == 0]
    index = {compound: i for i, compound in enumerate(sorted(set(outer)))}
    compound_index = [index.get(c, -1) for c in plan.compounds]
    if inner is not None:  # an inner fold's "compound" is a group; key it by its outer fold's
        parent_index, current = [], -1
        for c, i in zip(compound_index, inner):
            current = c if i == 0 else current
            parent_index.append(current)
        compound_index = parent_index
    columns = [plan.repetitions, compound_index] + ([inner] if inner is not None else [])
    folds = np.column_stack(columns)
    return np.concatenate([np.column_stack([np.full(len(folds), m), folds])
                           for m in range(members)]).astype(np.int64)


@dataclass
class TrainedFolds:
    """What the harness needs of a trained network experiment, member by member.

    Attributes:
        probabilities: (N, M, F, C) class probabilities of every cell under every fold, per member.
        epochs: (M, F) fine-tuning epochs.
        best_valid_error: (M, F) validation error of the kept weights.
        collapsed: (M, F) the network predicts one class for all of its fold's VALID and TEST
            cells although these span several MOAs.
        timings: ``pretrain_seconds``, ``finetune_seconds``, ``wall_seconds``.
    """

    probabilities: np.ndarray
    epochs: np.ndarray
    best_valid_error: np.ndarray
    collapsed: np.ndarray
    timings: dict[str, float]


def train_network_folds(
    x: np.ndarray,
    y: np.ndarray,
    plan: FoldPlan,
    n_classes: int,
    learner: Learner,
    config: Any,
    *,
    classes: Sequence[str],
    setting: TransferSetting = BASELINE,
    source_networks: Sequence[keras.Model] = (),
    source_choice: np.ndarray | None = None,
    members: int = 1,
    engine: str = "batched",
    keys: np.ndarray | None = None,
    max_networks: int | None = None,
) -> TrainedFolds:
    """Trains every fold of ``plan`` × ``members`` as one batched model and predicts every cell.

    Args:
        x: (N, D) normalised features; y: (N,) label codes.
        plan: Fold plan over the N cells.
        source_networks: Source networks where ``setting`` transfers.
        source_choice: (F,) the network each fold starts from (default: ``fold_sources(plan,
            source_networks)``; a nested plan passes its outer folds' choice to their inner folds).
        keys: (members · F, k) network keys (default ``member_keys(plan, members)``).
        max_networks: Train at most this many of the members · F networks as one model (None:
            all); keyed networks train the same in any block, so this bounds memory only.

    Raises:
        ValueError: A transferring setting without source networks, ``members`` < 1.
    """
    if setting.transfers and not source_networks:
        raise ValueError(f"The setting {setting.label!r} transfers layers but no source model was "
                         "given")
    if members < 1:
        raise ValueError(f"members must be at least 1, got {members}.")
    choice = None
    if setting.transfers:
        choice = fold_sources(plan, source_networks) if source_choice is None else source_choice
    keys = member_keys(plan, members) if keys is None else keys
    n_networks = members * plan.n_folds
    roles = np.tile(plan.roles, (1, members))
    size = n_networks if max_networks is None else max_networks
    blocks = [np.arange(start, min(start + size, n_networks)) for start in range(0, n_networks, size)]
    logger.info("Training %d folds × %d member(s) on %d cells (%s)%s", plan.n_folds, members,
                len(x), setting.label or learner.name,
                f", in {len(blocks)} models of ≤ {size} networks" if len(blocks) > 1 else "")
    parts, epochs, valid_error, timings = [], [], [], Counter()
    for block in blocks:
        init = None if choice is None else fold_transfer_init(
            np.tile(choice, members)[block], source_networks, setting, classes, learner)
        ensemble = learner.train_folds(x, y, roles[:, block], n_classes, config, init=init,
                                       pretrain=setting.pretrain, engine=engine,
                                       network_keys=keys[block])
        parts.append(ensemble.predict_proba(x))
        epochs.append(np.asarray(ensemble.epochs_run, float))
        valid_error.append(np.asarray(ensemble.best_valid_error, float))
        timings.update(ensemble.timings)
        del ensemble
    probabilities = np.concatenate(parts, axis=1).reshape(len(x), members, plan.n_folds, n_classes)
    predicted = probabilities.argmax(axis=-1)  # (N, members, F)
    judged = (plan.roles == ROLE_VALID) | (plan.roles == ROLE_TEST)
    collapsed = np.zeros((members, plan.n_folds), dtype=bool)
    for f in range(plan.n_folds):
        cells = judged[:, f]
        if len(np.unique(y[cells])) > 1:
            collapsed[:, f] = [len(np.unique(predicted[cells, m, f])) == 1 for m in range(members)]
    return TrainedFolds(
        probabilities=probabilities,
        epochs=np.concatenate(epochs).reshape(members, plan.n_folds),
        best_valid_error=np.concatenate(valid_error).reshape(members, plan.n_folds),
        collapsed=collapsed,
        timings=dict(timings),
    )


def learner_config(learner: Learner, params: Mapping[str, Any], setting: TransferSetting) -> Any:
    """The learner's configuration: ``params`` with the setting's own overrides."""
    return learner.config({**params, **setting.config})
