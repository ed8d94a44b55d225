"""``run_saa_experiment``: every held-out cell predicted once per repetition, with the winning
probability that breaks vote ties."""

from __future__ import annotations

import numpy as np
import pytest

from hca_dtl.data.schema import feature_columns
from hca_dtl.evaluation.experiments import (experiment_keys, fold_sources, fold_transfer_init,
                                            run_saa_experiment, train_source_model)
from hca_dtl.evaluation.loocv import leave_one_compound_out, train_valid_split
from hca_dtl.evaluation.voting import majority_vote
from hca_dtl.model import SAAConfig, transfer_setting

CONFIG = SAAConfig(hidden_units=(8, 8), pretrain_learning_rate=0.05, pretrain_epochs=1,
                   finetune_learning_rate=0.5, finetune_max_epochs=3, batch_size=16, seed=1)


def test_predictions_carry_the_winning_probability(cells, classes) -> None:
    features = feature_columns(cells.columns)
    plan = leave_one_compound_out(cells, n_repetitions=2, seed=0)
    predictions, runs = run_saa_experiment(cells, classes, features, plan, CONFIG,
                                           experiment_keys("BL", "toy"))
    assert len(predictions) == 2 * len(cells)  # each cell is TEST once per repetition
    assert list(runs["repetition"]) == [0, 1]
    probability = predictions["probability"].to_numpy()
    # The predicted class's softmax output: at least 1/C (it is the largest), at most 1.
    assert (probability >= 1 / len(classes) - 1e-6).all() and (probability <= 1 + 1e-6).all()
    assert probability.std() > 0
    votes = majority_vote(predictions)
    assert len(votes) == 2 * cells["Metadata_Treatment"].nunique()


def test_members_average_several_networks_per_fold(cells, classes) -> None:
    features = feature_columns(cells.columns)
    plan = leave_one_compound_out(cells, n_repetitions=1, seed=0)
    keys = experiment_keys("BL", "toy")
    single, _ = run_saa_experiment(cells, classes, features, plan, CONFIG, keys)
    again, _ = run_saa_experiment(cells, classes, features, plan, CONFIG, keys)
    pooled, runs = run_saa_experiment(cells, classes, features, plan, CONFIG, keys, members=3)
    np.testing.assert_array_equal(single["probability"], again["probability"])  # seeded
    assert len(pooled) == len(single)  # still one prediction per test cell and repetition
    assert not np.allclose(pooled["probability"], single["probability"])
    assert runs["members"].tolist() == [3]
    with pytest.raises(ValueError, match="members"):
        run_saa_experiment(cells, classes, features, plan, CONFIG, keys, members=0)


def test_a_repetition_does_not_depend_on_how_many_run(cells, classes) -> None:
    # Each network is keyed (member, repetition, compound): repetition 0 of a 2-repetition run is
    # the 1-repetition run, network for network.
    features = feature_columns(cells.columns)
    keys = experiment_keys("BL", "toy")
    runs = {}
    for n in (1, 2):
        plan = leave_one_compound_out(cells, n_repetitions=n, seed=0)
        predictions, _ = run_saa_experiment(cells, classes, features, plan, CONFIG, keys, members=2)
        runs[n] = predictions[predictions["repetition"] == 0].reset_index(drop=True)
    np.testing.assert_allclose(runs[2]["probability"], runs[1]["probability"], rtol=1e-5)
    assert runs[2]["predicted"].tolist() == runs[1]["predicted"].tolist()


def test_a_pretrained_transfer_setting_pretrains_only_what_it_does_not_transfer(cells, classes) -> None:
    features = feature_columns(cells.columns)
    other = cells.assign(Metadata_Compound="src_" + cells["Metadata_Compound"])  # a source problem
    source = train_source_model(other, classes, features, train_valid_split(other, seed=3),
                                CONFIG, {})
    plan = leave_one_compound_out(cells, n_repetitions=1, seed=0)
    results = {}
    for setting in (transfer_setting("[011]"), transfer_setting({"mask": "[011]", "pretrain": True})):
        keys = experiment_keys("DTL", "toy", setting=setting, source="src")
        results[setting.pretrain] = run_saa_experiment(cells, classes, features, plan, CONFIG, keys,
                                                       setting=setting, source_models=[source])
    paper, pretrained = results[False][1], results[True][1]
    assert paper["mask"].tolist() == ["[011]"] and paper["pretrain_seconds"].sum() == 0
    assert pretrained["mask"].tolist() == ["[011] pretrained"]
    assert pretrained["pretrain_seconds"].sum() > 0 and pretrained["source"].tolist() == ["src"]
    # Pretraining layer 1 changes where fine-tuning starts, hence the predictions.
    assert not np.allclose(results[False][0]["probability"], results[True][0]["probability"])
    with pytest.raises(ValueError, match="no source model"):
        run_saa_experiment(cells, classes, features, plan, CONFIG, keys, setting=setting)


def test_each_fold_starts_from_a_source_that_never_saw_its_compound(cells, classes) -> None:
    features = feature_columns(cells.columns)
    halves = [["a1", "b1", "c1"], ["a2", "b2", "b3", "c2"]]
    sources = []
    for half in halves:
        part = cells[cells["Metadata_Compound"].isin(half)].reset_index(drop=True)
        sources.append(train_source_model(part, classes, features,
                                          train_valid_split(part, seed=3), CONFIG, {}))
    assert [s.metadata["compounds"] for s in sources] == [sorted(h) for h in halves]
    plan = leave_one_compound_out(cells, n_repetitions=1, seed=0)
    choice = fold_sources(plan, sources)
    assert [halves[1 - c] for c in choice] == [h for c in plan.compounds for h in halves
                                               if c in h]
    setting = transfer_setting({"mask": "[011]", "pretrain": True})
    init = fold_transfer_init(plan, setting, sources, classes, members=2)
    assert init[0] is None and init[1][0].shape == (2 * plan.n_folds, 8, 8)
    for column, source in enumerate(np.tile(choice, 2)):
        np.testing.assert_array_equal(init[1][0][column], np.asarray(sources[source].encoders[1].kernel))
    predictions, runs = run_saa_experiment(cells, classes, features, plan, CONFIG,
                                           experiment_keys("DTL", "toy", setting=setting,
                                                           source="halves"),
                                           setting=setting, source_models=sources, members=2)
    assert len(predictions) == len(cells) and runs["source"].tolist() == ["halves"]
    # A source trained on a held-out compound is never used; with no other, nothing runs.
    with pytest.raises(ValueError, match="held-out compound 'a1'"):
        fold_sources(plan, sources[:1])
    with pytest.raises(ValueError, match="does not list the compounds"):
        fold_sources(plan, [sources[0].__class__.from_config(
            {**sources[0].get_config(), "metadata": {}})])
