"""The Dagster side of an import kind, built from its declaration (cdp_pipeline.engine.ImportKind):
its partitions (one per file or pair, named after the file), its assets, job and inbox sensor.

Per file: ``<noun>_<unit>`` (the files, located and hashed) → ``<noun>_staging_rows`` (the
file's rows in its scratch database) → ``validated_<noun>_<rows>`` (the contract's verdicts) →
``<noun>_import_batches`` (the batch: matched and written in one step, the warehouse's one
writer). Only that last step opens the warehouse, so it alone is in the warehouse pool: files
stage and validate side by side while another batch writes. The write step also reports a
materialization of every warehouse table it wrote (declared once, in ``defs/warehouse``).

No ``from __future__ import annotations`` here: Dagster reads the config classes of the asset
functions below from their annotations, which are built per kind.
"""

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import dagster as dg
import pydantic

from cdp_pipeline.batches import combined_sha256, content_sha256
from cdp_pipeline.engine import ImportKind, WriteResult, stage_import, validate_import, write_import
from cdp_pipeline.errors import FileRejected
from cdp_pipeline.inbox import drop_key, locate_import, scan_inbox
from cdp_pipeline.masking import mask_text
from dagster_project.defs.shared.config import import_run_config_class, settings_run_config
from dagster_project.defs.shared.metadata import column_names, markdown_table, table_materializations
from dagster_project.defs.shared.resources import WAREHOUSE_POOL, ImportLockResource, WarehouseResource
from dagster_project.instance import recover_dead_runs

OWNERS = ["team:cdp-data"]
RUN_KEY_TAG = "dagster/run_key"


