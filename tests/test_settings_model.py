"""Each import kind's settings model is the one declaration its CLI flags, Dagster run config and
sidecar schema come from (issue 11, item 5)."""

import argparse
import dataclasses
from pathlib import Path
from typing import Literal, get_args, get_origin, get_type_hints

import dagster as dg
import pytest

from cdp_pipeline.settings import CustomerImportSettings, TmallImportSettings, setting, setting_fields
from cdp_pipeline.sidecars import (
    CUSTOMER_SETTINGS,
    TMALL_SETTINGS,
    SidecarError,
    checked_settings,
    customer_sidecar,
    sidecar_checks,
    tmall_sidecar,
)
from dagster_project.cli.parser import add_setting_flags, build_parser, settings_from_args
from dagster_project.defs.shared.config import import_run_config_class, settings_run_config


@dataclasses.dataclass(frozen=True)
class PosImportSettings:
    """A kind that exists only here: its fields must reach every surface without being named again."""

    tags: tuple[str, ...] = setting((), "tag the buyers", flag="--tag", metavar="NAME")
    store: str | None = setting(None, "the store the export comes from")
    channel: Literal["online", "offline"] = setting("offline", "where the sale happened")


# built at module level: Dagster resolves an asset's config annotation in its module's namespace
PosImportConfig = import_run_config_class(PosImportSettings, "PosImportConfig", "The POS settings.")
POS_RUNS: list[tuple[PosImportSettings, bool]] = []


@dg.asset
def pos_staging_rows(config: PosImportConfig) -> None:
    POS_RUNS.append((config.settings(), config.force))


def choice_fields(model: type) -> dict[str, tuple[str, ...]]:
    """The model's Literal fields and their values, read from the type hints themselves."""
    hints = get_type_hints(model)
    return {f.name: get_args(hints[f.name]) for f in dataclasses.fields(model) if get_origin(hints[f.name]) is Literal}


RUNS = {
    "customers": ("customer_import", "customer_staging_rows", CustomerImportSettings),
    "tmall": ("tmall_import", "tmall_staging_rows", TmallImportSettings),
}


def run_config(kind: str, settings: object) -> dict:
    from dagster_project.defs.imports.definitions import IMPORTS

    if kind == "customers":
        return IMPORTS["customers"].run_config(["/inbox/file.csv"], settings)
    return IMPORTS["tmall"].run_config(["/inbox/orders.csv", "/inbox/items.csv"], settings)


@pytest.mark.parametrize("kind", RUNS)
def test_a_value_outside_a_settings_choices_is_refused_by_dagsters_config_check(kind: str, defs) -> None:
    """Issue 11 item 5: the launchpad's config check refuses `mode: fsat` (any Literal setting off its
    choices) for each kind, and takes every choice the model declares."""
    job_name, step, model = RUNS[kind]
    job = defs.resolve_job_def(job_name)
    choices = choice_fields(model)
    assert choices  # each kind has at least one (encoding)
    for name, values in choices.items():
        for value in values:
            validated = dg.validate_run_config(job, run_config(kind, model(**{name: value})))
            assert validated["ops"][step]["config"][name] == value
        config = run_config(kind, model())
        config["ops"][step]["config"][name] = "fsat"
        with pytest.raises(dg.DagsterInvalidConfigError, match=rf"config:{name} not in enum type.* got fsat"):
            dg.validate_run_config(job, config)


def test_the_run_config_of_settings_is_every_model_field_and_force(defs) -> None:
    """Issue 11 item 5: the staging step's config holds each settings field by name (tags as a list)
    and `force` beside them; the config Dagster checks reads back as the same settings object."""
    settings = CustomerImportSettings(tags=("vip", "2024"), group="g", mode="fast", encoding="gb18030")
    values = run_config("customers", settings)["ops"]["customer_staging_rows"]["config"]
    fields = {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)}
    assert values == {**fields, "tags": ["vip", "2024"], "force": False}
    from dagster_project.defs.imports.definitions import IMPORTS

    CustomerImportConfig, TmallImportConfig = IMPORTS["customers"].settings_config, IMPORTS["tmall"].settings_config
    assert CustomerImportConfig(**values).settings() == settings
    tmall = TmallImportSettings(tags=("tm",), encoding="big5")
    assert TmallImportConfig(**settings_run_config(tmall, force=True)).settings() == tmall


