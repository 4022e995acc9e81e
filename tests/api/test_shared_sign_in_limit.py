"""The limit on failed sign-ins holds across servers: two Services (two API servers) over one
database count failures in the same rows, per account (or client id) and per remote address, on
SQLite and PostgreSQL; a restarted server remembers them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from labelport import auth
from labelport.accounts import Accounts
from labelport.api import create_app
from labelport.auth import DatabaseLimiter, limiter_for, use_limiter
from labelport.service import Service
from server_helpers import make_project
from signin_helpers import sign_in_account

LIMIT = 3
PASSWORD = "correct horse battery"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def two_servers(
    database: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Service, Service]]:
    # The default limiter of each service, made from the environment as `labelport serve` does.
    monkeypatch.setenv(auth.MAX_FAILURES_ENV, str(LIMIT))
    monkeypatch.setenv(auth.FAILURE_WINDOW_ENV, "60")
    with ExitStack() as stack:
        services = []
        for name in ("one", "two"):
            svc = Service.open(data_dir=tmp_path / name, database_url=database.url, workers=0)
            stack.callback(svc.close)
            services.append(svc)
        yield services[0], services[1]


def _client(app: Any, address: str) -> TestClient:
    return TestClient(
        app, raise_server_exceptions=False, follow_redirects=False, client=(address, 40000)
    )


def test_each_service_counts_in_the_database(two_servers: tuple[Service, Service]) -> None:
    one, two = two_servers
    assert isinstance(limiter_for(one), DatabaseLimiter)
    assert isinstance(limiter_for(two), DatabaseLimiter)
    assert limiter_for(one) is not limiter_for(two)  # two processes' worth of limiters


def test_failures_on_two_servers_add_up_per_account(
    two_servers: tuple[Service, Service],
) -> None:
    one, two = two_servers
    project = make_project(one, "Limited")
    accounts = Accounts(one.store)
    accounts.create("ann@example.com", PASSWORD)
    accounts.grant("ann@example.com", project.string_id, "viewer")
    labels = project.url("/labels")
    apps = [create_app(one), create_app(two)]
    # Each wrong password from its own address: only the account's count can add up.
    statuses = []
    for n in range(LIMIT):
        with _client(apps[n % 2], f"10.1.0.{n}") as c:
            statuses.append(c.get(labels, auth=("ann@example.com", f"wrong-{n}")).status_code)
    assert statuses == [401] * LIMIT
    # The limit is reached on both servers: 429 before any scrypt, even for the right password
    # (someone who knows the email can hold the account off, not guess its password).
    for app in apps:
        with _client(app, "10.1.9.9") as c:
            refused = c.get(labels, auth=("ANN@example.com", PASSWORD))
            assert refused.status_code == 429, refused.text
            assert refused.json()["error"]["code"] == "auth.too_many_failures"
            assert int(refused.headers["Retry-After"]) >= 1
    # The /ui sign-in form counts in the same place.
    with _client(apps[1], "10.1.9.8") as c:
        form = sign_in_account(c, "ann@example.com", PASSWORD)
        assert form.status_code == 429 and "Retry-After" in form.headers
        assert "labelport_session" not in form.headers.get("set-cookie", "")
    # Another account is not limited by ann's failures.
    accounts.create("bob@example.com", PASSWORD)
    accounts.grant("bob@example.com", project.string_id, "viewer")
    with _client(apps[0], "10.1.9.7") as c:
        assert c.get(labels, auth=("bob@example.com", PASSWORD)).status_code == 200


def test_failures_on_two_servers_add_up_per_address(
    two_servers: tuple[Service, Service],
) -> None:
    one, two = two_servers
    project = make_project(one, "Per address")
    accounts = Accounts(one.store)
    accounts.create("cat@example.com", PASSWORD)
    accounts.grant("cat@example.com", project.string_id, "viewer")
    apps = [create_app(one), create_app(two)]
    labels = project.url("/labels")
    # Different accounts and client ids, one address, alternating servers and ways in.
    guesses = [("lp_0000000000000001", "x"), ("nobody@example.com", "wrong-password"),
               ("lp_0000000000000002", "y")]  # fmt: skip
    for n, creds in enumerate(guesses):
        with _client(apps[n % 2], "10.2.0.1") as c:
            assert c.get(labels, auth=creds).status_code == 401
    for app in apps:
        with _client(app, "10.2.0.1") as c:
            assert c.get(labels, auth=("cat@example.com", PASSWORD)).status_code == 429
            key = c.get(labels, auth=project.auth("viewer"))
            assert key.status_code == 429
    # From another address the same account and key are fine.
    with _client(apps[1], "10.2.0.2") as c:
        assert c.get(labels, auth=("cat@example.com", PASSWORD)).status_code == 200
        assert c.get(labels, auth=project.auth("viewer")).status_code == 200


def test_a_restarted_server_remembers_and_the_window_frees(database: Any, tmp_path: Path) -> None:
    clock = FakeClock()
    with ExitStack() as stack:
        first = Service.open(data_dir=tmp_path / "a", database_url=database.url, workers=0)
        stack.callback(first.close)
        project = make_project(first, "Window")
        Accounts(first.store).create("dan@example.com", PASSWORD)
        Accounts(first.store).grant("dan@example.com", project.string_id, "editor")
        use_limiter(first, DatabaseLimiter(first, LIMIT, 60, clock=clock))
        with _client(create_app(first), "10.3.0.1") as c:
            for n in range(LIMIT):
                wrong = c.get(project.url("/labels"), auth=("dan@example.com", f"no-{n}"))
                assert wrong.status_code == 401
                clock.now += 10  # failures at 0, 10, 20 s
        first.close()

        # "Restarted": a new Service over the same database, the same shared clock.
        second = Service.open(data_dir=tmp_path / "b", database_url=database.url, workers=0)
        stack.callback(second.close)
        use_limiter(second, DatabaseLimiter(second, LIMIT, 60, clock=clock))
        with _client(create_app(second), "10.3.0.2") as c:
            right = ("dan@example.com", PASSWORD)
            refused = c.get(project.url("/labels"), auth=right)
            assert refused.status_code == 429
            # It is now 30 s; the first failure leaves the window at 60 s.
            assert int(refused.headers["Retry-After"]) == 30
            clock.now += 31
            assert c.get(project.url("/labels"), auth=right).status_code == 200


def test_concurrent_guesses_do_not_pass_the_limit(two_servers: tuple[Service, Service]) -> None:
    import threading

    one, two = two_servers
    project = make_project(one, "Racing")
    Accounts(one.store).create("eve@example.com", PASSWORD)
    apps = [create_app(one), create_app(two)]
    statuses: list[int] = []
    barrier = threading.Barrier(8)

    def guess(n: int) -> None:
        with _client(apps[n % 2], f"10.4.0.{n}") as c:
            barrier.wait()
            r = c.get(project.url("/labels"), auth=("eve@example.com", f"guess-{n}"))
            statuses.append(r.status_code)

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    # Every attempt was counted before its scrypt: never more than LIMIT got to try.
    assert statuses.count(401) <= LIMIT and len(statuses) == 8
    assert set(statuses) <= {401, 429}
