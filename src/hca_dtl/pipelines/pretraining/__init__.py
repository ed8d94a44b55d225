"""The `pretraining` pipeline."""
