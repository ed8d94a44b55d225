"""Running one SAA experiment (a row of the paper's Table 1) under a LOOCV fold plan.

Glue between ``hca_dtl.model`` (training) and the result tables of ``hca_dtl.evaluation``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
import pandas as pd

from hca_dtl.data.schema import COMPOUND, LABEL, ROLE_TRAIN, ROLE_VALID
from hca_dtl.evaluation.loocv import FoldPlan
from hca_dtl.evaluation.results import EXPERIMENT_KEYS, test_predictions
from hca_dtl.model import SAAConfig, train_folds, transfer_init
from hca_dtl.model.transfer import BASELINE, TransferSetting
from hca_dtl.model.weights import LayerInit
from hca_dtl.runtime import device_description, keras_backend

logger = logging.getLogger(__name__)


def experiment_keys(approach: str, target: str, *, setting: TransferSetting = BASELINE,
                    source: str = "") -> dict[str, str]:
    """The identifying columns of one experiment, e.g. ``DTL_1 Pset2→Pset1``; ``mask`` is the
    setting's ``label`` and ``source`` is kept only where the setting transfers."""
    source = source if setting.transfers else ""
    name = f"{approach} {source}→{target}" if source else f"{approach} {target}"
    return dict(zip(EXPERIMENT_KEYS, (name, approach, setting.label, source, target)))


def member_keys(plan: FoldPlan, members: int) -> np.ndarray:
    """(members · F, 3) network keys (member, repetition, compound index): a network's weights and
    cell orders depend on which fold and member it is, not on how many repetitions run beside it.
    Compounds are indexed in name order."""
    index = {compound: i for i, compound in enumerate(sorted(set(plan.compounds)))}
    folds = np.column_stack([plan.repetitions, [index[c] for c in plan.compounds]])
    return np.concatenate([np.column_stack([np.full(len(folds), m), folds])
                           for m in range(members)]).astype(np.int64)


def fold_sources(plan: FoldPlan, source_models: Sequence[keras.Model]) -> np.ndarray:
    """(F,) index of the source model each fold starts from: the first that was not trained on
    the fold's held-out compound (``metadata["compounds"]``, written by ``train_source_model``).
    On the 12-class problem a fold holding out a Pset1 compound thus starts from the Pset2 model.

    Raises:
        ValueError: A source model does not list its compounds, or every source model was trained
            on some fold's held-out compound (named).
    """
    seen = []
    for i, model in enumerate(source_models):
        compounds = getattr(model, "metadata", {}).get("compounds")
        if compounds is None:
            raise ValueError(f"Source model {i} does not list the compounds it was trained on "
                             "(metadata['compounds']); retrain it with train_source_model "
                             "(kedro run --pipeline=pretraining)")
        seen.append(set(compounds))
    choice = []
    for compound in plan.compounds:
        clean = [i for i, compounds in enumerate(seen) if compound not in compounds]
        if not clean:
            raise ValueError(f"Every source model was trained on the held-out compound "
                             f"{compound!r}: transferring from it would leak the test compound")
        choice.append(clean[0])
    return np.array(choice, dtype=np.int64)


def fold_transfer_init(plan: FoldPlan, setting: TransferSetting,
                       source_models: Sequence[keras.Model], classes: list[str],
                       members: int = 1) -> list[LayerInit]:
    """``train_folds``'s ``init`` for members · F networks (member m of fold f is column
    m·F + f), each from its fold's source model (``fold_sources``): arrays shared by every
    network where one source serves all folds, else with a leading (members · F) axis."""
    choice = fold_sources(plan, source_models)
    inits = {i: transfer_init(source_models[i], setting.mask, target_classes=classes)
             for i in np.unique(choice)}
    first = inits[choice[0]]
    if len(inits) == 1:
        return first
    networks = np.tile(choice, members)
    return [None if entry is None else
            [np.stack([inits[i][k][j] for i in networks]) for j in range(len(entry))]
            for k, entry in enumerate(first)]


