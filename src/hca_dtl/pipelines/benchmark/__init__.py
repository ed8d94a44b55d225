"""The `benchmark` pipeline: every method under NSC and NSCB, with intervals (issue: real-data benchmark)."""
