"""One dynamic partition per Tmall export (order report + item report), keyed by both files' hash."""

import dagster as dg

tmall_exports = dg.DynamicPartitionsDefinition(name="tmall_exports")
