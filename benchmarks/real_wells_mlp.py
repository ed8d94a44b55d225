"""The MLP learner on the real BBBC021 well profiles, leave-one-compound-out, treatment vote.

A quick check of where the learner stands, outside the Kedro pipelines: it reads the problems
the ``psets`` pipeline wrote for the real-data env, so run first (from the project root)::

    kedro run --env=bbbc021_wells --pipelines=ingestion,psets
    PYTHONPATH=src python benchmarks/real_wells_mlp.py --set dropout=0.2 --members 1

Each problem: ``leave_one_compound_out`` (``--repetitions`` validation draws, 20 % of each MOA's
wells for early stopping; ``--protocol NSCB`` also leaves out the held-out compound's batches),
every fold × member trained at once by ``train_folds_mlp`` (network keys as the SAA experiments'),
members' class probabilities averaged, test wells voted per treatment (``majority_vote``). Prints
the treatment and well accuracy per problem (mean over repetitions), the networks' mean best
validation error and epochs, and the training time. Choose settings by the validation error,
never by the test accuracy.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from hca_dtl.data.schema import LABEL, feature_columns
from hca_dtl.evaluation.experiments import experiment_keys, member_keys
from hca_dtl.evaluation.loocv import leave_one_compound_out
from hca_dtl.evaluation.results import test_predictions
from hca_dtl.evaluation.voting import accuracies, majority_vote
from hca_dtl.model.mlp import MLPConfig, train_folds_mlp

PROBLEMS = {"Pset1": "pset1", "Pset2": "pset2", "all12": "all12"}


def evaluate(cells: pd.DataFrame, classes: list[str], target: str, config: MLPConfig, *,
             repetitions: int, members: int, hold_out_batch: bool) -> tuple[pd.DataFrame, dict]:
    """Accuracies per repetition (``voting.accuracies``) and the training figures of one problem:
    seconds, mean best validation error (the only figure to choose settings by) and epochs."""
    features = feature_columns(cells.columns)
    plan = leave_one_compound_out(cells, n_repetitions=repetitions, hold_out_batch=hold_out_batch,
                                  seed=0)
    x = cells[features].to_numpy(np.float32)
    y = cells[LABEL].to_numpy(np.int32)
    n_folds = plan.roles.shape[1]
    start = time.perf_counter()
    ensemble = train_folds_mlp(x, y, np.tile(plan.roles, (1, members)), len(classes), config,
                               network_keys=member_keys(plan, members), progress=False)
    seconds = time.perf_counter() - start
    probabilities = ensemble.predict_proba(x).reshape(len(x), members, n_folds,
                                                      len(classes)).mean(axis=1)
    predictions = test_predictions(cells, plan, probabilities.argmax(axis=-1), classes,
                                   experiment_keys("MLP", target),
                                   probabilities=probabilities.max(axis=-1))
    keep = ~np.isin(predictions["fold"], plan.untrainable_folds) if hold_out_batch else slice(None)
    predictions = predictions[keep]
    figures = {"seconds": seconds, "valid_error": float(ensemble.best_valid_error.mean()),
               "epochs": float(ensemble.epochs_run.mean())}
    return accuracies(majority_vote(predictions), predictions), figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data/bbbc021_wells/05_model_input"))
    parser.add_argument("--problems", nargs="+", choices=list(PROBLEMS), default=list(PROBLEMS))
    parser.add_argument("--protocol", choices=("NSC", "NSCB"), default="NSC")
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--members", type=int, default=1)
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="MLPConfig fields (YAML values), e.g. hidden_units=[256,256]")
    args = parser.parse_args()
    config = MLPConfig.from_dict({k: yaml.safe_load(v) for k, v in
                                  (item.split("=", 1) for item in args.set)})
    print(f"MLPConfig {json.dumps(config.to_dict())}")
    print(f"{args.protocol}, {args.repetitions} repetitions, {args.members} member(s) per fold")
    for target in args.problems:
        name = PROBLEMS[target]
        cells = pd.read_parquet(args.data / f"{name}_cells.parquet")
        classes = json.loads((args.data / f"{name}_classes.json").read_text())
        table, figures = evaluate(cells, classes, target, config, repetitions=args.repetitions,
                                  members=args.members, hold_out_batch=args.protocol == "NSCB")
        per_repetition = ", ".join(f"{100 * a:.1f}" for a in table["treatment_accuracy"])
        print(f"{target}: treatment accuracy {100 * table['treatment_accuracy'].mean():.1f} % "
              f"(repetitions {per_repetition}), well accuracy "
              f"{100 * table['cell_accuracy'].mean():.1f} %, {len(cells)} wells, "
              f"{table['n_treatments'].iloc[0]} treatments; mean best validation error "
              f"{100 * figures['valid_error']:.1f} %, {figures['epochs']:.0f} epochs per network, "
              f"trained in {figures['seconds']:.0f} s", flush=True)


if __name__ == "__main__":
    main()