def _title(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def files_config(kind: ImportKind) -> type[dg.Config]:
    """Where the files are (``<role>_path``, in the kind's input order); without paths the
    partition's files are looked up in the inbox and the archive."""
    return pydantic.create_model(
        f"{_title(kind.names.noun)}FilesConfig",
        __base__=dg.Config,
        __doc__=files_config.__doc__,
        move_source=(bool, False),
        **{f"{role}_path": (str | None, None) for role in kind.inputs},
    )


@dataclass(frozen=True)
class ImportDefinitions:
    """What Dagster gets of one kind."""

    kind: ImportKind
    partitions: dg.DynamicPartitionsDefinition
    assets: list[dg.AssetsDefinition]
    job: Any  # what dg.define_asset_job returns (its class is not public)
    settings_config: type[dg.Config]

    @cached_property
    def sensor(self) -> dg.SensorDefinition:
        return inbox_sensor(self)

    @property
    def source_op(self) -> str:
        return self.kind.names.source_asset

    @property
    def staging_op(self) -> str:
        return self.kind.names.staging_asset

    def run_config(self, files: list[str], settings: Any, force: bool = False, move_source: bool = False) -> dict:
        """Run config for one import run (the CLI, the sensor and backfills build the same one)."""
        return {
            "ops": {
                self.source_op: {
                    "config": {
                        "move_source": move_source,
                        **{f"{role}_path": str(path) for role, path in zip(self.kind.inputs, files, strict=True)},
                    }
                },
                self.staging_op: {"config": settings_run_config(settings, force)},
            }
        }

    def run_tags(self, files: list[Path]) -> dict[str, str]:
        roles = ("file", *self.kind.inputs[1:])
        # names masked: a file named after its owner's number is personal data, and tags are shown
        named = zip(roles, files, strict=True)
        return {"cdp/kind": self.kind.name, **{f"cdp/{role}_name": mask_text(p.name) for role, p in named}}

    def definitions(self) -> dg.Definitions:
        return dg.Definitions(assets=self.assets, jobs=[self.job], sensors=[self.sensor])


def masked_names(summary: dict) -> dict:
    """A batch summary as Dagster shows it (metadata, logs): its file names masked."""
    return {k: mask_text(v) if k.endswith("file_name") and isinstance(v, str) else v for k, v in summary.items()}


def rejected(error: FileRejected) -> dg.Failure:
    """A rejected file as the run's failure: its one-line reason, the file and the reason apart."""
    return dg.Failure(description=str(error), metadata={"file": mask_text(error.path.name), "reason": error.reason})


def import_definitions(kind: ImportKind) -> ImportDefinitions:
    names = kind.names
    partitions = dg.DynamicPartitionsDefinition(name=names.partitions)
    group = names.job
    source_key, staging_key, validated_key, batches_key = (
        names.source_asset,
        names.staging_asset,
        names.validated_asset,
        names.batches,
    )
    FilesConfig = files_config(kind)
    ImportConfig = import_run_config_class(
        kind.settings,
        f"{_title(kind.names.noun)}ImportConfig",
        f"The settings of a {kind.title} import (the CLI's flags, a sidecar's keys), and force.",
    )
    common = {"partitions_def": partitions, "group_name": group, "owners": OWNERS}

    @dg.asset(
        name=source_key,
        description=f"The {kind.title} of a partition: located, hashed and checked against its partition key.",
        kinds={"file"},
        **common,
    )
    def source_files(
        context: dg.AssetExecutionContext,
        config: FilesConfig,
        warehouse: WarehouseResource,
        import_lock: ImportLockResource,
    ) -> dg.Output[dict]:
        key = context.partition_key
        given = [getattr(config, f"{role}_path") for role in kind.inputs]
        try:
            if all(given):
                files = tuple(Path(p) for p in given)
            else:
                files = locate_import(warehouse.paths, kind, key)
                if files is None:
                    raise FileRejected(
                        key, f"the {kind.title} of this partition is neither in the inbox nor in the archive"
                    )
            for path in files if config.move_source else ():
                if path.is_symlink():  # put there since the sensor looked
                    raise FileRejected(path, "is a symbolic link; the inbox imports only files dropped into it")
            for path in files:
                if not path.is_file():
                    raise FileRejected(path, "is gone: it was moved or deleted since the run was requested")
            sha256 = content_sha256(list(files))
            if kind.partition_key(files, sha256) != key:
                raise FileRejected(files[0], f"its content changed since it was registered as partition {key}")
        except FileRejected as error:
            raise rejected(error) from error
        return dg.Output(
            {"paths": [str(p) for p in files], "sha256": sha256, "move_source": config.move_source},
            metadata={
                **{f"{role}_file": mask_text(p.name) for role, p in zip(kind.inputs, files, strict=True)},
                "bytes": sum(p.stat().st_size for p in files),
                "sha256": sha256,
            },
        )

    @dg.asset(
        name=staging_key,
        description=(
            f"The {kind.title}'s rows as text cells and cleaned fields, in the partition's own scratch "
            "DuckDB file under $CDP_HOME/work (not the warehouse)."
        ),
        kinds={"duckdb"},
        ins={"files": dg.AssetIn(source_key)},
        **common,
    )
    def staging_rows(
        context: dg.AssetExecutionContext,
        config: ImportConfig,
        warehouse: WarehouseResource,
        import_lock: ImportLockResource,
        files: dict,
    ) -> dg.MaterializeResult:
        settings = config.settings()
        try:
            with warehouse.faults():
                staged = stage_import(
                    kind,
                    [Path(p) for p in files["paths"]],
                    settings,
                    warehouse.paths,
                    force=config.force,
                    move_source=files["move_source"],
                    sha256=files["sha256"],
                )
        except FileRejected as error:
            raise rejected(error) from error
        extra = {k: mask_text(v) for k, v in staged.extra.items() if isinstance(v, str)}
        return dg.MaterializeResult(
            metadata={
                "batch_id": staged.batch_id,
                "status": staged.status,
                "encoding": staged.encoding or "-",
                "refused_columns": column_names(staged.refused),
                "unknown_columns": column_names(staged.unknown),
                **extra,
            }
        )

    @dg.asset(
        name=validated_key,
        description=f"Every row's verdict under the {kind.title}'s pandera contract (data_contracts/).",
        kinds={"duckdb", "pandera"},
        deps=[staging_key],
        **common,
    )
    def validated_rows(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, import_lock: ImportLockResource
    ) -> dg.MaterializeResult:
        try:
            with warehouse.faults():
                failures = validate_import(kind, context.partition_key, warehouse.paths)
        except FileRejected as error:
            raise rejected(error) from error
        return dg.MaterializeResult(
            metadata={"invalid_rows_by_reason": dg.MetadataValue.json(failures), "invalid_rows": sum(failures.values())}
        )

    @dg.asset(
        name=batches_key,
        description=(
            f"The {kind.title}'s batch: every row matched (in-file duplicates, then the matching rules) "
            f"and written in one transaction to {', '.join(kind.tables)}. A partition is one file's "
            f"batch record: the rows of the {batches_key} view (import_batches of kind '{kind.name}')."
        ),
        kinds={"duckdb"},
        deps=[validated_key],
        pool=WAREHOUSE_POOL,
        **common,
    )
    def import_batch(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, import_lock: ImportLockResource
    ) -> dg.MaterializeResult:
        try:
            with warehouse.faults():
                written = write_import(kind, context.partition_key, warehouse.paths, observe=written_tables)
        except FileRejected as error:
            raise rejected(error) from error
        summary = written.summary
        for event in written.observed:
            context.log_event(event)
        summary = masked_names(summary)
        context.log.info(f"{summary['file_name']}: {summary['status']} batch {summary['batch_id']}")
        return dg.MaterializeResult(
            metadata={
                **written.counts,
                "batch_id": summary["batch_id"],
                "status": summary["status"],
                "preview": markdown_table(written.preview),
                "failure_reasons": dg.MetadataValue.json(written.reasons),
                "reasons": markdown_table([{"reason_code": k, kind.names.rows: v} for k, v in written.reasons.items()]),
                "summary": dg.MetadataValue.json(summary),
            }
        )

    def written_tables(con, written: WriteResult) -> list[dg.AssetMaterialization]:
        return table_materializations(con, written.tables, written.summary["batch_id"])

    job = dg.define_asset_job(
        names.job,
        selection=dg.AssetSelection.assets(source_key, staging_key, validated_key, batches_key),
        executor_def=dg.in_process_executor,
        description=f"Import one {kind.title} (a partition of {partitions.name}).",
    )
    return ImportDefinitions(
        kind, partitions, [source_files, staging_rows, validated_rows, import_batch], job, ImportConfig
    )


def inbox_sensor(built: ImportDefinitions) -> dg.SensorDefinition:
    kind = built.kind

    @dg.sensor(
        name=kind.names.sensor,
        job=built.job,
        minimum_interval_seconds=10,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            f"Watches inbox/{kind.name}/: each {kind.title} whose files (and sidecar) held still since the "
            "last tick becomes a partition and an import run with its sidecar's settings; a tick that "
            "requests nothing says why each file waits."
        ),
    )
    def sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource) -> dg.SensorResult:
        # a killed run would hold the warehouse pool slot forever
        recover_dead_runs(context.instance, warehouse.paths)
        previous = json.loads(context.cursor) if context.cursor else {}
        scan = scan_inbox(warehouse.paths.inbox(kind.name), previous, kind.read_sidecar)
        imports, waiting, held = kind.group_ready(scan.ready)
        reasons = [
            f"{mask_text(p.name)} waits: it is still being written (changed since the last look)" for p in scan.settling
        ]
        reasons += [f"{mask_text(p.name)} waits: no partner yet (its other report has not arrived)" for p in waiting]
        candidates = []
        for files, settings in imports:
            sha = combined_sha256([f.sha256 for f in files])
            # one run per drop of these bytes: a failed run is not requested again, a new drop is
            candidates.append((files, settings, sha, f"{kind.name}-{sha}-{drop_key(files)}"))
        seen = tried_before(context.instance, [c[3] for c in candidates])
        requests, keys = [], []
        for files, settings, sha, run_key in candidates:
            if run_key in seen:
                reasons.append(f"{mask_text(files[0].path.name)} waits: {seen[run_key]}")
                continue
            key = kind.partition_key([f.path for f in files], sha)
            keys.append(key)
            requests.append(
                dg.RunRequest(
                    run_key=run_key,
                    partition_key=key,
                    run_config=built.run_config([str(f.path) for f in files], settings, move_source=True),
                    tags=built.run_tags([f.path for f in files]),
                )
            )
        reasons += [str(h) for h in [*scan.held, *held]]
        for reason in reasons:
            context.log.info(reason)
        # one query for the known partitions, not one per file (a full inbox holds thousands)
        known = set(context.instance.get_dynamic_partitions(built.partitions.name)) if keys else set()
        new_keys = sorted(set(keys) - known)
        return dg.SensorResult(
            run_requests=requests,
            dynamic_partitions_requests=[built.partitions.build_add_request(new_keys)] if new_keys else [],
            cursor=json.dumps(scan.cursor, ensure_ascii=False),
            skip_reason="; ".join(reasons) or None if not requests else None,
        )

    return sensor


def tried_before(instance: dg.DagsterInstance, run_keys: list[str]) -> dict[str, str]:
    """The run keys a run has already used (Dagster would skip their requests without a word),
    with what became of that run, in one query."""
    if not run_keys:
        return {}
    runs = instance.get_runs(filters=dg.RunsFilter(tags={RUN_KEY_TAG: run_keys}))
    found = {}
    for run in runs:
        run_key = run.tags.get(RUN_KEY_TAG)
        if run.status == dg.DagsterRunStatus.FAILURE:
            found[run_key] = (
                f"its import failed before (run {run.run_id[:8]}, its reason is in the UI); "
                "drop a corrected file or remove it"
            )
        elif run.status == dg.DagsterRunStatus.SUCCESS:
            found[run_key] = f"these bytes were imported before (run {run.run_id[:8]}); remove the file"
        else:
            found.setdefault(run_key, f"its import is {run.status.value.lower()} (run {run.run_id[:8]})")
    return found
