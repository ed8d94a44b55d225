"""Network experiments through the harness: every held-out cell predicted once per repetition with
the winning probability; members; keyed networks; transfer from source banks that never saw the
held-out compound (nor, under NSCB, its batches)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hca_dtl.data.normalize import FoldNormalizers
from hca_dtl.data.schema import BATCH, COMPOUND, ROLE_TEST, ROLE_TRAIN, feature_columns
from hca_dtl.evaluation.experiments import experiment_keys, train_network_folds
from hca_dtl.evaluation.harness import run_unit
from hca_dtl.evaluation.loocv import leave_one_compound_out
from hca_dtl.evaluation.protocol import LOOCVConfig, Method
from hca_dtl.evaluation.sources import (
    fold_sources,
    fold_transfer_init,
    source_networks,
    train_source_bank,
)
from hca_dtl.model import SAAConfig, transfer_setting
from hca_dtl.model.learners import learner

SAA = dict(hidden_units=[8, 8], pretrain_learning_rate=0.05, pretrain_epochs=1,
           finetune_learning_rate=0.5, finetune_max_epochs=3, batch_size=16, seed=1)


def run(cells, classes, plan, setting=None, *, members=1, sources=(), **loocv):
    setting = transfer_setting(setting) if not hasattr(setting, "mask") else setting
    keys = experiment_keys("X", "toy", setting=setting, source="src")
    return run_unit(cells, classes, feature_columns(cells.columns), plan,
                    Method("X", "network", setting=setting), keys,
                    loocv=LOOCVConfig(members=members, **loocv), normalizers=FoldNormalizers.identity(feature_columns(cells.columns)),
                    learner_params={"saa": SAA}, sources=sources)


def bank_of(source, target, classes, hold_out_batch):
    return train_source_bank(source, classes, feature_columns(source.columns), target,
                             learner=learner("saa"), config=SAAConfig(**SAA),
                             hold_out_batch=hold_out_batch, validation_fraction=0.2, seed=3,
                             metadata={"problem": "src"})


def test_predictions_carry_the_winning_probability(cells, classes) -> None:
    plan = leave_one_compound_out(cells, n_repetitions=2, seed=0)
    result = run(cells, classes, plan)
    predictions = result.cell_predictions
    assert len(predictions) == 2 * len(cells)  # each cell is TEST once per repetition
    assert list(result.runs["repetition"]) == [0, 1]
    probability = predictions["probability"].to_numpy()
    # The predicted class's probability is the largest of C that sum to 1: above 1/C unless all
    # are equal — a network that learnt nothing would sit at exactly 1/C.
    assert (probability > 1 / len(classes)).mean() > 0.9 and (probability <= 1 + 1e-6).all()
    assert len(result.votes) == 2 * cells["Metadata_Treatment"].nunique()
    assert result.choices["chosen"].all() and len(result.choices) == plan.n_folds  # one candidate


def test_members_average_several_networks_per_fold(cells, classes) -> None:
    plan = leave_one_compound_out(cells, n_repetitions=1, seed=0)
    single, again = run(cells, classes, plan), run(cells, classes, plan)
    pooled = run(cells, classes, plan, members=3)
    np.testing.assert_array_equal(single.cell_predictions["probability"],
                                  again.cell_predictions["probability"])  # seeded
    assert len(pooled.cell_predictions) == len(single.cell_predictions)
    assert not np.allclose(pooled.cell_predictions["probability"],
                           single.cell_predictions["probability"])
    assert pooled.runs["members"].tolist() == [3.0]
    with pytest.raises(ValueError, match="members"):
        LOOCVConfig(members=0)


def test_a_repetition_does_not_depend_on_how_many_run(cells, classes) -> None:
    # Each network is keyed (member, repetition, compound): repetition 1 of a two-repetition unit
    # is the one-repetition unit of block (1,), network for network — a grid split into units
    # gives the same votes as run whole.
    plan = leave_one_compound_out(cells, n_repetitions=2, seed=0)
    whole = run(cells, classes, plan, members=2)
    alone = run(cells, classes, plan.repetition_block([1]), members=2)
    part = whole.cell_predictions[whole.cell_predictions["repetition"] == 1].reset_index(drop=True)
    np.testing.assert_allclose(part["probability"], alone.cell_predictions["probability"], rtol=1e-5)
    pd.testing.assert_frame_equal(whole.votes[whole.votes["repetition"] == 1].reset_index(drop=True),
                                  alone.votes)
    assert alone.cell_predictions["fold"].min() == 7  # folds keep their numbers


def test_a_pretrained_transfer_setting_pretrains_only_what_it_does_not_transfer(cells, classes) -> None:
    other = cells.assign(Metadata_Compound="src_" + cells["Metadata_Compound"])  # a source problem
    bank = bank_of(other, cells, classes, hold_out_batch=False)
    assert len(bank.networks) == 1  # nothing of the target's compounds to exclude from it
    plan = leave_one_compound_out(cells, n_repetitions=1, seed=0)
    paper = run(cells, classes, plan, "[011]", sources=[bank])
    pretrained = run(cells, classes, plan, {"mask": "[011]", "pretrain": True}, sources=[bank])
    assert paper.runs["mask"].tolist() == ["[011]"] and paper.runs["pretrain_seconds"].sum() == 0
    assert pretrained.runs["mask"].tolist() == ["[011] pretrained"]
    assert pretrained.runs["pretrain_seconds"].sum() > 0 and pretrained.runs["source"].tolist() == ["src"]
    # Pretraining layer 1 changes where fine-tuning starts, hence the predictions.
    assert not np.allclose(paper.cell_predictions["probability"],
                           pretrained.cell_predictions["probability"])
    with pytest.raises(ValueError, match="no source model"):
        run(cells, classes, plan, "[011]")


def test_each_fold_starts_from_a_source_that_never_saw_its_compound(cells, classes) -> None:
    halves = [["a1", "b1", "c1"], ["a2", "b2", "b3", "c2"]]
    sources = [bank_of(cells[cells[COMPOUND].isin(h)].reset_index(drop=True),
                       cells.iloc[:0], classes, hold_out_batch=False) for h in halves]
    networks = source_networks(sources)
    assert [n.metadata["compounds"] for n in networks] == [sorted(h) for h in halves]
    plan = leave_one_compound_out(cells, n_repetitions=1, seed=0)
    choice = fold_sources(plan, networks)
    assert [halves[1 - c] for c in choice] == [h for c in plan.compounds for h in halves if c in h]
    setting = transfer_setting({"mask": "[011]", "pretrain": True})
    init = fold_transfer_init(choice, networks, setting, classes, learner("saa"), members=2)
    assert init[0] is None and init[1][0].shape == (2 * plan.n_folds, 8, 8)
    for column, source in enumerate(np.tile(choice, 2)):
        np.testing.assert_array_equal(init[1][0][column], np.asarray(networks[source].encoders[1].kernel))
    result = run(cells, classes, plan, setting, sources=sources, members=2)
    assert len(result.cell_predictions) == len(cells) and result.runs["source"].tolist() == ["src"]
    # A source trained on a held-out compound is never used; with no other, nothing runs.
    with pytest.raises(ValueError, match="held-out compound 'a1'"):
        fold_sources(plan, networks[:1])
    with pytest.raises(ValueError, match="does not list"):
        fold_sources(plan, [networks[0].__class__.from_config(
            {**networks[0].get_config(), "metadata": {}})])


def test_networks_trained_block_by_block_match_one_model(cells, classes) -> None:
    # loocv.max_networks_per_model bounds memory: 2 members × 7 folds in models of ≤ 3 networks,
    # each fold from one of two sources (init arrays sliced per block), give the one model's votes.
    halves = [["a1", "b1", "c1"], ["a2", "b2", "b3", "c2"]]
    sources = [bank_of(cells[cells[COMPOUND].isin(h)].reset_index(drop=True),
                       cells.iloc[:0], classes, hold_out_batch=False) for h in halves]
    plan = leave_one_compound_out(cells, n_repetitions=1, seed=0)
    setting = transfer_setting({"mask": "[011]", "pretrain": True})
    whole = run(cells, classes, plan, setting, sources=sources, members=2)
    blocks = run(cells, classes, plan, setting, sources=sources, members=2,
                 max_networks_per_model=3)
    np.testing.assert_allclose(blocks.cell_predictions["probability"],
                               whole.cell_predictions["probability"], rtol=1e-5)
    pd.testing.assert_frame_equal(blocks.votes, whole.votes)
    assert blocks.runs["epochs_mean"].tolist() == whole.runs["epochs_mean"].tolist()
    with pytest.raises(ValueError, match="max_networks_per_model"):
        LOOCVConfig(max_networks_per_model=0)
    # ... so a unit's parameters digest leaves it out, and keeps every key that changes a result
    assert LOOCVConfig.result_settings({"members": 2, "max_networks_per_model": 3}) == {"members": 2}


def test_no_nscb_fold_starts_from_a_source_that_saw_its_batches(cells, classes) -> None:
    other = cells.assign(Metadata_Compound="src_" + cells["Metadata_Compound"])
    bank = bank_of(other, cells, classes, hold_out_batch=True)
    weeks = sorted(set(cells[BATCH]))
    assert len(bank.networks) == len(weeks)  # one per distinct week set of the target's compounds
    plan = leave_one_compound_out(cells, n_repetitions=1, seed=0, hold_out_batch=True)
    choice = fold_sources(plan, bank.networks)
    for fold, network in enumerate(choice):
        test = plan.roles[:, fold] == ROLE_TEST
        held_out_weeks = set(cells.loc[test, BATCH])
        seen = set(bank.networks[network].metadata["batches"])
        assert not seen & held_out_weeks, (plan.compounds[fold], seen, held_out_weeks)
        # ... and what it recorded is what it trained on: no source cell of those weeks.
        assert seen == set(weeks) - held_out_weeks
    # The NSC source (trained on every week) is refused under NSCB.
    nsc_bank = bank_of(other, cells, classes, hold_out_batch=False)
    with pytest.raises(ValueError, match="batches"):
        fold_sources(plan, nsc_bank.networks)
    result = run(cells, classes, plan, {"mask": "[011]", "pretrain": True}, sources=[bank])
    assert result.runs["n_unscorable_treatments"].iloc[0] == 4  # MOA A only lives in Week1


def test_scrambling_a_held_out_compound_leaves_its_transferred_fold_unchanged(cells, classes) -> None:
    # Leakage through the transfer path: a fold starts from a source network and trains on its own
    # TRAIN cells; scrambling its held-out compound (features and labels) changes neither, so the
    # fold's network predicts every other cell exactly as before.
    other = cells.assign(Metadata_Compound="src_" + cells["Metadata_Compound"])
    networks = bank_of(other, cells, classes, hold_out_batch=True).networks
    plan = leave_one_compound_out(cells, n_repetitions=1, seed=0, hold_out_batch=True)
    setting = transfer_setting({"mask": "[011]", "pretrain": True})
    features = feature_columns(cells.columns)
    fold = next(f for f in range(plan.n_folds) if f not in plan.untrainable_folds)
    held_out = plan.roles[:, fold] == ROLE_TEST
    x = cells[features].to_numpy(np.float32)
    y = cells["Metadata_Label"].to_numpy(np.int32)
    x_bad, y_bad = x.copy(), y.copy()
    x_bad[held_out] = 25.0
    y_bad[held_out] = (y[held_out] + 1) % len(classes)
    trained = [train_network_folds(a, b, plan, len(classes), learner("saa"), SAAConfig(**SAA),
                                   classes=classes, setting=setting, source_networks=networks)
               for a, b in ((x, y), (x_bad, y_bad))]
    np.testing.assert_array_equal(trained[0].probabilities[~held_out, 0, fold],
                                  trained[1].probabilities[~held_out, 0, fold])
    # ... while a fold that trains on those cells does change: the perturbation was real.
    seen = next(f for f in range(plan.n_folds) if (plan.roles[held_out, f] == ROLE_TRAIN).any())
    assert not np.array_equal(trained[0].probabilities[~held_out, 0, seen],
                              trained[1].probabilities[~held_out, 0, seen])


def test_a_collapsed_network_is_counted_and_logged(cells, classes, caplog) -> None:
    # A learning rate of ~0 leaves the zero-initialised output layer: every fold predicts one
    # class for all its cells, which leave-one-compound-out scores as (near) 0.
    plan = leave_one_compound_out(cells, n_repetitions=1, seed=0)
    frozen = {**SAA, "finetune_learning_rate": 1e-9, "pretrain_epochs": 0, "finetune_max_epochs": 1}
    with caplog.at_level("WARNING", logger="hca_dtl.evaluation.harness"):
        result = run_unit(cells, classes, feature_columns(cells.columns), plan,
                          Method("X", "network"), experiment_keys("X", "toy"),
                          loocv=LOOCVConfig(), normalizers=FoldNormalizers.identity(feature_columns(cells.columns)), learner_params={"saa": frozen})
    assert result.runs["n_collapsed_folds"].tolist() == [plan.n_folds]
    assert "collapsed" in caplog.text and "at or below chance" in caplog.text
    from hca_dtl.reporting.tables import run_warnings
    warnings = run_warnings(result.runs, result.accuracies, {"toy": 1 / 3})
    assert {"7 of 7 folds collapsed to one class"} <= set(warnings["warning"])
    assert warnings["warning"].str.contains("at or below chance").any()


def test_candidates_that_differ_in_members_or_normalisation_train_as_one_model(cells, classes) -> None:
    # The 1-member candidate is member 0 of the 2-member model, network for network: trained
    # once, it predicts exactly what a 1-member run predicts.
    from hca_dtl.data.normalize import NormalizationSpec, Normalizer
    from hca_dtl.evaluation.harness import _run_network

    features = feature_columns(cells.columns)
    plan = leave_one_compound_out(cells, n_repetitions=1, seed=0)
    identity = FoldNormalizers.identity(features)
    method = Method("X", "network")
    both = _run_network(cells, classes, features, plan, method,
                        LOOCVConfig(members={"candidates": [1, 2]}), identity, {"saa": SAA}, ())
    alone = _run_network(cells, classes, features, plan, method, LOOCVConfig(), identity,
                         {"saa": SAA}, ())
    np.testing.assert_array_equal(both[0][0], alone[0][0])  # predicted codes, candidate 0
    assert [o.label for o in both[3]] == ["members=1", "members=2"]
    assert not np.isnan(both[2]).any()  # each scored on its validation wells
    # Two normalisations (here: raw, and every feature doubled) are two blocks of one model.
    doubled = Normalizer(NormalizationSpec("robust_z_pooled"), tuple(features),
                         centres={p: np.zeros(len(features)) for p in cells["Metadata_Plate"].unique()},
                         scale=np.full(len(features), 0.5))
    two = FoldNormalizers({"raw": next(iter(identity._fitted.values())), "doubled": doubled})
    result = run_unit(cells, classes, features, plan, method, experiment_keys("X", "toy"),
                      loocv=LOOCVConfig(selection="inner_compounds", inner_folds=2),
                      normalizers=two, learner_params={"saa": SAA})
    assert set(result.choices["candidate"]) == {"normalization=raw", "normalization=doubled"}
    assert result.choices.groupby("fold")["chosen"].sum().eq(1).all()
    assert result.runs["n_candidates"].tolist() == [2]
