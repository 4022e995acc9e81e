"""Projects, api keys, label schemas, labels, attribute groups, directories."""

from __future__ import annotations

import pytest

from labelport.store import Conflict, NotFound, Store


def test_project_comes_with_default_schema_and_directory(store: Store) -> None:
    p = store.create_project("acme", "Acme")
    assert store.get_project(p.id) == p == store.get_project_by_string_id("acme")
    [schema] = store.list_label_schemas(p.id)
    assert schema.is_default
    [directory] = store.list_directories(p.id)
    assert directory.is_default and store.default_directory(p.id) == directory
    assert p.created_at.tzinfo is not None


def test_project_errors(store: Store) -> None:
    store.create_project("acme")
    with pytest.raises(Conflict):
        store.create_project("acme")
    with pytest.raises(NotFound):
        store.get_project(999)
    with pytest.raises(NotFound):
        store.get_project_by_string_id("nope")
    assert [p.string_id for p in store.list_projects()] == ["acme"]


def test_api_keys(store: Store) -> None:
    p = store.create_project("acme")
    key = store.create_api_key(p.id, "client-1", "hash$abc", role="viewer")
    assert store.get_api_key("client-1") == key
    assert store.get_api_key("client-2") is None
    with pytest.raises(Conflict):
        store.create_api_key(p.id, "client-1", "other")
    with pytest.raises(ValueError, match="role"):
        store.create_api_key(p.id, "client-3", "h", role="owner")
    with pytest.raises(NotFound):
        store.create_api_key(999, "client-4", "h")


def test_labels(store: Store) -> None:
    p = store.create_project("acme")
    cat, dog = store.create_labels(p.id, ["cat", {"name": "dog", "colour": "#ff0000"}])
    assert (cat.name, dog.colour) == ("cat", "#ff0000")
    assert store.list_labels(p.id) == [cat, dog]
    assert store.get_label(dog.id) == dog
    by_name = {lab.name: lab for lab in store.list_labels(p.id)}
    assert by_name["dog"] == dog and "Dog" not in by_name  # names are case-sensitive
    with pytest.raises(NotFound):
        store.get_label(999)


def test_duplicate_label_is_a_conflict_and_stores_none_of_the_batch(store: Store) -> None:
    p = store.create_project("acme")
    store.create_labels(p.id, ["cat"])
    with pytest.raises(Conflict):
        store.create_labels(p.id, ["bird", "cat"])
    assert [lab.name for lab in store.list_labels(p.id)] == ["cat"]


def test_label_schemas_default_first_and_names_per_schema(store: Store) -> None:
    p = store.create_project("acme")
    other = store.create_label_schema(p.id, "b-schema")
    [in_default] = store.create_labels(p.id, ["cat"])
    [in_other] = store.create_labels(p.id, ["cat"], schema_id=other.id)  # same name, other schema
    schemas = store.list_label_schemas(p.id)
    assert [s.is_default for s in schemas] == [True, False]
    assert store.list_labels(p.id, schema_id=other.id) == [in_other]
    assert store.list_labels(p.id, schema_id=schemas[0].id) == [in_default]
    with pytest.raises(Conflict):
        store.create_label_schema(p.id, "b-schema")
    with pytest.raises(NotFound):
        store.create_labels(p.id, ["x"], schema_id=999)


def test_attribute_groups_with_options_labels_and_trees(store: Store) -> None:
    p = store.create_project("acme")
    cat, dog = store.create_labels(p.id, ["cat", "dog"])
    colour = store.create_attribute_group(
        p.id, "colour", "select", label_ids=[cat.id, dog.id], options=["red", "green"]
    )
    tree = store.create_attribute_group(
        p.id,
        "taxonomy",
        "tree",
        label_ids=[cat.id],
        options=[{"name": "animal", "children": ["cat", {"name": "dog", "display_name": "Dog"}]}],
        prompt="What is it?",
    )
    size = store.create_attribute_group(p.id, "size", "slider", min_value=0, max_value=10)

    assert colour.label_ids == (cat.id, dog.id)
    assert [o.name for o in colour.options] == ["red", "green"]
    root = next(o for o in tree.options if o.parent_id is None)
    children = [o for o in tree.options if o.parent_id == root.id]
    assert [(o.name, o.display_name) for o in children] == [("cat", None), ("dog", "Dog")]
    assert (size.min_value, size.max_value, size.options) == (0, 10, ())
    assert store.list_attribute_groups(p.id) == [colour, tree, size]

    with pytest.raises(ValueError, match="kind"):
        store.create_attribute_group(p.id, "bad", "colour-wheel")
    other = store.create_project("other")
    [foreign] = store.create_labels(other.id, ["x"])
    with pytest.raises(NotFound):
        store.create_attribute_group(p.id, "g", "text", label_ids=[foreign.id])
    with pytest.raises(Conflict):
        store.create_attribute_group(p.id, "colour", "text")


def test_directories(store: Store) -> None:
    p = store.create_project("acme")
    d = store.create_directory(p.id, "batch-2")
    assert store.get_directory(d.id) == d
    assert [x.nickname for x in store.list_directories(p.id)] == ["default", "batch-2"]
    with pytest.raises(Conflict):
        store.create_directory(p.id, "batch-2")
    other = store.create_project("other")
    with pytest.raises(NotFound):
        store.get_directory(d.id, project_id=other.id)


def test_get_or_create_labels_keeps_existing_and_order(store: Store) -> None:
    p = store.create_project("acme")
    [cat] = store.create_labels(p.id, ["cat"])
    got = store.get_or_create_labels(p.id, ["dog", "cat", "dog"])
    assert [lab.name for lab in got] == ["dog", "cat"] and got[1] == cat
    assert len(store.list_labels(p.id)) == 2
    assert store.get_or_create_labels(p.id, []) == []


def test_update_attribute_group_and_add_option(store: Store) -> None:
    p = store.create_project("acme")
    cat, dog = store.create_labels(p.id, ["cat", "dog"])
    g = store.create_attribute_group(p.id, "colour", "select", label_ids=[cat.id], options=["red"])
    changed = store.update_attribute_group(p.id, g.id, prompt="Which?", label_ids=[dog.id])
    assert (changed.prompt, changed.label_ids) == ("Which?", (dog.id,))
    option = store.add_attribute_option(p.id, g.id, "blue", "Blue")
    assert (option.ordinal, option.display_name) == (1, "Blue")
    assert [o.name for o in store.list_attribute_groups(p.id)[0].options] == ["red", "blue"]
    with pytest.raises(ValueError):
        store.update_attribute_group(p.id, g.id, schema_id=5)
    other = store.create_project("other")
    with pytest.raises(NotFound):
        store.update_attribute_group(other.id, g.id, prompt="x")
