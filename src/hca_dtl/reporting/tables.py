"""The paper's tables computed from our result tables (see ``docs/architecture.md``,
"Experiment results"), as display-ready DataFrames of text cells, and a Markdown formatter."""

from __future__ import annotations

from collections.abc import Collection

import pandas as pd

from hca_dtl.data.schema import MOA, InputDataError
from hca_dtl.evaluation.results import EXPERIMENT_KEYS, require_columns
from hca_dtl.reporting.common import (DASH, experiment_rank, format_cell, mean_sd,
                                    order_experiments, str_keys, visible_frame)
from hca_dtl.reporting.paper import PAPER_ACCURACY_COLUMN, PAPER_TABLE2, paper_table1_row

ACCURACY = "Accuracy % mean (SD)"
P_SEEDS = "p to BL (repetitions, t-test)"
DIFFERENCE = "Δ to BL, points (95 % CI, compounds)"
P_COMPOUNDS = "p to BL (compounds, Holm)"
PRETRAINED = "Pretrained (min per compound, mean (SD))"
FINE_TUNED = "Fine-tuned (min per compound, mean (SD))"
TOTAL = "Total time per repetition (min, mean (SD))"
TABLE1_COLUMNS = ("Approach", "Transfer", "PS", "PT", "C", "Repetitions", ACCURACY, P_SEEDS,
                  DIFFERENCE, P_COMPOUNDS, PRETRAINED, FINE_TUNED, TOTAL)
PAPER_TOTAL_COLUMN = "Paper total min per repetition (Kandaswamy 2016)"

TABLE1_NOTE = (
    "Accuracy: treatment-level (majority vote of cells), mean and sample SD over repetitions. "
    "Minutes per compound = a repetition's seconds / 60 / its number of compounds C. Under "
    "fold-batched training all folds of all repetitions train together as one model, so a "
    "repetition's time is its equivalent share (its folds / all folds) of the joint run, not a "
    "time measured for it alone. DTL settings are not pretrained (—). Tests against BL: a paired "
    "t-test over repetitions (seed variation: every repetition holds out the same compounds) and a "
    "paired sign-flip permutation test over held-out compounds with a bootstrap interval of the "
    "difference, Holm-adjusted over the table's comparisons. Paper columns are the published "
    "numbers of Kandaswamy et al. 2016, not ours."
)
TABLE2_NOTE = (
    "Ours: treatment accuracy (majority vote) and cell accuracy, % mean (SD) over repetitions. "
    "Paper: Table 2 and the text of Kandaswamy et al. 2016; its SVM figures are approximate "
    "('about 21 %') overall accuracies, and the 12-class figure a preliminary result."
)


def table1(accuracies: pd.DataFrame, runs: pd.DataFrame, comparisons: pd.DataFrame) -> pd.DataFrame:
    """The paper's Table 1 from our results: one row per experiment, in the paper's order.

    Args:
        accuracies: keys + ``repetition``, ``treatment_accuracy`` (fraction in [0, 1]).
        runs: keys + ``repetition``, ``n_compounds``, ``pretrain_seconds``,
            ``finetune_seconds``, ``wall_seconds`` (one row per repetition).
        comparisons: keys + ``p_seeds``, ``difference``, ``difference_low``,
            ``difference_high``, ``p_compounds_holm`` (``statistics.compare_to_baseline``).

    Returns:
        Text cells, columns ``TABLE1_COLUMNS``: accuracy in % and times in minutes, each
        ``"mean (SD)"`` over repetitions (see ``TABLE1_NOTE`` for how times are shared out);
        ``"—"`` for what does not apply (BL's transfer, source and p value; DTL's pretraining).
    """
    require_columns(accuracies, [*EXPERIMENT_KEYS, "repetition", "treatment_accuracy"], "accuracies")
    require_columns(runs, [*EXPERIMENT_KEYS, "repetition", "n_compounds", "pretrain_seconds",
                           "finetune_seconds", "wall_seconds"], "runs")
    require_columns(comparisons, [*EXPERIMENT_KEYS, "p_seeds", "difference", "difference_low",
                                  "difference_high", "p_compounds_holm"], "comparisons")
    _check_fractions(accuracies, "treatment_accuracy", "accuracies")
    accuracies, runs, comparisons = (str_keys(t) for t in (accuracies, runs, comparisons))
    rows = []
    for keys, group in accuracies.groupby(list(EXPERIMENT_KEYS), sort=False):
        key = dict(zip(EXPERIMENT_KEYS, keys))
        run = _matching(runs, key)
        minutes = 60.0 * run["n_compounds"].astype(float)
        pretrained = run["pretrain_seconds"] / minutes
        rows.append({
            **key,
            "Approach": key["approach"],
            "Transfer": key["mask"] or DASH,
            "PS": key["source"] or DASH,
            "PT": key["target"],
            "C": "/".join(str(int(c)) for c in sorted(run["n_compounds"].unique())) or DASH,
            "Repetitions": group["repetition"].nunique(),
            ACCURACY: mean_sd(100.0 * group["treatment_accuracy"]),
            **_tests_text(key, _matching(comparisons, key)),
            # Minutes to 3 decimals: quick runs take seconds, paper-scale ones hours.
            PRETRAINED: (mean_sd(pretrained, decimals=3)
                         if (run["pretrain_seconds"] > 0).any() else DASH),
            FINE_TUNED: mean_sd(run["finetune_seconds"] / minutes, decimals=3),
            TOTAL: mean_sd(run["wall_seconds"] / 60.0, decimals=3),
        })
    if not rows:
        raise InputDataError("The accuracies table is empty: no experiment to put in Table 1.")
    return order_experiments(pd.DataFrame(rows))[list(TABLE1_COLUMNS)]


