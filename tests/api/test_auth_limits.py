"""Credentials under attack: an unknown client id costs what a wrong secret costs, and failed
sign-ins are limited per client id and per remote address (429 with Retry-After), before the
scrypt. Work is measured by counting scrypt calls, time by a fake clock: nothing here is timed.
"""

from __future__ import annotations

import functools
import hashlib
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from labelport import auth
from labelport.api import create_app
from labelport.auth import FailureLimiter, use_limiter
from labelport.service import Service
from server_helpers import ProjectKeys, make_project
from thread_helpers import run_together

LIMIT = 3
WINDOW = 60.0


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Scrypts:
    """Counts hashlib.scrypt calls and the cost of each (n, r, p); optionally slows each down."""

    def __init__(self, delay: float = 0.0) -> None:
        self.calls: list[tuple[int, int, int]] = []
        self.delay = delay
        self._real = hashlib.scrypt
        self._lock = threading.Lock()

    def __call__(self, password: bytes, **kwargs: Any) -> bytes:
        with self._lock:
            self.calls.append((kwargs["n"], kwargs["r"], kwargs["p"]))
        if self.delay:
            time.sleep(self.delay)  # widens the overlap of concurrent checks; nothing is timed
        return self._real(password, **kwargs)

    def during(self, action: Callable[[], Any]) -> list[tuple[int, int, int]]:
        before = len(self.calls)
        action()
        return self.calls[before:]


@pytest.fixture
def service(database: Any, tmp_path: Path) -> Iterator[Service]:
    svc = Service.open(data_dir=tmp_path / "data", database_url=database.url, workers=1)
    try:
        yield svc
    finally:
        svc.close()


@pytest.fixture
def project(service: Service) -> ProjectKeys:
    return make_project(service, "Limits")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def app(service: Service, clock: FakeClock) -> Any:
    # Before create_app: the API and the /ui sign-in both take the service's limiter.
    use_limiter(service, FailureLimiter(LIMIT, WINDOW, clock=clock))
    return create_app(service)


@pytest.fixture
def scrypts(monkeypatch: pytest.MonkeyPatch) -> Scrypts:
    counter = Scrypts()
    monkeypatch.setattr(hashlib, "scrypt", counter)
    return counter


def client_from(app: Any, address: str) -> TestClient:
    return TestClient(
        app, raise_server_exceptions=False, follow_redirects=False, client=(address, 40000)
    )


def labels(client: TestClient, project: ProjectKeys, creds: tuple[str, str]) -> Any:
    return client.get(project.url("/labels"), auth=creds)


def test_an_unknown_client_id_costs_the_same_scrypt_as_a_wrong_secret(
    app: Any, project: ProjectKeys, service: Service, scrypts: Scrypts
) -> None:
    client_id, _ = project.auth("viewer")
    with client_from(app, "10.0.0.1") as c:
        # The first check of a process may make its dummy hash: not what is compared here.
        labels(c, project, ("lp_warmup", "x"))
        unknown = scrypts.during(lambda: labels(c, project, ("lp_0000000000000000", "guess-1")))
        wrong = scrypts.during(lambda: labels(c, project, (client_id, "guess-2")))
        assert unknown == wrong and len(wrong) == 1
    with client_from(app, "10.0.0.2") as c:  # a fresh address: 3 failures are the limit
        # The diffgram routes go the same way.
        compat = f"/api/project/{project.string_id}/labels"
        unknown_compat = scrypts.during(lambda: c.get(compat, auth=("lp_nobody", "guess-3")))
        assert unknown_compat == wrong
        # And so does the Service itself (the /ui sign-in form calls it).
        direct = scrypts.during(lambda: service.authenticate("lp_nobody_either", "guess-4"))
        assert direct == wrong
    assert auth.verify_secret("anything", None) is False


def test_an_unreadable_stored_hash_is_refused_after_the_same_work(scrypts: Scrypts) -> None:
    auth.verify_secret("warm", None)
    for stored in ("", "plain", "md5$a$b", "scrypt$%%%$***"):
        assert scrypts.during(lambda s=stored: auth.verify_secret("x", s)) == scrypts.during(
            lambda: auth.verify_secret("x", None)
        )
    right = auth.hash_secret("right")
    assert auth.verify_secret("right", right) and not auth.verify_secret("wrong", right)


