"""Every kind of import this pipeline knows. A new kind is a declaration (cdp_pipeline.engine.ImportKind),
its SQL and its contract, added here: the CLI, the Dagster assets, jobs and sensors follow from it."""

from cdp_pipeline.customer_import import CUSTOMERS
from cdp_pipeline.engine import ImportKind
from cdp_pipeline.tmall_import import TMALL

KINDS: tuple[ImportKind, ...] = (CUSTOMERS, TMALL)


def kind_of_job(job_name: str) -> ImportKind | None:
    """The kind whose import job this is (``customer_import``), if any."""
    return next((kind for kind in KINDS if kind.names.job == job_name), None)
