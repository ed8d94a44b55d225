"""The one LOOCV harness: every result table of the project comes through ``run_unit``.

A *unit* is one method (a network setting, a scikit-learn baseline or 1-nearest-neighbour) on one
problem under one protocol (NSC or NSCB) for a block of repetitions of a fold plan. Every unit
does the same things in the same way:

1. the method's candidates (``selection``) — normalisations × its settings' candidates × network
   members — are trained on every fold (and, under the ``inner_compounds`` rule, on inner folds
   of each fold's own training compounds) and each fold picks one, inside its training data;
2. each fold predicts its held-out compound's cells with its choice;
3. treatments of folds whose held-out MOA has no training cell (possible under NSCB) are
   excluded from the votes and counted (``n_unscorable_treatments``);
4. cells vote per treatment (``voting.majority_vote``), accuracies per repetition follow;
5. folds whose network predicts one class for every cell it is judged on are counted
   (``n_collapsed_folds``) and logged, as is an accuracy at or below chance.

A unit's folds keep their numbers (``FoldPlan.fold_ids``) and every network its key, so a grid
run as many units gives the same votes as run whole.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from hca_dtl.data.normalize import FoldNormalizers
from hca_dtl.data.schema import LABEL, ROLE_TEST, ROLE_TRAIN, ROLE_VALID
from hca_dtl.evaluation.baselines import fit_fold, nsc_nearest_neighbour
from hca_dtl.evaluation.loocv import FoldPlan, NestedPlan, with_inner_folds
from hca_dtl.evaluation.normalised import (
    fold_normalisation,
    normalised_blocks,
    stack_blocks,
    unstack_blocks,
)
from hca_dtl.evaluation.protocol import LOOCVConfig, Method, baseline_options
from hca_dtl.evaluation.results import EXPERIMENT_KEYS, test_predictions
from hca_dtl.evaluation.selection import Candidate, candidates, choice_table, choose
from hca_dtl.evaluation.voting import accuracies, majority_vote
from hca_dtl.model.masks import BASELINE

logger = logging.getLogger(__name__)


@dataclass
class UnitResult:
    """The five tables a unit writes (see ``docs/method.md``, "Result tables")."""

    cell_predictions: pd.DataFrame
    votes: pd.DataFrame
    accuracies: pd.DataFrame
    runs: pd.DataFrame
    choices: pd.DataFrame


def run_unit(
    cells: pd.DataFrame,
    classes: Sequence[str],
    features: Sequence[str],
    plan: FoldPlan,
    method: Method,
    experiment: Mapping[str, str],
    *,
    loocv: LOOCVConfig,
    normalizers: FoldNormalizers,
    learner_params: Mapping[str, Mapping[str, Any]] | None = None,
    sources: Sequence[Any] = (),
) -> UnitResult:
    """Runs one method on every fold of ``plan`` and scores it per treatment.

    Args:
        cells: The problem's cells (n_cells rows) with ``Metadata_Label`` and raw features.
        classes: MOA name of each label code.
        features: Feature columns (D).
        plan: The unit's folds (one or more repetitions of a leave-one-compound-out plan).
        method: What to run.
        experiment: The ``EXPERIMENT_KEYS`` values of the results.
        loocv: The harness settings.
        normalizers: The candidate normalisations (``FoldNormalizers``: each fitted on control
            rows only, under NSCB without the fold's held-out batches); more than one makes them
            candidates, in order (the first is the default).
        learner_params: Learner name → its parameters (``params:saa``…), for network methods.
        sources: Source models or ``SourceBank``s, for network settings that transfer.

    Returns:
        The unit's cell predictions, votes, accuracies, runs and choices.
    """
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    runner = {"network": _run_network, "baseline": _run_baseline,
              "nearest_neighbour": _run_nearest_neighbour}[method.kind]
    predicted, probability, scores, options, details = runner(
        cells, classes, features, plan, method, loocv, normalizers, learner_params or {}, sources)
    chosen = choose(scores)
    outer = np.arange(plan.n_folds)
    if method.kind == "nearest_neighbour":
        votes = _replicated_votes(predicted, chosen, plan, experiment)
        cell_predictions = pd.DataFrame()
    else:
        codes = np.stack([predicted[c][:, f] for f, c in zip(outer, chosen)], axis=1)
        top = np.stack([probability[c][:, f] for f, c in zip(outer, chosen)], axis=1)
        cell_predictions = test_predictions(cells, plan, codes, classes, experiment, probabilities=top)
        untrainable = set(plan.fold_ids[plan.untrainable_folds].tolist())
        votes = majority_vote(cell_predictions[~cell_predictions["fold"].isin(untrainable)])
    unscorable = _unscorable_treatments(cells, plan)
    table = accuracies(votes, cell_predictions if len(cell_predictions) else None)
    folds = pd.DataFrame({**{k: experiment[k] for k in EXPERIMENT_KEYS},
                          "repetition": plan.repetitions, "fold": plan.fold_ids,
                          "held_out": plan.compounds})
    if "source" in details:  # which source network each fold started from
        folds = pd.concat([folds, details["source"]], axis=1)
    choices = choice_table(options, scores, chosen, folds, loocv.selection)
    collapsed = details.get("collapsed", np.zeros((len(options), plan.n_folds), bool))
    collapsed = np.array([collapsed[c, f] for f, c in zip(outer, chosen)])
    runs = _runs(plan, experiment, method, loocv, options, chosen, details, unscorable, collapsed,
                 time.perf_counter() - start_wall, time.process_time() - start_cpu)
    _warn(experiment, table, collapsed, plan, len(classes))
    return UnitResult(cell_predictions, votes, table, runs, choices)


def _nested(plan: FoldPlan, cells: pd.DataFrame, loocv: LOOCVConfig, n_candidates: int) -> NestedPlan | None:
    """The plan with inner folds when the unit must choose by inner evaluation, else None."""
    if n_candidates < 2 or loocv.selection != "inner_compounds":
        return None
    return with_inner_folds(plan, cells, n_inner=loocv.inner_folds,
                            validation_fraction=loocv.validation_fraction, seed=loocv.seed)


def _inner_scores(nested: NestedPlan, codes: np.ndarray, top: np.ndarray, cells: pd.DataFrame,
                  classes: Sequence[str]) -> np.ndarray:
    """(n_outer,) treatment-vote accuracy of each outer fold's inner folds, pooled over every
    inner held-out treatment whose MOA the inner fold trained on (NaN when none is scorable).

    Args:
        codes, top: (n_cells, n_folds of ``nested.plan``) predicted codes and their probability.
    """
    plan = nested.plan
    y = cells[LABEL].to_numpy()
    inner = np.flatnonzero(nested.inner > 0)
    sub = plan.select(inner)
    roles = sub.roles.copy()
    for k in range(sub.n_folds):  # an inner test cell of an MOA the inner fold never trained on
        trained = np.unique(y[roles[:, k] == ROLE_TRAIN])
        roles[(roles[:, k] == ROLE_TEST) & ~np.isin(y, trained), k] = 0
    sub.roles = roles
    sub.fold_ids = np.arange(sub.n_folds)  # identify inner folds by position here
    keys = dict(zip(EXPERIMENT_KEYS, ("inner", "inner", "", "", "")))
    predictions = test_predictions(cells, sub, codes[:, inner], classes, keys,
                                   probabilities=top[:, inner])
    scores = np.full(len(nested.outer), np.nan)
    if predictions.empty:
        return scores
    votes = majority_vote(predictions.assign(repetition=predictions["fold"]))
    correct = votes.groupby("repetition")["correct"].agg(["sum", "size"])
    parent = nested.parent[inner]
    outer_index = {p: i for i, p in enumerate(nested.outer)}
    totals = np.zeros((len(nested.outer), 2))
    for k, (hits, n) in correct.iterrows():
        totals[outer_index[parent[k]]] += (hits, n)
    with np.errstate(invalid="ignore"):
        return np.where(totals[:, 1] > 0, totals[:, 0] / totals[:, 1], np.nan)


def _run_network(cells, classes, features, plan, method, loocv, normalizers, learner_params, sources):
    """Every candidate of a network method. Candidates that differ only in their normalisation or
    their number of members train as folds of one model: each normalisation is a block of the
    feature matrix (``stack_blocks``), and the first m members of a fold are the m-member
    candidate (networks are keyed by member)."""
    from hca_dtl.evaluation.experiments import learner_config, member_keys, train_network_folds
    from hca_dtl.evaluation.sources import fold_sources, source_networks
    from hca_dtl.model.learners import learner as learner_named

    setting = method.setting
    learner = learner_named(setting.learner)
    if learner.name not in learner_params:
        raise ValueError(f"Method {method.name!r} uses the {learner.name!r} learner but no "
                         f"params:{learner.name} were given.")
    options = candidates(normalizers.labels, {**learner_params[learner.name], **setting.config},
                         loocv.members if setting.members is None else setting.members,
                         where=learner.name)
    nested = _nested(plan, cells, loocv, len(options))
    train_plan = nested.plan if nested is not None else plan
    outer = nested.outer if nested is not None else np.arange(plan.n_folds)
    parent = None if nested is None else np.searchsorted(nested.outer, nested.parent)
    networks = source_networks(sources) if setting.transfers else []
    if setting.transfers and not networks:
        raise ValueError(f"{method.name}: the setting {setting.label!r} transfers layers but no "
                         "source model was given")
    choice = fold_sources(plan, networks) if setting.transfers else None
    keys, group = fold_normalisation(plan, parent)
    y = cells[LABEL].to_numpy(dtype=np.int32)
    n_folds = train_plan.n_folds
    predicted, probability = [None] * len(options), [None] * len(options)
    scores = np.full((len(options), plan.n_folds), np.nan)
    details: dict[str, Any] = {"timings": Counter(), "epochs": [None] * len(options),
                               "collapsed": [None] * len(options), "members": [o.members for o in options]}
    models: dict[str, list[Candidate]] = {}
    for option in options:
        models.setdefault(json.dumps(option.settings, sort_keys=True, default=str), []).append(option)
    for shared in models.values():
        labels = list(dict.fromkeys(o.normalization for o in shared))
        members = max(o.members for o in shared)
        blocks = [b for label in labels
                  for b in normalised_blocks(cells, features, normalizers, label, keys)]
        tiled = _tiled(train_plan, len(labels))
        column_group = np.concatenate([n * len(keys) + group for n in range(len(labels))])
        x, y_all, stacked = stack_blocks(tiled, blocks, column_group, y)
        network_keys = member_keys(tiled, members, None if nested is None else np.tile(nested.inner, len(labels)))
        if len(labels) > 1:  # the same fold under another normalisation is another network
            network_keys = np.column_stack([network_keys, np.tile(np.repeat(np.arange(len(labels)), n_folds), members)])
        trained = train_network_folds(
            x, y_all, stacked, len(classes), learner, learner_config(learner, shared[0].settings, BASELINE),
            classes=classes, setting=setting, source_networks=networks,
            source_choice=None if choice is None else np.tile(choice if parent is None else choice[parent], len(labels)),
            members=members, engine=loocv.engine, keys=network_keys,
            max_networks=loocv.max_networks_per_model)
        details["timings"].update(trained.timings)
        for option in shared:
            columns = labels.index(option.normalization) * n_folds + np.arange(n_folds)
            m = option.members
            mean = unstack_blocks(trained.probabilities[:, :m][:, :, columns].mean(axis=1),
                                  column_group[columns], len(y))
            codes, top = mean.argmax(axis=-1), mean.max(axis=-1)
            c = option.index
            predicted[c], probability[c] = codes[:, outer], top[:, outer]
            if nested is not None:
                scores[c] = _inner_scores(nested, codes, top, cells, classes)
            elif len(options) > 1:
                scores[c] = -trained.best_valid_error[:m, columns].mean(axis=0)[outer]
            details["epochs"][c] = trained.epochs[:m, columns].mean(axis=0)[outer]
            details["collapsed"][c] = trained.collapsed[:m, columns].any(axis=0)[outer]
    details["collapsed"] = np.array(details["collapsed"])
    if choice is not None:
        details["source"] = pd.DataFrame({
            "source_network": choice,
            "source_problem": [networks[i].metadata.get("problem", "") for i in choice],
            "source_excluded": [networks[i].metadata.get("excluded", "") for i in choice]})
    return predicted, probability, scores, options, details


def _tiled(plan: FoldPlan, n: int) -> FoldPlan:
    """``plan`` with its folds repeated ``n`` times (fold f of copy k is column k · F + f)."""
    if n == 1:
        return plan
    return replace(plan, roles=np.tile(plan.roles, (1, n)), compounds=list(plan.compounds) * n,
                   repetitions=np.tile(plan.repetitions, n), moas=list(plan.moas) * n,
                   held_out_batches=list(plan.held_out_batches) * n,
                   fold_ids=np.tile(plan.fold_ids, n),
                   untrainable_folds=np.concatenate([plan.untrainable_folds + k * plan.n_folds
                                                     for k in range(n)]))


def _run_baseline(cells, classes, features, plan, method, loocv, normalizers, learner_params, sources):
    from tqdm.auto import tqdm

    options = candidates(normalizers.labels, baseline_options(method.baseline, method.options),
                         where=method.baseline)
    nested = _nested(plan, cells, loocv, len(options))
    train_plan = nested.plan if nested is not None else plan
    outer = nested.outer if nested is not None else np.arange(plan.n_folds)
    keys, group = fold_normalisation(plan, None if nested is None else
                                     np.searchsorted(nested.outer, nested.parent))
    y = cells[LABEL].to_numpy(dtype=np.int64)
    predicted, probability = [], []
    scores = np.full((len(options), plan.n_folds), np.nan)
    seconds = Counter()
    for c, option in enumerate(options):
        blocks = normalised_blocks(cells, features, normalizers, option.normalization, keys)
        codes = np.zeros(train_plan.roles.shape, dtype=np.int64)
        valid = np.full(train_plan.n_folds, np.nan)
        for k in tqdm(range(train_plan.n_folds), desc=f"{method.name} {option.label}".strip(),
                      disable=None):
            tick = time.perf_counter()
            x = blocks[group[k]]
            fitted = fit_fold(method.baseline, x, y, train_plan.roles[:, k], option.settings,
                              int(option.settings["seed"]) + int(train_plan.fold_ids[k]))
            test = train_plan.roles[:, k] == ROLE_TEST
            codes[test, k] = fitted.predict(x[test])
            valid[k] = fitted.valid_accuracy
            seconds["finetune_seconds"] += time.perf_counter() - tick
        logger.info("%s candidate %d of %d (%s): %d folds fitted, %.1f s so far", method.name,
                    c + 1, len(options), option.label or "default", train_plan.n_folds,
                    seconds["finetune_seconds"])
        ones = np.ones(codes.shape, np.float32)
        predicted.append(codes[:, outer])
        probability.append(ones[:, outer])
        if nested is not None:
            scores[c] = _inner_scores(nested, codes, ones, cells, classes)
        elif len(options) > 1:
            scores[c] = valid[outer]
    return predicted, probability, scores, options, {"timings": seconds}


def _run_nearest_neighbour(cells, classes, features, plan, method, loocv, normalizers,
                           learner_params, sources):
    hold_out_batch = plan.protocol == "NSCB"
    options = candidates(normalizers.labels, {})
    keys, group = fold_normalisation(plan)
    by_option, scores = [], np.full((len(options), plan.n_folds), np.nan)
    for c, option in enumerate(options):
        tables = [normalizers.get(option.normalization, key).transform(cells) for key in keys]
        calls = [nsc_nearest_neighbour(t, features, hold_out_batch=hold_out_batch) for t in tables]
        by_option.append([calls[g] for g in group])  # each fold's calls, under its normaliser
        if len(options) > 1 and loocv.selection == "inner_compounds":
            for f in range(plan.n_folds):  # 1-NN among the fold's training cells only
                fit = np.isin(plan.roles[:, f], (ROLE_TRAIN, ROLE_VALID))
                inner = nsc_nearest_neighbour(tables[group[f]][fit], features,
                                              hold_out_batch=hold_out_batch, warn=False)
                scores[c, f] = inner.loc[inner["moa_reachable"], "correct"].mean()
    return by_option, None, scores, options, {}


def _replicated_votes(by_option: list[list[pd.DataFrame]], chosen: np.ndarray, plan: FoldPlan,
                      experiment: Mapping[str, str]) -> pd.DataFrame:
    """1-NN votes of each fold's held-out compound (its chosen option), one copy per repetition
    (1-NN is deterministic); folds whose MOA cannot be reached under NSCB are left out."""
    untrainable = set(plan.untrainable_folds.tolist())
    parts = []
    for f in range(plan.n_folds):
        if f in untrainable:
            continue
        votes = by_option[chosen[f]][f]
        votes = votes[votes["Metadata_Compound"] == plan.compounds[f]].drop(columns="moa_reachable")
        parts.append(votes.assign(repetition=int(plan.repetitions[f]),
                                  **{k: experiment[k] for k in EXPERIMENT_KEYS}))
    columns = list(by_option[0][0].columns.drop("moa_reachable"))
    votes = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
    return votes.sort_values(["repetition", "Metadata_Treatment"], kind="stable").reset_index(drop=True)


def _unscorable_treatments(cells: pd.DataFrame, plan: FoldPlan) -> dict[int, int]:
    """Per repetition, treatments left out because their fold's MOA has no training cell."""
    counts: Counter = Counter()
    treatment = cells["Metadata_Treatment"].astype(str).to_numpy()
    for f in plan.untrainable_folds:
        test = plan.roles[:, f] == ROLE_TEST
        counts[int(plan.repetitions[f])] += len(set(treatment[test]))
    return counts


def parameters_digest(*parts: Any) -> str:
    """A short digest of the settings a unit ran with (``runs.parameters_digest``): units of one
    campaign made with other settings are caught when their results are collected."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _runs(plan, experiment, method, loocv, options, chosen, details, unscorable, collapsed,
          wall, cpu) -> pd.DataFrame:
    from hca_dtl.runtime import device_description, keras_backend

    repetitions, counts = np.unique(plan.repetitions, return_counts=True)
    share = counts / plan.n_folds
    timings = details.get("timings", {})
    epochs = (np.array([details["epochs"][c][f] for f, c in enumerate(chosen)])
              if details.get("epochs") else np.full(plan.n_folds, np.nan))
    members = (np.array([details["members"][c] for c in chosen])
               if details.get("members") else np.zeros(plan.n_folds))
    won = Counter(options[c].label or "(only candidate)" for c in chosen)
    network = method.kind == "network"
    rows = []
    for r, n, part in zip(repetitions, counts, share):
        in_rep = plan.repetitions == r
        rows.append({
            **{k: experiment[k] for k in EXPERIMENT_KEYS},
            "repetition": int(r),
            "n_compounds": int(n),
            "pretrain_seconds": float(timings.get("pretrain_seconds", 0.0)) * part,
            "finetune_seconds": float(timings.get("finetune_seconds", 0.0)) * part,
            "wall_seconds": wall * part,
            "cpu_seconds": cpu * part,
            "epochs_mean": float(np.mean(epochs[in_rep])),
            "members": float(np.mean(members[in_rep])),
            "n_candidates": len(options),
            "selection": loocv.selection if len(options) > 1 else "",
            "chosen": "; ".join(f"{label}: {k} folds" for label, k in won.most_common()),
            "n_unscorable_treatments": int(unscorable.get(int(r), 0)),
            "n_collapsed_folds": int(collapsed[in_rep].sum()),
            "engine": loocv.engine if network else method.baseline or "1-NN",
            "backend": keras_backend() if network else "scikit-learn / numpy",
            "device": device_description() if network else "cpu",
        })
    return pd.DataFrame(rows)


def _warn(experiment: Mapping[str, str], table: pd.DataFrame, collapsed: np.ndarray,
          plan: FoldPlan, n_classes: int) -> None:
    if collapsed.any():
        logger.warning("%s: %d of %d folds predict one class for every cell they are judged on "
                       "(held out: %s) — the network collapsed; see the report's warnings.",
                       experiment["experiment"], int(collapsed.sum()), plan.n_folds,
                       ", ".join(sorted(set(np.asarray(plan.compounds)[collapsed]))[:5]))
    chance = 1.0 / n_classes
    low = table[table["treatment_accuracy"] <= chance]
    for row in low.itertuples():
        logger.warning("%s repetition %d: treatment accuracy %.1f %% is at or below chance "
                       "(%.1f %%).", experiment["experiment"], row.repetition,
                       100 * row.treatment_accuracy, 100 * chance)
