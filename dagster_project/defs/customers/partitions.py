"""One dynamic partition per customer file, keyed by its content hash."""

import dagster as dg

customer_files = dg.DynamicPartitionsDefinition(name="customer_files")