def test_failures_past_the_limit_get_429_with_retry_after_and_cost_no_scrypt(
    app: Any, project: ProjectKeys, clock: FakeClock, scrypts: Scrypts
) -> None:
    client_id, secret = project.auth("viewer")
    with client_from(app, "10.0.1.2") as c:
        for i in range(LIMIT):
            assert labels(c, project, (client_id, f"wrong-{i}")).status_code == 401
            clock.now += 5
        before = len(scrypts.calls)
        refused = labels(c, project, (client_id, "wrong-again"))
        assert refused.status_code == 429
        # The oldest of the failures leaves the window 60 s after it happened, 15 s ago.
        assert refused.headers["Retry-After"] == "45"
        error = refused.json()["error"]
        assert error["code"] == "auth.too_many_failures"
        assert "retry in 45 s" in error["message"]
        # Even the right secret waits: the limit is checked before any scrypt.
        assert labels(c, project, (client_id, secret)).status_code == 429
        compat = c.get(f"/api/project/{project.string_id}/labels", auth=(client_id, "w"))
        assert compat.status_code == 429 and compat.headers["Retry-After"] == "45"
        assert compat.json()["log"]["success"] is False
        assert len(scrypts.calls) == before


def test_the_limit_is_per_client_id_across_addresses(
    app: Any, project: ProjectKeys, clock: FakeClock
) -> None:
    viewer_id, _ = project.auth("viewer")
    for i in range(LIMIT):
        with client_from(app, f"10.1.0.{i}") as c:
            assert labels(c, project, (viewer_id, "wrong")).status_code == 401
    with client_from(app, "10.1.0.99") as fresh:
        assert labels(fresh, project, (viewer_id, "wrong")).status_code == 429
        # Another client id from that address is not affected.
        assert labels(fresh, project, project.auth("editor")).status_code == 200
    # An unknown id is limited the same way: a 429 does not tell it from a real one.
    for i in range(LIMIT):
        with client_from(app, f"10.2.0.{i}") as c:
            assert labels(c, project, ("lp_ffffffffffffffff", "x")).status_code == 401
    with client_from(app, "10.2.0.99") as c:
        assert labels(c, project, ("lp_ffffffffffffffff", "x")).status_code == 429


def test_the_limit_is_per_address_and_a_right_key_elsewhere_still_works(
    app: Any, project: ProjectKeys, scrypts: Scrypts
) -> None:
    with client_from(app, "10.3.0.1") as cached:
        # Used once before the attack: its check is cached, no scrypt, so it keeps working.
        assert labels(cached, project, project.auth("admin")).status_code == 200
    with client_from(app, "10.3.0.7") as attacker:
        # Spraying different client ids: each id is fresh, the address is not.
        for i in range(LIMIT):
            assert labels(attacker, project, (f"lp_guess{i}", "x")).status_code == 401
        before = len(scrypts.calls)
        refused = labels(attacker, project, ("lp_guess_next", "x"))
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
        assert labels(attacker, project, project.auth("viewer")).status_code == 429
        assert len(scrypts.calls) == before
        assert labels(attacker, project, project.auth("admin")).status_code == 200
    with client_from(app, "10.3.0.8") as other:
        assert labels(other, project, project.auth("viewer")).status_code == 200
        assert labels(other, project, ("lp_guess_next", "x")).status_code == 401


def test_the_limit_slides_and_resets_after_the_window(
    app: Any, project: ProjectKeys, clock: FakeClock, scrypts: Scrypts
) -> None:
    client_id, secret = project.auth("editor")
    with client_from(app, "10.4.0.1") as c:
        for i in range(LIMIT):
            assert labels(c, project, (client_id, f"wrong-{i}")).status_code == 401
            clock.now += 10
        clock.now += 20  # the failures were at 0, 10, 20 s; it is now 50 s
        assert labels(c, project, (client_id, "wrong")).headers["Retry-After"] == "10"
        clock.now += 10  # the first failure leaves the window: room for exactly one more
        assert scrypts.during(lambda: labels(c, project, (client_id, "wrong-3"))) != []
        assert labels(c, project, (client_id, "wrong")).status_code == 429
        clock.now += WINDOW
        assert labels(c, project, (client_id, secret)).status_code == 200


def test_a_success_does_not_reset_an_address_budget(
    app: Any, project: ProjectKeys, clock: FakeClock
) -> None:
    # Else a valid key of one's own, used between guesses, would buy unlimited guesses at others.
    with client_from(app, "10.5.0.1") as c:
        for i in range(LIMIT - 1):
            assert labels(c, project, (f"lp_other{i}", "x")).status_code == 401
        assert labels(c, project, project.auth("viewer")).status_code == 200
        assert labels(c, project, ("lp_other_last", "x")).status_code == 401
        assert labels(c, project, ("lp_other_after", "x")).status_code == 429