def table1_with_paper(ours: pd.DataFrame) -> pd.DataFrame:
    """Our Table 1 (``table1``'s output, also as read back from CSV) with the paper's accuracy
    beside ours and its total time per repetition at the end, matched by transfer mask and
    target (PT); ``"—"`` where the paper has no such setting."""
    require_columns(ours, ["Transfer", "PT", ACCURACY, TOTAL], "Table 1")
    table = ours.copy()
    paper = [_paper_row(transfer, target) for transfer, target in zip(table["Transfer"], table["PT"])]
    table.insert(table.columns.get_loc(ACCURACY) + 1, PAPER_ACCURACY_COLUMN, [
        DASH if p is None else f"{p.accuracy_pct_mean:.2f} ({p.accuracy_pct_sd:.2f})" for p in paper])
    table[PAPER_TOTAL_COLUMN] = [
        DASH if p is None
        else f"{p.total_min_per_repetition_mean:.0f} ({p.total_min_per_repetition_sd:.0f})"
        for p in paper]
    return table


def table2(accuracies: pd.DataFrame) -> pd.DataFrame:
    """The paper's Table 2: SAA (BL and the best DTL setting) against the baselines present,
    per target, beside the paper's figures.

    Args:
        accuracies: keys + ``repetition``, ``treatment_accuracy`` and ``cell_accuracy``
            (fractions; NaN where no cell predictions exist) of every experiment.

    Returns:
        Text cells, one row per (target, method): ``Target``, ``Method``, ``Approach``,
        ``Treatment accuracy % mean (SD)``, ``Cell accuracy % mean (SD)``, ``Repetitions`` and
        ``PAPER_ACCURACY_COLUMN`` (see ``TABLE2_NOTE``). The best DTL is the masked setting with
        the highest mean treatment accuracy for that target.
    """
    require_columns(accuracies, [*EXPERIMENT_KEYS, "repetition", "treatment_accuracy",
                                 "cell_accuracy"], "accuracies")
    _check_fractions(accuracies, "treatment_accuracy", "accuracies")
    accuracies = str_keys(accuracies)
    experiments = order_experiments(accuracies.drop_duplicates(list(EXPERIMENT_KEYS)))
    rows = []
    for target, in_target in experiments.groupby("target", sort=False):
        means = {e: accuracies.loc[accuracies["experiment"] == e, "treatment_accuracy"].mean()
                 for e in in_target["experiment"]}
        transfers = in_target[in_target["mask"] != ""]
        best = max(transfers["experiment"], key=means.get) if len(transfers) else None
        for experiment in in_target.itertuples():
            if experiment.mask and experiment.experiment != best:
                continue
            if experiment.approach == "BL" and not experiment.mask:
                method, label = "BL", "SAA baseline (BL)"
            elif experiment.mask:
                method, label = "best DTL", f"SAA best DTL ({experiment.approach} {experiment.mask})"
            else:
                method = label = experiment.approach
            group = accuracies[accuracies["experiment"] == experiment.experiment]
            rows.append({
                "Target": target,
                "Method": label,
                "Approach": experiment.approach,
                "Treatment accuracy % mean (SD)": mean_sd(100.0 * group["treatment_accuracy"]),
                "Cell accuracy % mean (SD)": mean_sd(100.0 * group["cell_accuracy"]),
                "Repetitions": group["repetition"].nunique(),
                PAPER_ACCURACY_COLUMN: _paper_table2_text(target, method),
            })
    return pd.DataFrame(rows)


