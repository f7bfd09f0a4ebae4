"""cdp-pipeline's domain library: reading, cleaning, matching and writing customer files.

Plain Python over DuckDB and DataFrames; nothing here imports Dagster.
"""
