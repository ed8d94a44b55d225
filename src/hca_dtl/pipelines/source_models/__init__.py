"""The `source_models` pipeline (alias `pretraining`)."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
