"""The settings tables (:mod:`dse.settings`, plain Python, what the CLI shows) and the pydantic models
built from them (:mod:`dse.settings.models`, what validates) say the same: every field has one
entry, and each entry's default, help text and range are the field's."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from dse.settings import Setting
from dse.settings.models import TABLES

CASES = [(model, name, setting) for model, table in TABLES.items() for name, setting in table.items()]


@pytest.mark.parametrize("model", list(TABLES), ids=lambda m: m.__name__)
def test_every_field_has_one_entry(model) -> None:
    assert set(model.model_fields) == set(TABLES[model])


@pytest.mark.parametrize("model,name,setting", CASES, ids=[f"{m.__name__}.{n}" for m, n, _ in CASES])
def test_the_field_takes_default_and_help_from_its_entry(model, name: str, setting: Setting) -> None:
    field = model.model_fields[name]
    assert field.default == setting.default
    assert field.description == setting.help
    assert getattr(model(), name) == setting.default  # the default is valid


def _outside(setting: Setting) -> list[object]:
    """Values just outside each numeric bound of ``setting``."""
    values: list[object] = []
    if setting.ge is not None:
        values.append(setting.ge - (1 if isinstance(setting.default, int) else 1e-9))
    if setting.gt is not None:
        values.append(setting.gt)
    if setting.le is not None:
        values.append(setting.le + 1)
    if setting.lt is not None:
        values.append(setting.lt)
    if setting.min_length == 1:
        values.append(type(setting.default)())  # "" or ()
    return values


BOUNDED = [(model, name, value) for model, name, setting in CASES for value in _outside(setting)]


def test_there_are_bounds_to_check() -> None:
    assert len(BOUNDED) >= 10


@pytest.mark.parametrize("model,name,value", BOUNDED, ids=[f"{m.__name__}.{n}={v!r}" for m, n, v in BOUNDED])
def test_the_model_enforces_the_entry_range(model, name: str, value: object) -> None:
    with pytest.raises(ValidationError):
        model(**{name: value})
