"""Sample-file generators for tests, the demo and benchmarks (nothing here runs in production)."""
