"""A bank of source networks saved as one ``.keras`` file.

Transfer under NSCB (and from "every other compound") needs a source network per distinct set of
excluded cells — e.g. the other Pset's model trained without the held-out compound's weeks. A
``SourceBank`` holds those single-network classifiers (``SAAClassifier`` or another learner's),
each with its own ``metadata`` (the compounds and batches it saw), so that
``hca_dtl.evaluation.sources.fold_sources`` can pick, fold by fold, one that never saw the
held-out compound or its batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="hca_dtl")
class SourceBank(keras.Model):
    """J source classifiers side by side: (cells × features) → (cells × J × classes).

    Args:
        networks: The classifiers (built Keras models), or their serialised configs (loading).
        metadata: JSON-serialisable description of the bank (what it is for).
    """

    def __init__(self, networks: Sequence[Any], metadata: dict[str, Any] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not networks:
            raise ValueError("A SourceBank needs at least one network.")
        self.networks = [n if isinstance(n, keras.Model) else keras.saving.deserialize_keras_object(n)
                         for n in networks]
        self._metadata = dict(metadata or {})
        self.built = True

    @property
    def metadata(self) -> dict[str, Any]:
        return self._metadata

    def call(self, inputs: Any) -> Any:
        return ops.stack([network(inputs) for network in self.networks], axis=1)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "metadata": self._metadata,
                "networks": [keras.saving.serialize_keras_object(n) for n in self.networks]}
