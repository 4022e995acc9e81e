"""A label's colour: stored only when chosen (#rrggbb), else the default palette by its place;
migration 0006 clears the old name-hash colours. On SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from alembic import command

from labelport import palette
from labelport.errors import Invalid, NotFound
from labelport.service import Service
from labelport.store import Store
from labelport.store.database import alembic_config, make_engine, transaction


@pytest.fixture
def service(database: Any, tmp_path) -> Any:
    svc = Service.open(database_url=database.url, data_dir=tmp_path / "data", workers=0)
    try:
        yield svc
    finally:
        svc.close()


def test_new_labels_get_distinct_default_colours(service: Any) -> None:
    pid = service.create_project("Colours")["id"]
    cat, another = service.create_labels(pid, ["cat", "another"])
    assert cat["colour"] != another["colour"]
    assert (cat["colour"], another["colour"]) == (
        palette.default_colour(0),
        palette.default_colour(1),
    )
    assert cat["colour_is_default"] and another["colour_is_default"]
    # Labels an import creates by name take the next places in the palette.
    service.store.get_or_create_labels(pid, ["dog", "bird"])
    colours = [lab["colour"] for lab in service.list_labels(pid)]
    assert len(set(colours)) == 4


def test_set_get_and_reset_a_colour(service: Any) -> None:
    pid = service.create_project("Colours")["id"]
    cat, _another = service.create_labels(pid, ["cat", "another"])
    changed = service.set_label_colour(pid, cat["id"], "#FF8800")
    assert (changed["colour"], changed["colour_is_default"]) == ("#ff8800", False)
    assert service.get_label(pid, cat["id"])["colour"] == "#ff8800"
    assert service.list_labels(pid)[0]["colour"] == "#ff8800"
    back = service.set_label_colour(pid, cat["id"], None)
    assert (back["colour"], back["colour_is_default"]) == (palette.default_colour(0), True)


@pytest.mark.parametrize("bad", ["red", "#ff880", "#ff88001", "ff8800", "#gg8800", "#f80", ""])
def test_a_bad_colour_is_refused_with_its_code(service: Any, bad: str) -> None:
    pid = service.create_project("Colours")["id"]
    (cat,) = service.create_labels(pid, ["cat"])
    with pytest.raises(Invalid) as caught:
        service.set_label_colour(pid, cat["id"], bad)
    assert caught.value.code == "label.colour_invalid"
    with pytest.raises(Invalid):
        service.create_labels(pid, ["dog"], colour=bad)
    assert service.get_label(pid, cat["id"])["colour_is_default"]


def test_another_projects_label_is_not_found(service: Any) -> None:
    mine = service.create_project("Mine")["id"]
    theirs = service.create_project("Theirs")["id"]
    (label,) = service.create_labels(theirs, ["cat"])
    with pytest.raises(NotFound):
        service.set_label_colour(mine, label["id"], "#ff8800")
    assert service.get_label(theirs, label["id"])["colour_is_default"]


def test_migration_0006_keeps_chosen_colours_only(database: Any) -> None:
    engine = make_engine(database.url)
    cfg = alembic_config()
    try:
        with transaction(engine, write=True) as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0005")
        with transaction(engine, write=True) as conn:
            conn.exec_driver_sql(
                "INSERT INTO project (id, string_id, name, created_at) "
                "VALUES (1, 'p', 'p', CURRENT_TIMESTAMP)"
            )
            conn.exec_driver_sql(
                "INSERT INTO label_schema (id, project_id, name, is_default, created_at) "
                "VALUES (1, 1, 'default', TRUE, CURRENT_TIMESTAMP)"
            )
            for i, (name, colour) in enumerate(
                [
                    ("cat", "#469990"),  # the old hash's pick for "cat": cleared
                    ("another", "#469990"),  # also its pick: cleared
                    ("dog", "#469990"),  # chosen (not dog's hash pick): kept
                    ("bird", "#ABC"),  # short form: expanded, lower case
                    ("fish", "not a colour"),  # cleared
                    ("cow", None),
                ],
                start=1,
            ):
                value = "NULL" if colour is None else f"'{colour}'"
                conn.exec_driver_sql(
                    "INSERT INTO label (id, schema_id, project_id, name, colour, created_at) "
                    f"VALUES ({i}, 1, 1, '{name}', {value}, CURRENT_TIMESTAMP)"
                )
    finally:
        engine.dispose()
    with Store.open(database.url) as store:  # migrates to head
        stored = {lab.name: lab.colour for lab in store.list_labels(1)}
    assert stored == {
        "cat": None,
        "another": None,
        "dog": "#469990",
        "bird": "#aabbcc",
        "fish": None,
        "cow": None,
    }
