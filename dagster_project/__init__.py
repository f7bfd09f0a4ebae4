"""Dagster orchestration over the cdp_pipeline domain library: thin wiring only."""