def test_concurrent_guesses_cannot_run_more_scrypts_than_the_limit(
    app: Any, project: ProjectKeys, service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth.verify_secret("warm", None)
    counter = Scrypts(delay=0.2)
    monkeypatch.setattr(hashlib, "scrypt", counter)
    authenticator = app.state.authenticator
    client_id, _ = project.auth("viewer")

    def guess(i: int) -> str:
        try:
            found = authenticator.authenticate(client_id, f"wrong-{i}", f"10.6.0.{i}")
            return "ok" if found else "wrong"
        except auth.TooManyFailures:
            return "refused"

    outcomes = run_together(*(functools.partial(guess, i) for i in range(12)))
    assert len(counter.calls) <= LIMIT
    assert outcomes.count("wrong") == len(counter.calls)
    assert outcomes.count("refused") == 12 - len(counter.calls)


def test_concurrent_identical_checks_share_one_scrypt_and_one_attempt(
    app: Any, project: ProjectKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An SDK's threads starting cold with one key: not 8 scrypts, and not 8 attempts that
    # would fill the address's budget and refuse some of them.
    auth.verify_secret("warm", None)
    counter = Scrypts(delay=0.3)
    monkeypatch.setattr(hashlib, "scrypt", counter)
    authenticator = app.state.authenticator
    client_id, secret = project.auth("editor")
    results = run_together(*[lambda: authenticator.authenticate(client_id, secret, "10.7.0.1")] * 8)
    assert len(counter.calls) == 1
    assert len(results) == 8 and all(r is not None and r.role == "editor" for r in results)


def test_the_ui_sign_in_form_shares_the_limit(
    app: Any, project: ProjectKeys, scrypts: Scrypts
) -> None:
    client_id, secret = project.auth("viewer")
    with client_from(app, "10.8.0.1") as c:
        page = c.get("/ui/signin")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)

        def sign_in(secret_: str) -> Any:
            form = {"csrf": csrf, "client_id": client_id, "client_secret": secret_}
            return c.post("/ui/signin", data=form)

        assert sign_in("wrong-1").status_code == 403
        for i in range(LIMIT - 1):  # the API's failures count against the same address
            assert labels(c, project, (f"lp_x{i}", "x")).status_code == 401
        before = len(scrypts.calls)
        refused = sign_in(secret)
        assert refused.status_code == 429 and refused.headers["Retry-After"] == "60"
        assert "too many failed sign-ins" in refused.text
        assert len(scrypts.calls) == before
    with client_from(app, "10.8.0.2") as other:
        page = other.get("/ui/signin")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        form = {"csrf": csrf, "client_id": client_id, "client_secret": secret}
        assert other.post("/ui/signin", data=form).status_code == 303


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    default = FailureLimiter.from_environment()
    assert (default.max_failures, default.window) == (10, 60.0)
    monkeypatch.setenv(auth.MAX_FAILURES_ENV, "5")
    monkeypatch.setenv(auth.FAILURE_WINDOW_ENV, "300")
    set_ = FailureLimiter.from_environment()
    assert (set_.max_failures, set_.window) == (5, 300.0)
    monkeypatch.setenv(auth.FAILURE_WINDOW_ENV, "0")
    with pytest.raises(ValueError, match="more than 0"):
        FailureLimiter.from_environment()
    monkeypatch.setenv(auth.FAILURE_WINDOW_ENV, "60")
    monkeypatch.setenv(auth.MAX_FAILURES_ENV, "0")  # 0 turns the limit off
    off = FailureLimiter.from_environment()
    keys = off.keys_for("lp_a", "10.9.0.1")
    for _ in range(50):
        off.begin(keys)
        off.end(keys, failed=True)


def test_the_memory_of_failures_is_bounded() -> None:
    clock = FakeClock()
    limiter = FailureLimiter(2, WINDOW, clock=clock, max_keys=100)
    for i in range(1000):
        keys = limiter.keys_for(f"lp_{i}" * 1000, "10.10.0.1")  # kept hashed, not as sent
        try:
            limiter.begin(keys)
            limiter.end(keys, failed=True)
        except auth.TooManyFailures:
            pass
    assert len(limiter._keys) <= 100
    assert all(len(k) == 32 for k in limiter._keys)


def test_one_limiter_per_service_even_one_without_weak_references() -> None:
    # An app built only for its OpenAPI schema has no Service; it must still be built.
    assert auth.limiter_for(None) is auth.limiter_for(None)
    assert create_app(None).state.authenticator.limiter is auth.limiter_for(None)
