"""Input contracts (pandera), the field catalogue and reference data."""