def table_s3(per_class_scores: pd.DataFrame) -> pd.DataFrame:
    """Supplementary Table S3: precision, recall and F1 of each MOA in each experiment.

    Args:
        per_class_scores: keys + ``Metadata_MOA`` (or ``moa``), ``precision``, ``recall``,
            ``f1``, ``support`` (treatment level, as ``statistics.per_class_scores`` returns
            them; optional ``precision_sd``, ``recall_sd``, ``f1_sd`` over repetitions).

    Returns:
        Text cells: ``Experiment``, ``MOA``, ``Precision``, ``Recall``, ``F1`` (``"0.85 (0.04)"``
        with SD, else ``"0.85"``) and ``Support``; experiments in the paper's order, MOAs in
        their given order.
    """
    scores = ("precision", "recall", "f1")
    moa = "moa" if "moa" in per_class_scores.columns else MOA
    require_columns(per_class_scores, [*EXPERIMENT_KEYS, moa, *scores, "support"], "per-class scores")
    table = order_experiments(str_keys(per_class_scores))
    out = pd.DataFrame({"Experiment": table["experiment"], "MOA": table[moa].astype(str)})
    for score in scores:
        sd = table[f"{score}_sd"] if f"{score}_sd" in table.columns else [None] * len(table)
        out[score.capitalize() if score != "f1" else "F1"] = [
            format_cell(v) if pd.isna(v) else f"{v:.2f}" + ("" if pd.isna(s) else f" ({s:.2f})")
            for v, s in zip(table[score], sd)]
    out["Support"] = [format_cell(float(s)) for s in table["support"]]
    return out