@pytest.mark.parametrize(
    ("argv", "model"),
    [
        (["import", "customers", "f.csv"], CustomerImportSettings),
        (["import", "tmall", "--orders", "o.csv", "--items", "i.csv"], TmallImportSettings),
        (["backfill", "tmall", "exports"], TmallImportSettings),
    ],
)
def test_cli_choices_and_defaults_are_the_models(argv: list[str], model: type, capsys) -> None:
    """Issue 11 item 5: each CLI flag of a Literal setting offers exactly the model's choices, in
    order; with no flags the CLI's settings are the model's defaults."""
    with pytest.raises(SystemExit):
        build_parser().parse_args([*argv, "-h"])
    usage = capsys.readouterr().out
    for name, values in choice_fields(model).items():
        assert f"--{name.replace('_', '-')} {{{','.join(values)}}}" in usage
        for value in values:
            assert getattr(build_parser().parse_args([*argv, f"--{name.replace('_', '-')}", value]), name) == value
    assert settings_from_args(model, build_parser().parse_args(argv)) == model()


def test_sidecar_schema_is_the_models_fields(tmp_path: Path) -> None:
    """Issue 11 item 5: a sidecar's keys are the model's fields (an order report's also `items`),
    and each Literal setting is refused off the model's choices, naming them in order."""
    assert list(CUSTOMER_SETTINGS) == [f.name for f in dataclasses.fields(CustomerImportSettings)]
    assert list(TMALL_SETTINGS) == [f.name for f in dataclasses.fields(TmallImportSettings)] + ["items"]
    for model, read in ((CustomerImportSettings, customer_sidecar), (TmallImportSettings, tmall_sidecar)):
        for name, values in choice_fields(model).items():
            source = tmp_path / f"{model.__name__}_{name}.csv"
            sidecar = source.with_name(source.name + ".yaml")
            sidecar.write_text(f"{name}: fsat\n", encoding="utf-8")
            with pytest.raises(SidecarError, match=f"{name} must be one of {', '.join(values)}, not 'fsat'"):
                read(source)
            sidecar.write_text(f"{name}: {values[-1]}\n", encoding="utf-8")
            settings = read(source)
            assert getattr(getattr(settings, "settings", settings), name) == values[-1]


def test_a_field_added_to_a_model_becomes_a_cli_flag_a_config_field_and_a_sidecar_key(tmp_path: Path) -> None:
    """Issue 11 item 5: a settings model defined only in this test gets its CLI flags, its Dagster
    config (checked by Dagster) and its sidecar keys from its fields alone."""
    expected = PosImportSettings(tags=("a", "b"), store="S1", channel="online")

    parser = argparse.ArgumentParser()
    add_setting_flags(parser, PosImportSettings)
    args = parser.parse_args(["--tag", "a", "--tag", "b", "--store", "S1", "--channel", "online"])
    assert settings_from_args(PosImportSettings, args) == expected
    assert settings_from_args(PosImportSettings, parser.parse_args([])) == PosImportSettings()
    assert "--channel {online,offline}" in parser.format_help()
    assert "the store the export comes from" in parser.format_help()
    with pytest.raises(SystemExit):
        parser.parse_args(["--channel", "elsewhere"])

    assert set(PosImportConfig.model_fields) == {"tags", "store", "channel", "force"}
    job = dg.Definitions(assets=[pos_staging_rows], jobs=[dg.define_asset_job("pos", [pos_staging_rows])])
    pos_job = job.resolve_job_def("pos")
    config = {"ops": {"pos_staging_rows": {"config": settings_run_config(expected, force=True)}}}
    assert pos_job.execute_in_process(run_config=config).success
    assert [(expected, True)] == POS_RUNS
    config["ops"]["pos_staging_rows"]["config"]["channel"] = "elsewhere"
    with pytest.raises(dg.DagsterInvalidConfigError, match="config:channel not in enum type"):
        dg.validate_run_config(pos_job, config)

    checks = sidecar_checks(PosImportSettings)
    assert list(checks) == ["tags", "store", "channel"]
    sidecar = tmp_path / "pos.csv.yaml"
    assert checked_settings(sidecar, {"tags": "a", "store": "S1", "channel": "online"}, checks) == {
        "tags": ("a",),
        "store": "S1",
        "channel": "online",
    }
    with pytest.raises(SidecarError, match="channel must be one of online, offline"):
        checked_settings(sidecar, {"channel": "elsewhere"}, checks)
    with pytest.raises(SidecarError, match="store must be text"):
        checked_settings(sidecar, {"store": 12}, checks)


def test_a_setting_type_no_surface_can_carry_is_refused() -> None:
    """Issue 11 item 5: a settings field that is neither tags, optional text nor a Literal is refused
    when the model is read, rather than half-supported by one surface."""

    @dataclasses.dataclass(frozen=True)
    class Counted:
        count: int = setting(0)

    with pytest.raises(TypeError, match=r"Counted.count: a setting is tuple\[str, \.\.\.\], str \| None or a Literal"):
        setting_fields(Counted)
