"""README.md's settings tables against config.py: every variable a program reads is in its
tables, every variable there is read by it, and a plain documented default is the field's."""

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import Field, fields
from pathlib import Path
from typing import Any

import pytest

from ai_system.config import MasterSettings, MqttSettings, WorkerSettings

README = Path(__file__).resolve().parents[2] / "README.md"

# The line before each table of README's "## Settings", and the programs its variables are for.
# Elsewhere README's tables list command-line options and the Go and Java workers' specifics.
TABLES = {
    "Both programs:": ("master", "worker"),
    "The master (`ai-master`):": ("master",),
    "A worker (`ai-worker`):": ("worker",),
}
PROGRAMS: dict[str, Callable[[Mapping[str, str]], object]] = {
    "master": MasterSettings.from_env,
    "worker": WorkerSettings.from_env,
}

# Documented defaults that are not the field's, because they are worked out when read.
DERIVED = {
    "MQTT_PORT": "8883 instead with MQTT_TLS_CA_FILE",
    "GRPC_ADVERTISED_ENDPOINT": "made of the host name and GRPC_PORT",
}

Row = tuple[tuple[str, ...], str]  # the variables of a row, and its default cell


def settings_tables() -> dict[str, list[Row]]:
    """Each table of the "## Settings" section by the line before it."""
    section = README.read_text(encoding="utf-8").split("\n## Settings\n")[1].split("\n## ")[0]
    tables: dict[str, list[Row]] = {}
    label = ""
    for line in section.splitlines():
        if not line.startswith("|"):
            label = line or label
            continue
        name, default = (cell.strip() for cell in line.strip("|").split("|")[:2])
        variables = tuple(re.findall(r"`([A-Z][A-Z0-9_]*)`", name))
        if variables:  # not the header or the rule under it
            tables.setdefault(label, []).append((variables, default))
    return tables


class RecordingEnv(Mapping[str, str]):
    """An empty environment that notes each variable looked up in it."""

    def __init__(self) -> None:
        self.read: set[str] = set()

    def __getitem__(self, name: str) -> str:
        self.read.add(name)
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def variables_read(program: str) -> set[str]:
    """What the program's settings look up: the fields declared by ``setting``, the ``_FILE``
    of secrets, and what from_env reads itself (LLM_PROVIDER, the key pools, WORKER_ID...)."""
    env = RecordingEnv()
    PROGRAMS[program](env)
    return env.read


def table_fields() -> dict[str, list[Field[Any]]]:
    """The fields declared by ``setting``, by variable (some are in more than one class)."""
    found: dict[str, list[Field[Any]]] = {}
    for settings in (MqttSettings, MasterSettings, WorkerSettings):
        for field in fields(settings):
            if "env" in field.metadata:
                found.setdefault(field.metadata["env"], []).append(field)
    return found


def documented(program: str) -> set[str]:
    return {variable for label, rows in settings_tables().items() if program in TABLES[label]
            for variables, _ in rows for variable in variables}


def test_the_settings_section_has_the_tables_this_test_reads() -> None:
    assert set(settings_tables()) == set(TABLES)


@pytest.mark.parametrize("program", PROGRAMS)
def test_every_variable_a_program_reads_is_documented_for_it(program: str) -> None:
    assert variables_read(program) - documented(program) == set()


@pytest.mark.parametrize("program", PROGRAMS)
def test_every_variable_documented_for_a_program_is_read_by_it(program: str) -> None:
    assert documented(program) - variables_read(program) == set()


def plain_defaults(variables: tuple[str, ...], cell: str) -> dict[str, str] | None:
    """``empty``, `` `value` `` or, for two variables, two values: each one's default text."""
    if cell == "empty":
        return dict.fromkeys(variables, "")
    parts = re.split(r" / |, ", cell)
    if len(parts) != len(variables) or not all(re.fullmatch(r"`[^`]*`", p) for p in parts):
        return None
    return {variable: part[1:-1] for variable, part in zip(variables, parts, strict=True)}


def parse(text: str, like: object) -> object:
    """README's text of a default as a value of the default's type."""
    if isinstance(like, bool):
        return {"true": True, "false": False}[text]
    if isinstance(like, (int, float)):
        return type(like)(text)
    return tuple(text.split(",")) if isinstance(like, tuple) else text


def test_a_plain_documented_default_and_minimum_are_the_fields() -> None:
    # The variables outside the table (LLM_PROVIDER, WORKER_ID...) are read by from_env with
    # defaults by provider or host: the other tests check that they are documented.
    table = table_fields()
    compared = set(table) - set(DERIVED)
    for rows in settings_tables().values():
        for variables, cell in rows:
            minimum = re.search(r" \(min ([\d.]+)\)$", cell)
            cell = re.sub(r" \((min [\d.]+|none)\)$", "", cell)
            defaults = plain_defaults(variables, cell)
            for variable in compared.intersection(variables):
                assert defaults is not None, f"{variable}: {cell!r} is not a plain default"
                for field in table[variable]:
                    assert parse(defaults[variable], field.default) == field.default, variable
                    if minimum:
                        assert float(minimum[1]) == field.metadata["minimum"], variable


def test_the_derived_defaults_skipped_are_settings_of_the_table() -> None:
    assert set(DERIVED) <= set(table_fields())
