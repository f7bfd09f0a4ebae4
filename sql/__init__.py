"""The pipeline's SQL, one folder per layer; package data read by ``cdp_pipeline.resources``."""
