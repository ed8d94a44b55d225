"""Source networks for transfer, and which one each fold may start from.

A transfer setting starts a fold's network from a source network trained on another problem.
The source must never have seen the fold's held-out compound, nor, under NSCB, any batch (week)
the compound was imaged in. ``train_source_bank`` trains, batched, one source network per distinct
set of cells that the target's folds require excluded from the source problem: under NSC from the
other Pset that is one network on all its cells; under NSCB one per distinct week set of the
target's compounds; with the 12-class problem as the source, one per target compound.
``fold_sources`` then picks for every fold the first network that is clean for it, from the
compounds and batches each network records, and refuses to go on if none is.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import keras
import numpy as np
import pandas as pd

from hca_dtl.data.normalize import FoldNormalizers
from hca_dtl.data.schema import BATCH, COMPOUND, LABEL, ROLE_TRAIN, ROLE_VALID
from hca_dtl.evaluation.loocv import FoldPlan, train_valid_split
from hca_dtl.evaluation.normalised import normalised_blocks, stack_blocks
from hca_dtl.model.bank import SourceBank
from hca_dtl.model.learners import Learner
from hca_dtl.model.masks import TransferSetting
from hca_dtl.model.weights import LayerInit

logger = logging.getLogger(__name__)


def source_exclusions(source: pd.DataFrame, target: pd.DataFrame, *,
                      hold_out_batch: bool) -> tuple[np.ndarray, list[str], list[tuple[str, ...]]]:
    """Which source cells each of the target's folds requires excluded, deduplicated.

    For every compound c of ``target`` (sorted): the source cells of c itself and, with
    ``hold_out_batch``, every source cell of a batch c was imaged in (in ``target``).

    Returns:
        ``(excluded, described, batches)``: (n_source_cells, J) bool, one column per distinct
        exclusion in order of first appearance, a text for each (``"nothing"``, ``"batches Week1
        Week4"``…) and the batches each excludes (empty under NSC).
    """
    compound = source[COMPOUND].astype(str).to_numpy()
    batch = source[BATCH].astype(str).to_numpy() if hold_out_batch else None
    target_batches = (target.groupby(target[COMPOUND].astype(str))[BATCH]
                      .agg(lambda b: sorted(set(b.astype(str)))) if hold_out_batch else None)
    columns: dict[bytes, tuple[np.ndarray, str, tuple[str, ...]]] = {}
    for name in sorted(set(target[COMPOUND].astype(str))):
        mask = compound == name
        parts = [f"compound {name}"] if mask.any() else []
        weeks: tuple[str, ...] = ()
        if hold_out_batch:
            weeks = tuple(target_batches[name])
            mask = mask | np.isin(batch, weeks)
            parts.append("batches " + " ".join(weeks))
        columns.setdefault(np.packbits(mask).tobytes(), (mask, "; ".join(parts) or "nothing", weeks))
    if not columns:  # no target folds: one network over every source cell
        return np.zeros((len(source), 1), bool), ["nothing"], [()]
    excluded = np.stack([mask for mask, _, _ in columns.values()], axis=1)
    return (excluded, [text for _, text, _ in columns.values()],
            [weeks for _, _, weeks in columns.values()])


def train_source_bank(source: pd.DataFrame, classes: Sequence[str], features: Sequence[str],
                      target: pd.DataFrame, *, learner: Learner, config: Any, hold_out_batch: bool,
                      validation_fraction: float, seed: int, metadata: Mapping[str, Any],
                      normalizers: FoldNormalizers | None = None) -> SourceBank:
    """Trains, batched, every source network that ``target``'s folds need (``source_exclusions``).

    Each network is trained as a source model is (greedy pretraining and fine-tuning on its TRAIN
    cells, early stopping on whole validation wells drawn with ``seed``); network j has key (j,),
    so a bank of one network over every cell is the plain source model of the problem.

    Args:
        source: The source problem's cells (with ``Metadata_Label``): raw, normalised by each
            network's own normaliser (``normalizers``' default, fitted without the batches the
            network excludes), or already normalised when ``normalizers`` is None.
        classes: Its MOA names by label code.
        features: Feature columns (D).
        target: The target problem's cells (compounds and batches only are read).
        metadata: Recorded in every network's metadata (e.g. problem, data source).
        normalizers: The candidate normalisations; the first (the default) is used.

    Returns:
        The bank; network j's ``metadata`` adds ``features``, ``classes``, ``compounds`` and
        ``batches`` (those of its TRAIN or VALID cells), ``excluded`` (text), ``epochs_run``,
        ``best_valid_error`` and ``timings_seconds``.
    """
    excluded, described, batches = source_exclusions(source, target, hold_out_batch=hold_out_batch)
    plan = train_valid_split(source, validation_fraction=validation_fraction, seed=seed,
                             excluded=excluded)
    y = source[LABEL].to_numpy(dtype=np.int32)
    keys = list(dict.fromkeys(batches))  # one normalisation per distinct set of batches left out
    group = np.array([keys.index(b) for b in batches], dtype=np.int64)
    if normalizers is None:
        blocks, fitted = [source[list(features)].to_numpy(dtype=np.float32)], [None]
        group = np.zeros(plan.n_folds, dtype=np.int64)
    else:
        label = normalizers.labels[0]
        blocks = normalised_blocks(source, features, normalizers, label, keys)
        fitted = [normalizers.get(label, key) for key in keys]
    x, y_all, stacked = stack_blocks(plan, blocks, group, y)
    logger.info("Training %d source network(s) of %s (%s)", plan.n_folds,
                metadata.get("problem", "?"), "NSCB" if hold_out_batch else "NSC")
    ensemble = learner.train_folds(x, y_all, stacked.roles, len(classes), config, pretrain=True)
    compound = source[COMPOUND].astype(str).to_numpy()
    batch = source[BATCH].astype(str).to_numpy() if BATCH in source.columns else None
    networks = []
    for j in range(plan.n_folds):
        used = np.isin(plan.roles[:, j], (ROLE_TRAIN, ROLE_VALID))
        networks.append(ensemble.to_keras_model(j, metadata={
            **metadata,
            "features": list(features),
            "classes": list(classes),
            "compounds": sorted(set(compound[used])),
            "batches": sorted(set(batch[used])) if batch is not None else [],
            "n_cells": int(used.sum()),
            "excluded": described[j],
            **({} if fitted[group[j]] is None else {
                "normalization": fitted[group[j]].spec.label,
                "normalizer": fitted[group[j]].to_dict()}),
            "epochs_run": int(ensemble.epochs_run[j]),
            "best_valid_error": float(ensemble.best_valid_error[j]),
            "timings_seconds": {k: float(v) for k, v in ensemble.timings.items()},
        }))
    return SourceBank(networks, metadata={**metadata, "n_networks": len(networks),
                                          "protocol": "NSCB" if hold_out_batch else "NSC"})


def source_networks(models: Sequence[keras.Model]) -> list[keras.Model]:
    """The single networks of ``models``: a ``SourceBank`` contributes each of its networks."""
    return [n for m in models for n in (m.networks if isinstance(m, SourceBank) else [m])]


def fold_sources(plan: FoldPlan, networks: Sequence[keras.Model]) -> np.ndarray:
    """(F,) index of the source network each fold starts from: among those that saw neither the
    fold's held-out compound nor, under NSCB, any of its batches (``metadata["compounds"]``,
    ``metadata["batches"]``), the one trained on the most cells (``metadata["n_cells"]``; the
    first on ties).

    Raises:
        ValueError: A network does not list what it was trained on, or no network is clean for
            some fold (the compound named): transferring from it would leak the test compound.
    """
    seen = []
    for i, network in enumerate(networks):
        metadata = getattr(network, "metadata", {}) or {}
        needed = ["compounds"] + (["batches"] if plan.protocol == "NSCB" else [])
        if any(key not in metadata for key in needed):
            raise ValueError(f"Source network {i} does not list the {' and '.join(needed)} it was "
                             "trained on (metadata); retrain it (kedro run --pipelines=source_models)")
        seen.append((set(metadata["compounds"]), set(metadata.get("batches", [])),
                     int(metadata.get("n_cells", 0))))
    choice = []
    for compound, batches in zip(plan.compounds, plan.held_out_batches):
        clean = [i for i, (compounds, weeks, _) in enumerate(seen) if compound not in compounds
                 and (plan.protocol == "NSC" or not weeks & set(batches))]
        if not clean:
            what = "compound" + (f" {compound!r} or its batches {list(batches)}"
                                 if plan.protocol == "NSCB" else f" {compound!r}")
            raise ValueError(f"Every source network saw the held-out {what}: transferring from "
                             "one would leak the test compound into its fold")
        choice.append(max(clean, key=lambda i: (seen[i][2], -i)))
    return np.array(choice, dtype=np.int64)


def fold_transfer_init(choice: np.ndarray, networks: Sequence[keras.Model], setting: TransferSetting,
                       classes: Sequence[str], learner: Learner, members: int = 1) -> list[LayerInit]:
    """``train_folds``'s ``init`` for members · F networks (member m of fold f is column
    m·F + f), fold f from ``networks[choice[f]]``: arrays shared by every network where one source
    serves all folds, else with a leading (members · F) axis."""
    inits = {i: learner.transfer_init(networks[i], setting.mask, target_classes=list(classes))
             for i in np.unique(choice)}
    first = inits[choice[0]]
    if len(inits) == 1:
        return first
    columns = np.tile(choice, members)
    return [None if entry is None else
            [np.stack([inits[i][k][j] for i in columns]) for j in range(len(entry))]
            for k, entry in enumerate(first)]
