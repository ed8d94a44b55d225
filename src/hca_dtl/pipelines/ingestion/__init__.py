"""The `ingestion` pipeline."""