def to_markdown(df: pd.DataFrame, title: str | None = None) -> str:
    """A GitHub-flavoured Markdown table of ``df`` under ``### title`` if given; a non-default
    index is shown as leading column(s).

    Written here rather than with ``DataFrame.to_markdown`` to avoid the ``tabulate`` dependency.
    """
    def cell(value: object) -> str:
        return format_cell(value).replace("|", r"\|").replace("\n", "<br>")

    df = visible_frame(df)
    header = [cell(c) for c in df.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    heading = [f"### {title}", ""] if title else []
    return "\n".join([*heading, *lines]) + "\n"



def _matching(table: pd.DataFrame, key: dict[str, str]) -> pd.DataFrame:
    match = pd.Series(True, index=table.index)
    for column, value in key.items():
        match &= table[column] == value
    return table[match]


def _check_fractions(table: pd.DataFrame, column: str, name: str) -> None:
    values = table[column].dropna()
    outside = values[(values < 0) | (values > 1)]
    if len(outside):
        raise InputDataError(
            f"The {name} table's column {column!r} holds {outside.iloc[0]!r}; accuracies are "
            "fractions in [0, 1], not percentages.")


def p_text(p: float) -> str:
    """A p-value as printed: ``<0.001``, three decimals, or ``n/a``."""
    if pd.isna(p):
        return "n/a"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def difference_text(difference: float, low: float, high: float) -> str:
    """An accuracy difference (fractions) in points with its interval: ``+3.2 (−1.0 to +7.5)``."""
    if pd.isna(difference):
        return "n/a"
    return f"{100 * difference:+.1f} ({100 * low:+.1f} to {100 * high:+.1f})"


def _tests_text(key: dict[str, str], comparison: pd.DataFrame) -> dict[str, str]:
    if (key["approach"] == "BL" and not key["mask"]) or comparison.empty:
        return {P_SEEDS: DASH, DIFFERENCE: DASH, P_COMPOUNDS: DASH}
    row = comparison.iloc[0]
    return {P_SEEDS: p_text(row["p_seeds"]),
            DIFFERENCE: difference_text(row["difference"], row["difference_low"], row["difference_high"]),
            P_COMPOUNDS: p_text(row["p_compounds_holm"])}


def benchmark_summary(votes: pd.DataFrame, accuracies: pd.DataFrame, comparisons: pd.DataFrame,
                      runs: pd.DataFrame, choices: pd.DataFrame) -> pd.DataFrame:
    """One row per problem × protocol (``target``) × method, in the paper's order.

    Returns:
        ``target``, ``method``, ``n_treatments`` (scored), ``repetitions``, ``accuracy_mean`` and
        ``accuracy_sd`` (over repetitions), ``ci95_low``/``ci95_high`` (Wilson, over the scored
        treatments), ``p_seeds`` (t-test over repetitions), ``difference`` /
        ``difference_low`` / ``difference_high`` (to BL, bootstrap over compounds),
        ``p_compounds_holm`` (permutation test over compounds, Holm over the table),
        ``n_unscorable`` (treatments left out: MOA without training cells under NSCB),
        ``n_collapsed_folds``, ``cpu_minutes`` and ``chosen`` (how often each candidate won).
        Fractions in [0, 1].
    """
    from hca_dtl.evaluation.statistics import accuracy_interval

    rows = []
    for keys, group in str_keys(votes).groupby(list(EXPERIMENT_KEYS), sort=False):
        key = dict(zip(EXPERIMENT_KEYS, keys))
        per_repetition = _matching(str_keys(accuracies), key)["treatment_accuracy"]
        test = _matching(str_keys(comparisons), key)
        run = _matching(str_keys(runs), key)
        low, high = accuracy_interval(group)
        test = test.iloc[0] if len(test) else pd.Series(dtype=object)
        rows.append({
            "target": key["target"], "method": key["approach"],
            "n_treatments": group["Metadata_Treatment"].nunique(),
            "repetitions": per_repetition.size,
            "accuracy_mean": per_repetition.mean(), "accuracy_sd": per_repetition.std(ddof=1),
            "ci95_low": low, "ci95_high": high,
            **{c: test.get(c, float("nan")) for c in ("p_seeds", "difference", "difference_low",
                                                      "difference_high", "p_compounds_holm")},
            "n_unscorable": int(run["n_unscorable_treatments"].max()) if len(run) else 0,
            "n_collapsed_folds": int(run["n_collapsed_folds"].sum()) if len(run) else 0,
            "cpu_minutes": float(run["cpu_seconds"].sum()) / 60.0 if len(run) else float("nan"),
            "chosen": _won(_matching(str_keys(choices), key)) if len(choices) else "",
        })
    summary = pd.DataFrame(rows)
    ranks = [experiment_rank(m, "", t.removesuffix(" NSCB")) + (t,) for m, t in
             zip(summary["method"], summary["target"])]
    return summary.iloc[sorted(range(len(summary)), key=lambda i: ranks[i])].reset_index(drop=True)


def benchmark_headline(summary: pd.DataFrame, votes: pd.DataFrame, networks: Collection[str]) -> str:
    """The benchmark in two short Markdown tables.

    1. Treatment accuracy (%) of every method (rows) on every problem × protocol (columns, with
       the treatments scored), the highest of each column in bold.
    2. Per column, the most accurate of the ``networks`` (method names of network settings)
       against the most accurate other method: the difference in points with its 95 % bootstrap
       interval and the paired permutation test over compounds, Holm-adjusted over the columns.
       "Most accurate" is read off this table: it says which wins where, it selects nothing.
    """
    from hca_dtl.evaluation.statistics import holm, paired_compound_test

    targets = list(dict.fromkeys(summary["target"]))
    accuracy = summary.pivot(index="method", columns="target", values="accuracy_mean")
    accuracy = accuracy.loc[list(dict.fromkeys(summary["method"])), targets]
    scored = summary.groupby("target")["n_treatments"].max()
    best = accuracy.max()
    table = pd.DataFrame({
        f"{t} ({scored[t]})": [DASH if pd.isna(v) else (f"**{100 * v:.1f}**" if v == best[t] else
                                                         f"{100 * v:.1f}") for v in accuracy[t]]
        for t in targets}, index=pd.Index(accuracy.index, name="method"))
    experiment = votes.astype({"approach": str, "target": str}).groupby(
        ["approach", "target"])["experiment"].first()
    rows = []
    for target in targets:
        column = accuracy[target].dropna()
        ours = column[column.index.isin(list(networks))]
        theirs = column[~column.index.isin(list(networks))]
        if ours.empty or theirs.empty:
            continue
        a, b = ours.idxmax(), theirs.idxmax()
        test = paired_compound_test(votes, experiment[(a, target)], experiment[(b, target)])
        rows.append({"problem": target, "best network": f"{a} ({100 * ours[a]:.1f})",
                     "best other method": f"{b} ({100 * theirs[b]:.1f})",
                     "difference, points (95 % CI, compounds)": difference_text(
                         test["difference"], test["difference_low"], test["difference_high"]),
                     "p": test["p_compounds"]})
    wins = pd.DataFrame(rows)
    if len(wins):
        wins["p (compounds, Holm)"] = [p_text(p) for p in holm(wins.pop("p"))]
    return "\n".join([to_markdown(table, "Treatment accuracy %, nested protocol (treatments scored)"),
                      to_markdown(wins, "Best network setting against the best other method")])


def _won(choices: pd.DataFrame) -> str:
    chosen = choices[choices["chosen"]]
    if chosen.empty or chosen["candidate"].nunique() == 1 and len(choices) == len(chosen):
        return ""
    counts = chosen["candidate"].value_counts()
    return "; ".join(f"{label}: {n}" for label, n in counts.items())


def choice_summary(choices: pd.DataFrame) -> pd.DataFrame:
    """How often each candidate won, per experiment (only experiments that had a choice)."""
    if choices.empty:
        return pd.DataFrame({"note": ["No setting listed candidates: nothing was chosen."]})
    table = choices.groupby(["experiment", "candidate", "selection"], sort=False).agg(
        folds_won=("chosen", "sum"), folds=("chosen", "size"), mean_score=("score", "mean"))
    table = table.reset_index()
    several = table.groupby("experiment")["candidate"].transform("nunique") > 1
    table = table[several]
    if table.empty:
        return pd.DataFrame({"note": ["No setting listed candidates: nothing was chosen."]})
    return table.assign(folds_won=table["folds_won"].astype(int))


def run_warnings(runs: pd.DataFrame, accuracies: pd.DataFrame,
                 chance: dict[str, float]) -> pd.DataFrame:
    """What a reader must not miss, one row per experiment and repetition: folds whose network
    predicted one class for every cell it was judged on (collapsed), treatments left out because
    their MOA had no training cell (NSCB), and accuracies at or below chance.

    Args:
        chance: Chance accuracy (fraction) per target.

    Returns:
        ``experiment``, ``repetition``, ``warning``; a single ``note`` row when there is none.
    """
    rows = []
    for run in runs.to_dict("records"):
        if run.get("n_collapsed_folds", 0) > 0:
            rows.append((run["experiment"], run["repetition"],
                         f"{run['n_collapsed_folds']} of {run['n_compounds']} folds collapsed to "
                         "one class"))
        if run.get("n_unscorable_treatments", 0) > 0:
            rows.append((run["experiment"], run["repetition"],
                         f"{run['n_unscorable_treatments']} treatments unscorable (their MOA has no "
                         "training cell once the held-out compound's batches are removed), left out"))
    for row in accuracies.to_dict("records"):
        level = chance.get(str(row["target"]))
        if level is not None and row["treatment_accuracy"] <= level:
            rows.append((row["experiment"], row["repetition"],
                         f"treatment accuracy {100 * row['treatment_accuracy']:.1f} % is at or "
                         f"below chance ({100 * level:.1f} %)"))
    if not rows:
        return pd.DataFrame({"note": ["No warnings: no fold collapsed to one class, every "
                                      "treatment could be scored, every accuracy is above chance."]})
    return pd.DataFrame(rows, columns=["experiment", "repetition", "warning"])


def _paper_row(transfer: object, target: object) -> pd.Series | None:
    return paper_table1_row("" if pd.isna(transfer) or transfer == DASH else str(transfer), str(target))


def _paper_table2_text(target: str, method: str) -> str:
    if method not in ("BL", "best DTL"):  # baseline names: "SVM-linear" and "svm_linear" alike
        method = method.lower().replace("-", "_").replace(" ", "_")
    rows = PAPER_TABLE2[(PAPER_TABLE2["target"] == target) & (PAPER_TABLE2["method"] == method)]
    return rows["text"].iloc[0] if len(rows) else DASH
