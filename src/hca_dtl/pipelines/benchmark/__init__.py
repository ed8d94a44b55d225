"""The `benchmark` pipeline: every method under NSC and NSCB, with intervals."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
