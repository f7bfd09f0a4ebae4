"""Dagster run config derived from an import kind's settings model (``cdp_pipeline.settings``).

Each field keeps the model's type, so a ``Literal`` setting is a Dagster enum: the launchpad
offers its choices and Dagster's config check refuses any other value (``mode: fsat``) before
the run starts.
"""

from typing import ClassVar

import dagster as dg
import pydantic

from cdp_pipeline.settings import SettingField, plain_setting_values, setting_fields, settings_from_values


class ImportRunConfig(dg.Config):
    """An import step's config: the kind's settings, plus ``force``, an option of this run only."""

    settings_model: ClassVar[type]
    force: bool = False

    def settings(self) -> object:
        """The settings object these config values give (of the kind's model)."""
        return settings_from_values(self.settings_model, self.model_dump(exclude={"force"}))


def _config_field(setting: SettingField) -> tuple[object, object]:
    # run config holds plain values: tags as a list (Dagster has no tuple config type)
    if setting.shape == "tags":
        return list[str], pydantic.Field(list(setting.default), description=setting.help)
    return setting.annotation, pydantic.Field(setting.default, description=setting.help)


def import_run_config_class(model: type, name: str, description: str) -> type[ImportRunConfig]:
    """A ``dg.Config`` class with one field per field of the settings ``model``, and ``force``."""
    fields = {setting.name: _config_field(setting) for setting in setting_fields(model)}
    config_class = pydantic.create_model(name, __base__=ImportRunConfig, __doc__=description, **fields)
    config_class.settings_model = model
    return config_class


def settings_run_config(settings: object, force: bool) -> dict[str, object]:
    """What an import step's config holds for ``settings`` (the values ``import_run_config_class`` takes)."""
    return {**plain_setting_values(settings), "force": force}