def run_saa_experiment(
    cells: pd.DataFrame,
    classes: list[str],
    features: list[str],
    plan: FoldPlan,
    config: SAAConfig,
    experiment: dict[str, str],
    *,
    setting: TransferSetting = BASELINE,
    source_models: Sequence[keras.Model] = (),
    engine: str = "batched",
    members: int = 1,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Trains every fold of ``plan`` (all repetitions at once) and predicts its test cells.

    Args:
        cells: The problem's cells (n_cells rows) with ``Metadata_Label``.
        classes: MOA name of each label code.
        features: Feature columns fed to the network (n_features).
        plan: Fold plan over ``cells`` (roles: n_cells × n_folds).
        config: Network and optimisation settings.
        experiment: Identifying columns (``experiment_keys``).
        setting: Which layers start from a source model and whether the others are greedily
            pretrained (default: the paper's BL, nothing transferred, every layer pretrained).
        source_models: Trained source classifiers (``train_source_model``), needed where
            ``setting`` transfers; each fold starts from the first one not trained on its
            held-out compound (``fold_sources``).
        engine: ``batched`` (all folds as one model) or ``sequential`` (the per-fold reference).
        members: Networks trained per fold, on the same cells from different initial weights;
            a cell's class probabilities are their mean (1: the paper's single network).

    Returns:
        The cell predictions of all test cells and the runs table (one row per repetition;
        times are the repetition's share of the jointly trained folds, in seconds).
    """
    x = cells[features].to_numpy(dtype=np.float32)
    y = cells[LABEL].to_numpy(dtype=np.int32)
    # A mask without any 1 (e.g. "[00000000]") transfers nothing: an MLP of the same size.
    if setting.transfers and not source_models:
        raise ValueError(f"{experiment['experiment']}: the setting {setting.label!r} transfers "
                         "layers but no source model was given")
    if members < 1:
        raise ValueError(f"members must be at least 1, got {members}.")
    init = (fold_transfer_init(plan, setting, source_models, classes, members) if setting.transfers
            else None)
    n_folds = plan.roles.shape[1]
    logger.info("Training %s: %d folds × %d member(s), %d cells", experiment["experiment"], n_folds,
                members, len(x))
    # Member m of fold f is column m·F + f: the fold's roles, its own network key.
    ensemble = train_folds(x, y, np.tile(plan.roles, (1, members)), len(classes), config, init=init,
                           pretrain=setting.pretrain, engine=engine,
                           network_keys=member_keys(plan, members))
    probabilities = ensemble.predict_proba(x).reshape(len(x), members, n_folds, len(classes)).mean(axis=1)
    # The winning probability breaks vote ties (a treatment has only ~3 wells in a profile table).
    predictions = test_predictions(cells, plan, probabilities.argmax(axis=-1), classes, experiment,
                                   probabilities=probabilities.max(axis=-1))

    repetitions, folds_per_repetition = np.unique(plan.repetitions, return_counts=True)
    share = folds_per_repetition / n_folds
    epochs = ensemble.epochs_run.reshape(members, n_folds).mean(axis=0)
    timings = ensemble.timings
    runs = pd.DataFrame(
        {
            **{key: experiment[key] for key in EXPERIMENT_KEYS},
            "repetition": repetitions,
            "n_compounds": folds_per_repetition,
            "pretrain_seconds": timings["pretrain_seconds"] * share,
            "finetune_seconds": timings["finetune_seconds"] * share,
            "wall_seconds": timings["wall_seconds"] * share,
            "epochs_mean": [float(np.mean(epochs[plan.repetitions == r])) for r in repetitions],
            "members": members,
            "engine": engine,
            "backend": keras_backend(),
            "device": device_description(),
        }
    )
    return predictions, runs


def train_source_model(
    cells: pd.DataFrame,
    classes: list[str],
    features: list[str],
    plan: FoldPlan,
    config: SAAConfig,
    metadata: dict[str, Any],
) -> keras.Model:
    """Pretrains and fine-tunes one SAA on a whole source problem (``plan``: one fold, no test).

    Returns:
        A single-fold Keras classifier carrying its scaler and ``metadata`` (features, classes,
        ``compounds`` seen in TRAIN or VALID, configuration, data source, package versions).
        ``fold_sources`` never lets a fold that holds out one of those compounds start from it.
    """
    x = cells[features].to_numpy(dtype=np.float32)
    y = cells[LABEL].to_numpy(dtype=np.int32)
    ensemble = train_folds(x, y, plan.roles, len(classes), config, pretrain=True)
    used = np.isin(plan.roles[:, 0], (ROLE_TRAIN, ROLE_VALID))
    metadata = {
        **metadata,
        "features": list(features),
        "classes": list(classes),
        "compounds": sorted(cells.loc[used, COMPOUND].astype(str).unique()),
        "epochs_run": int(ensemble.epochs_run[0]),
        "best_valid_error": float(ensemble.best_valid_error[0]),
        "timings_seconds": {k: float(v) for k, v in ensemble.timings.items()},
    }
    return ensemble.to_keras_model(0, metadata=metadata)
