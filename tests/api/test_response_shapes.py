"""Each answer's shape is declared once (`labelport.shapes`): the routes answer it, the Service
builds it, the store's records hold its columns, the SDK reads only its keys."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import textwrap
import typing
from pathlib import Path
from typing import Any, NotRequired

import pytest
import typing_extensions
from pydantic import BaseModel, TypeAdapter

from labelport import shapes
from labelport.api import create_app
from labelport.format import Problem
from labelport.sdk import project as sdk
from labelport.service import Service
from labelport.store import records

# The shapes that take keys they do not declare, and why. Any other is refused here.
OPEN_SHAPES = {
    "InstanceOut": "each instance type's geometry keys (docs/instance-format.md)",
}


def _extra(shape: Any) -> str | None:
    if isinstance(shape, type) and issubclass(shape, BaseModel):
        return shape.model_config.get("extra")
    config = vars(shape).get("__pydantic_config__")
    return None if config is None else config.get("extra")


def _is_shape(tp: Any) -> bool:
    return isinstance(tp, type) and (
        typing_extensions.is_typeddict(tp) or (issubclass(tp, BaseModel) and tp is not BaseModel)
    )


def _shapes_in(tp: Any, seen: dict[str, Any]) -> dict[str, Any]:
    """Every TypedDict or model reachable from an annotation, by name."""
    if _is_shape(tp):
        if tp.__name__ in seen:
            return seen
        seen[tp.__name__] = tp
        hints = (
            {n: f.annotation for n, f in tp.model_fields.items()}
            if issubclass(tp, BaseModel)
            else typing_extensions.get_type_hints(tp, vars(shapes))
        )
        for hint in hints.values():
            _shapes_in(hint, seen)
        return seen
    for arg in typing.get_args(tp):
        _shapes_in(arg, seen)
    return seen


def _route_shapes() -> list[tuple[str, str, Any]]:
    out = []
    for route in create_app(None).routes:
        # FastAPI keeps an included router as one entry; its routes are behind it (route_table).
        contexts = getattr(route, "effective_route_contexts", None)
        for entry in list(contexts()) if callable(contexts) else [route]:
            model = getattr(entry, "response_model", None)
            if model is None:
                continue
            where = f"{sorted(entry.methods)[0]} {entry.path_format}"
            out += [(where, name, shape) for name, shape in _shapes_in(model, {}).items()]
    return out


ROUTE_SHAPES = _route_shapes()


def test_the_native_routes_have_shapes() -> None:
    assert len({r for r, _, _ in ROUTE_SHAPES}) >= 30


@pytest.mark.parametrize(
    ("route", "name", "shape"), ROUTE_SHAPES, ids=[f"{r}:{n}" for r, n, _ in ROUTE_SHAPES]
)
def test_a_route_answers_only_declared_keys(route: str, name: str, shape: Any) -> None:
    extra = _extra(shape)
    if typing_extensions.is_typeddict(shape):
        # Without its own setting a nested TypedDict takes its parent's: say it in _EXTRA.
        assert extra in ("forbid", "ignore", "allow"), f"{name}: not in shapes._EXTRA"
    if extra == "allow":
        assert name in OPEN_SHAPES, f"{route}: {name} takes undeclared keys"


def test_the_open_shapes_are_still_open() -> None:
    """A shape closed since is taken off OPEN_SHAPES."""
    open_now = {n for _, n, s in ROUTE_SHAPES if _extra(s) == "allow"}
    assert open_now == set(OPEN_SHAPES)


# Shapes (or their record part) copied from a store record: every key is the record's.
RECORD_SHAPES = [
    (shapes.ProjectOut, records.Project),
    (shapes.SchemaOut, records.LabelSchema),
    (shapes.LabelRow, records.Label),
    (shapes.OptionOut, records.AttributeOption),
    (shapes.DirectoryOut, records.Directory),
    (shapes.FileOut, records.File),
    (shapes.ImportRow, records.Import),
    (shapes.BatchRow, records.Batch),
    (shapes.InstanceRow, records.Instance),
    (shapes.SequenceRow, records.Sequence),
]


@pytest.mark.parametrize(("shape", "record"), RECORD_SHAPES, ids=lambda x: x.__name__)
def test_a_record_shape_names_its_records_fields(shape: Any, record: Any) -> None:
    fields = {f.name for f in dataclasses.fields(record)}
    assert set(shapes.record_keys(shape)) - fields == set()


def test_one_problem_dict() -> None:
    keys = set(typing_extensions.get_type_hints(shapes.ProblemOut))
    assert set(shapes.problem_dict(Problem("a.b", "x/0", "bad"))) == keys
    assert shapes.problem_dict({"code": "a.b", "extra": 1}) == {
        "code": "a.b",
        "path": "",
        "message": "",
    }


# -- the Service's answers, on both databases --------------------------------------------------

TEXT = "A lion saw a car. It ran."


def _answers(svc: Service) -> dict[str, list[Any]]:
    """One answer (or more) of each shape, from a project with a text file and an instance."""
    p = svc.create_project("Shapes")
    pid = p["id"]
    key = svc.create_api_key(pid, "viewer")
    schema = svc.create_label_schema(pid, "other")
    labels = svc.create_labels(pid, ["lion", "car"])
    group = svc.create_attribute_group(
        pid, name="pose", kind="select", label_ids=[labels[0]["id"]], options=["up"]
    )
    option = svc.add_attribute_option(pid, group["id"], "down")
    directory = svc.create_directory(pid, "set")
    packet = {
        "text_data": TEXT,
        "original_filename": "a.txt",
        "idempotency_key": "a#1",
        "instance_list": [{"type": "text_token", "name": "lion", "start_token": 1, "end_token": 1}],
    }
    queued = svc.submit_packet(pid, packet)
    done = svc.wait_import(pid, queued["id"])
    assert done["status"] == "success", done
    bad = dict(packet, idempotency_key="b#1", instance_list=[{"type": "text_token"}])
    with pytest.raises(Exception):  # noqa: B017 (refused; it leaves a `rejected` record)
        svc.submit_packet(pid, bad)
    dry = svc.submit_packet(pid, dict(packet, idempotency_key=None), dry_run=True)
    batch = svc.wait_batch(pid, svc.submit_batch(pid, [packet, bad])["id"], timeout=60)
    batch = svc.get_batch(pid, batch["id"])
    file_id = done["file_id"]
    instances, _ = svc.list_instances(pid, file_id)
    imports, _ = svc.list_imports(pid)
    found = svc.find_imports(pid, keys=["a#1"], stems=["a"])
    batches, _ = svc.list_batches(pid)
    return {
        "ProjectOut": [p, svc.get_project(p["string_id"])],
        "KeyOut": [key],
        "SchemaOut": [schema, *svc.list_label_schemas(pid)],
        "LabelOut": [*labels, svc.get_label(pid, labels[0]["id"])],
        "AttributeGroupOut": [group, *svc.list_attribute_groups(pid)],
        "OptionOut": [option],
        "DirectoryOut": [directory, *svc.list_directories(pid)],
        "FileOut": [svc.get_file(pid, file_id), *svc.list_files(pid)[0]],
        "TokenOut": svc.get_tokens(pid, file_id),
        "ImportOut": [
            queued,
            done,
            *imports,
            *[i for part in found.values() for i in part.values()],
        ],
        "DryRunOut": [dry],
        "BatchOut": [batch, *batches],
        "BatchLineOut": batch["files"],
        "InstanceOut": instances,
        "SequenceOut": svc.list_sequences(pid, file_id),
    }


@pytest.fixture
def answers(tmp_path: Path, database: Any) -> dict[str, list[Any]]:
    svc = Service.open(data_dir=tmp_path / "data", database_url=database.url, workers=1)
    try:
        return _answers(svc)
    finally:
        svc.close()


def test_the_service_answers_the_declared_shapes(answers: dict[str, list[Any]]) -> None:
    kinds = {
        "ImportOut": {"rejected", "success", "queued", "running", "failed"},
    }
    for name, items in answers.items():
        shape = getattr(shapes, name)
        hints = typing_extensions.get_type_hints(shape, include_extras=True)
        required = {k for k, h in hints.items() if typing.get_origin(h) is not NotRequired}
        for item in items:
            extra = set(item) - set(hints)
            assert not extra or name in OPEN_SHAPES, f"{name}: {extra} not declared"
            assert required <= set(item), f"{name}: {required - set(item)} missing"
            TypeAdapter(shape).validate_python(item)  # the route's own check
        if name in kinds:
            assert {i["status"] for i in items} & kinds[name]
    assert [i["status"] for i in answers["ImportOut"] if i["status"] == "rejected"]
    assert answers["BatchLineOut"] and answers["InstanceOut"] and answers["TokenOut"]


# -- the SDK's results read the keys of their shape ---------------------------------------------

SDK_RESULTS = [
    (sdk.Import, shapes.ImportOut),
    (sdk.BatchFile, shapes.BatchLineOut),
    (sdk.BatchImport, shapes.BatchOut),
    (sdk.File.__init__, shapes.FileOut),  # its other methods read the pages of instances
    (sdk.DirectoryAPI._of, shapes.DirectoryOut),
]


def _keys_read(code: Any) -> set[str]:
    """The string keys read off `data` / `self.data` (`data["k"]`, `data.get("k")`)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(code)))
    keys = set()

    def is_data(node: ast.AST) -> bool:
        return (isinstance(node, ast.Name) and node.id == "data") or (
            isinstance(node, ast.Attribute) and node.attr == "data"
        )

    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and is_data(node.value):
            if isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
                keys.add(node.slice.value)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
            and is_data(node.func.value)
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            keys.add(node.args[0].value)
    return keys


@pytest.mark.parametrize(("result", "shape"), SDK_RESULTS, ids=lambda x: x.__qualname__)
def test_an_sdk_result_reads_only_its_shapes_keys(result: Any, shape: Any) -> None:
    read = _keys_read(result)
    assert read, "the SDK result reads no keys: the scan no longer sees them"
    assert read - set(typing_extensions.get_type_hints(shape)) == set()


def test_the_sdk_problem_is_the_problem_shape() -> None:
    from labelport.sdk import Problem as SdkProblem

    fields = {f.name for f in dataclasses.fields(SdkProblem)}
    assert fields == set(typing_extensions.get_type_hints(shapes.ProblemOut))
