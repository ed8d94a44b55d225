"""Transfer for the MLP learner: which layers of a source MLP a target network starts from.

The masks and their semantics are the SAA's (``hca_dtl.model.transfer``): one digit per hidden
layer and a last one for the logistic layer; the logistic layer is copied MOA by MOA where the
target's classes include all the source's, else by position. A transferred hidden layer carries
its layer-normalisation parameters with it; the standardisation is never transferred (each
target fold fits its own on its TRAIN cells).
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from hca_dtl.model.mlp.layers import MLPClassifier
from hca_dtl.model.transfer import init_from_layers, model_classes
from hca_dtl.model.weights import LayerInit


def transfer_init_mlp(source_model: keras.Model, mask: str | tuple[bool, ...],
                      target_classes: Sequence[str] | None = None) -> list[LayerInit]:
    """The ``init`` list for ``train_folds_mlp``: the source's layer weights where the mask is 1.

    Args:
        source_model: A trained ``MLPClassifier`` (its ``metadata["classes"]`` names the MOA of
            each output).
        mask: A mask string (``"[001]"`` for two hidden layers) or the tuple from
            ``parse_transfer_mask``.
        target_classes: The target's MOA names (see ``hca_dtl.model.transfer.transfer_init``).

    Returns:
        K + 1 entries: None, or [kernel (d_in, units), bias (units,)] (+ [gamma, beta] with layer
        normalisation) for a hidden layer and [kernel (units, C), bias (C,)] for the logistic
        layer (numpy copies). ``train_folds_mlp`` checks them against the target network and
        raises ValueError naming the layer and both shapes on a mismatch.

    Raises:
        ValueError: ``source_model`` is not an ``MLPClassifier``, or the mask does not fit it.
    """
    if not isinstance(source_model, MLPClassifier):
        raise ValueError(f"transfer_init_mlp needs an MLPClassifier source, got "
                         f"{type(source_model).__name__} (use transfer_init for an SAA)")
    layers = [*(block.layer_variables() for block in source_model.blocks),
              (source_model.logistic.kernel, source_model.logistic.bias)]
    return init_from_layers(layers, mask, model_classes(source_model), target_classes)
