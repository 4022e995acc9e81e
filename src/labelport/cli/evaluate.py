"""`labelport evaluate`: a model run against the people's instances (or another run), embedded
or through a running server (`--server URL --key ID:SECRET`)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from labelport.cli.common import (
    DatabaseUrl,
    DataDir,
    JsonOpt,
    KeyOpt,
    ProjectOpt,
    fail,
    key_parts,
    open_service,
    output_console,
)


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def evaluate(
    project: ProjectOpt,
    run: Annotated[str, typer.Option("--run", help="The model run: id, model/run, or run")],
    reference: Annotated[
        str, typer.Option("--reference", help="human (people's instances), or another run")
    ] = "human",
    iou: Annotated[float, typer.Option("--iou", help="IoU of a match (P/R/F1, counts)")] = 0.5,
    score_min: Annotated[
        float, typer.Option("--score-min", help="Leave out predictions scored below (not of AP)")
    ] = 0.0,
    iou_type: Annotated[
        str, typer.Option("--iou-type", help="auto, box, mask or keypoints")
    ] = "auto",
    max_dets: Annotated[
        int, typer.Option("--max-dets", help="Predictions kept per file, frame and label")
    ] = 100,
    scope: Annotated[
        str, typer.Option("--scope", help="run: files the run predicted on; project: all")
    ] = "run",
    server: Annotated[str | None, typer.Option("--server", help="A running server's URL")] = None,
    key: KeyOpt = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: JsonOpt = False,
) -> None:
    """Evaluate a model run: precision, recall, F1, AP per label and overall; the files with the
    most errors first. Stored: the web page of the run shows it too."""
    params = {"iou": iou, "score_min": score_min, "iou_type": iou_type, "max_dets": max_dets,
              "scope": scope}  # fmt: skip
    if server is not None:
        result = _remote(server, key, project, run, reference, params)
        queue = result.pop("_queue")
    else:
        from labelport.evaluate.run import queue_page

        with open_service(data_dir, database_url) as service:
            project_id = service.get_project(project)["id"]
            result = service.evaluate(project_id, run, reference=reference, **params)
            queue = queue_page(service.store, project_id, result["id"], 1, 10, True)["items"]
    if as_json:
        typer.echo(json.dumps(result, indent=2, default=str))
        return
    _print(result, queue)
    from labelport.running import running_server_url

    base = server.rstrip("/") if server else running_server_url(data_dir)
    if base:
        typer.echo(
            f"see it in a browser: {base}/ui/p/{project}/runs/{result['model_run_id']}"
            f"?evaluation={result['id']}"
        )


def _remote(
    server: str, key: str | None, project: str, run: str, reference: str, params: dict[str, Any]
) -> dict[str, Any]:
    client_id, secret = key_parts(key)
    from labelport.sdk import Project
    from labelport.sdk.errors import LabelportHTTPError

    try:
        with Project(project, client_id, secret, host=server) as p:
            result: dict[str, Any] = p.evaluate(run=run, reference=reference, **params)
            result["_queue"] = p.evaluation_files(result["id"], per_page=10, errors_only=True)
    except LabelportHTTPError as exc:
        raise fail(f"server: {exc}") from None
    return result


def _print(result: dict[str, Any], queue: list[dict[str, Any]]) -> None:
    from rich.table import Table

    console = output_console()
    p = result["parameters"]
    ref = "people's instances" if result["reference"] == "human" else (
        f"run {result['reference_run_id']}")  # fmt: skip
    run = result["model_run"]
    console.print(
        f"evaluation {result['id']}: run {run['model']}/{run['run']} against {ref}, "
        f"{result['iou_type']} IoU >= {p['iou']:g}, score >= {p['score_min']:g}, "
        f"{result['file_count']} files"
    )
    table = Table()
    for column in ("label", "refs", "preds", "TP", "FP", "FN", "prec", "recall", "F1",
                   "AP50", "AP"):  # fmt: skip
        table.add_column(column, justify="left" if column == "label" else "right")
    for row in [*result["labels"], {**result["overall"], "label_name": "all"}]:
        table.add_row(
            str(row.get("label_name") or row.get("label_id") or "(no label)"),
            *(_fmt(row.get(k)) for k in ("references", "predictions", "tp", "fp", "fn",
                                         "precision", "recall", "f1", "ap50", "ap")),
        )  # fmt: skip
    console.print(table)
    if queue:
        console.print("files with the most errors (the review queue):")
        for f in queue:
            console.print(
                f"  file {f['file_id']} {f.get('original_filename') or ''}: "
                f"{f['fp']} FP, {f['fn']} FN, {f['tp']} TP"
            )
    tracks = result.get("tracks") or {}
    if tracks.get("sequence_count"):
        console.print(
            f"video: {tracks['sequence_count']} reference tracks, {tracks['lost']} frames where "
            f"the predicted track is lost, {tracks['switches']} identity switches"
        )
    if result.get("stale"):
        console.print("[yellow]stale: files were imported into since; run it again[/yellow]")
