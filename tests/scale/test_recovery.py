"""Recovery of the out-of-process queue, step by step, on a PostgreSQL schema of the test's own.

A worker "dies" here by its heartbeat going stale, which is exactly what the recovery sees of a
killed worker; test_scale_out.py kills real worker processes.
"""

from __future__ import annotations

import asyncio

import pytest

from labelport.ingest.procrastinate_queue import (
    RUN_IMPORT,
    QueueSettings,
    Recovery,
    async_app,
    defer_import_async,
    ensure_schema,
    fail_unfinished,
)

on_postgres = pytest.mark.parametrize("database", ["postgresql"], indirect=True)


def _new_import(store):
    project = store.create_project("p", "P")
    row, created = store.create_import(project.id, media_type="image")
    assert created and row.status == "queued"
    return row.id


async def _stale_all_workers(app) -> None:
    await app.connector.execute_query_async(
        "UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 hour'"
    )


async def _jobs(app, import_id: int) -> list:
    jobs = await app.job_manager.list_jobs_async(task=RUN_IMPORT)
    return [j for j in jobs if j.task_kwargs["import_id"] == import_id]


@on_postgres
def test_schema_is_applied_once(database) -> None:
    assert ensure_schema(database.url) is True
    assert ensure_schema(database.url) is False


@on_postgres
def test_stalled_job_is_retried_then_given_up(database, store) -> None:
    ensure_schema(database.url)
    import_id = _new_import(store)
    settings = QueueSettings(max_attempts=2, heartbeat_seconds=1, stalled_after=5)
    app = async_app(database.url)

    async def scenario() -> None:
        async with app.open_async():
            recovery = Recovery(app, store, settings)
            await defer_import_async(app, import_id)
            manager = app.job_manager
            first = await manager.fetch_job(queues=None, worker_id=await manager.register_worker())
            assert first is not None and first.attempts == 0
            assert await recovery.retry_stalled() == 0  # its worker is alive
            await _stale_all_workers(app)
            assert await recovery.retry_stalled() == 1
            (job,) = await _jobs(app, import_id)
            assert job.status == "todo" and job.attempts == 1
            assert store.get_import(import_id).status == "queued"  # not given up yet

            second = await manager.fetch_job(queues=None, worker_id=await manager.register_worker())
            assert second is not None and second.id == first.id
            store.update_import(import_id, status="writing")
            await _stale_all_workers(app)
            assert await recovery.retry_stalled() == 1
            (job,) = await _jobs(app, import_id)
            assert job.status == "failed"

    asyncio.run(scenario())
    row = store.get_import(import_id)
    assert row.status == "failed" and row.finished_at is not None
    assert "stopped 2 time(s)" in row.error and "2 attempt(s)" in row.error


@on_postgres
def test_sweep_defers_orphans_and_ends_imports_whose_job_failed(database, store) -> None:
    ensure_schema(database.url)
    orphan = _new_import(store)
    broken = store.create_import(store.get_import(orphan).project_id, media_type="image")[0].id
    settings = QueueSettings(heartbeat_seconds=1, stalled_after=5, orphan_after=0)
    app = async_app(database.url)

    async def scenario() -> None:
        from procrastinate.jobs import Status

        async with app.open_async():
            manager = app.job_manager
            await defer_import_async(app, broken)
            job = await manager.fetch_job(queues=None, worker_id=await manager.register_worker())
            assert job.task_kwargs["import_id"] == broken
            store.update_import(broken, status="processing")
            await manager.finish_job(job, Status.FAILED, delete_job=False)

            recovery = Recovery(app, store, settings)
            assert await recovery.sweep() == 2
            (deferred,) = await _jobs(app, orphan)
            assert deferred.status == "todo"
            assert await recovery.sweep() == 0  # both attended to now

    asyncio.run(scenario())
    assert store.get_import(orphan).status == "queued"
    row = store.get_import(broken)
    assert row.status == "failed" and "failed 1 time(s)" in row.error


@on_postgres
def test_fail_unfinished_never_overwrites_a_result(database, store) -> None:
    import_id = _new_import(store)
    store.update_import(import_id, status="success")
    assert fail_unfinished(store, import_id, "late") is False
    assert store.get_import(import_id).status == "success"
    other = store.create_import(store.get_import(import_id).project_id)[0].id
    assert fail_unfinished(store, other, "gave up") is True
    assert store.get_import(other).error == "gave up"


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError):
        QueueSettings(max_attempts=0)
    with pytest.raises(ValueError):
        QueueSettings(heartbeat_seconds=10, stalled_after=5)
