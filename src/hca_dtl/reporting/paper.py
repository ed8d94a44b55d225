"""The published numbers of Kandaswamy et al. 2016 (J Biomol Screen 21(3):252–259), transcribed.

Always shown labelled as the paper's, beside ours, never in place of ours.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

PAPER = "Kandaswamy et al. 2016"
PAPER_ACCURACY_COLUMN = "Paper accuracy % (Kandaswamy 2016)"

# Number of MOAs of each of the paper's problems (chance accuracy is one over it).
PAPER_N_MOAS = {"Pset1": 6, "Pset2": 6, "all12": 12}

# The transfer masks of Table 1, in the paper's order (one bit per hidden layer 1..7, then the
# logistic layer; 1 = initialised from the source model).
PAPER_MASKS = ("[00000011]", "[00001111]", "[00111111]", "[11111111]")

_NA = np.nan
# Table 1: accuracy in %, times in minutes (mean, SD over 10 repetitions); the DTL settings are
# not pretrained ("—" in the paper), so their pretraining times are NaN.
_TABLE1_ROWS = [
    # approach, mask, source, target, C, acc, sd, p, pre, pre_sd, ft, ft_sd, total, total_sd
    ("BL", "", "", "Pset1", 20, 84.29, 3.21, "—", 8.34, 0.0, 16.98, 1.3, 506, 29),
    ("DTL_1", "[00000011]", "Pset2", "Pset1", 20, 87.62, 6.96, "0.187", _NA, _NA, 17.54, 2.5, 350, 51),
    ("DTL_2", "[00001111]", "Pset2", "Pset1", 20, 77.62, 8.80, "0.351", _NA, _NA, 15.08, 1.4, 301, 29),
    ("DTL_3", "[00111111]", "Pset2", "Pset1", 20, 86.19, 8.73, "0.589", _NA, _NA, 16.72, 2.0, 334, 41),
    ("DTL_4", "[11111111]", "Pset2", "Pset1", 20, 86.43, 3.38, "0.331", _NA, _NA, 10.35, 0.9, 207, 18),
    ("BL", "", "", "Pset2", 18, 87.05, 4.25, "—", 12.71, 0.2, 26.10, 1.8, 698, 37),
    ("DTL_1", "[00000011]", "Pset1", "Pset2", 18, 87.87, 6.86, "0.734", _NA, _NA, 27.36, 2.3, 492, 42),
    ("DTL_2", "[00001111]", "Pset1", "Pset2", 18, 69.67, 11.4, "<0.001", _NA, _NA, 21.39, 2.7, 385, 49),
    ("DTL_3", "[00111111]", "Pset1", "Pset2", 18, 85.08, 6.99, "0.513", _NA, _NA, 25.33, 2.8, 455, 50),
    ("DTL_4", "[11111111]", "Pset1", "Pset2", 18, 75.57, 4.72, "<0.001", _NA, _NA, 19.79, 2.2, 356, 41),
]

PAPER_TABLE1 = pd.DataFrame(
    _TABLE1_ROWS,
    columns=[
        "approach", "mask", "source", "target", "n_compounds",
        "accuracy_pct_mean", "accuracy_pct_sd", "p_value",
        "pretrain_min_per_compound_mean", "pretrain_min_per_compound_sd",
        "finetune_min_per_compound_mean", "finetune_min_per_compound_sd",
        "total_min_per_repetition_mean", "total_min_per_repetition_sd",
    ],
)
"""The paper's Table 1: keys as in ``EXPERIMENT_KEYS`` (``mask``/``source`` ``""`` for BL),
compounds C, treatment accuracy % (mean, SD), p value to BL as printed (text), minutes per
compound (pretrained, fine-tuned) and minutes per repetition (mean, SD)."""

PAPER_TABLE2 = pd.DataFrame(
    [
        ("Pset1", "BL", "SAA baseline", 84.29, "84.29", "Table 2"),
        ("Pset2", "BL", "SAA baseline", 87.05, "87.05", "Table 2"),
        ("Pset1", "best DTL", "SAA best DTL (DTL_1)", 87.62, "87.62", "Table 2"),
        ("Pset2", "best DTL", "SAA best DTL (DTL_1)", 87.87, "87.87", "Table 2"),
        ("Pset1", "svm_linear", "Linear SVM", 21.0, "≈ 21", "text: overall accuracy, best C"),
        ("Pset2", "svm_linear", "Linear SVM", 23.0, "≈ 23", "text: overall accuracy, best C"),
        ("Pset1", "svm_rbf", "RBF SVM", 21.0, "≈ 21", "text: trained on 1 % of the training data"),
        ("Pset2", "svm_rbf", "RBF SVM", 18.0, "≈ 18", "text: trained on 1 % of the training data"),
        ("all12", "BL", "SAA baseline", 77.0, "≈ 77 (preliminary)",
         "Discussion: preliminary, little tuning"),
    ],
    columns=["target", "method", "label", "accuracy_pct", "text", "where"],
)
"""The paper's Table 2 and the figures quoted beside it: one row per (target, method), with
``method`` ``BL``, ``best DTL`` or the baseline name of ``hca_dtl.evaluation.baselines``,
accuracy in % (approximate where the paper says "about") and the text as printed."""


def paper_table1_row(approach_mask: str, target: str) -> pd.Series | None:
    """The paper's Table 1 row of a transfer mask (``""`` for BL) and target, if it has one."""
    rows = PAPER_TABLE1[(PAPER_TABLE1["mask"] == approach_mask) & (PAPER_TABLE1["target"] == target)]
    return rows.iloc[0] if len(rows) else None
