"""Account passwords: scrypt with a salt per account and its parameters in the stored hash; an
unknown or disabled account, or a bad stored hash, costs exactly the scrypt of a wrong password."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from labelport import auth
from labelport.accounts import Accounts
from labelport.errors import Invalid
from labelport.service import Service


class Scrypts:
    def __init__(self) -> None:
        self.calls: list[tuple[int, int, int]] = []
        self._real = hashlib.scrypt

    def __call__(self, password: bytes, **kwargs: Any) -> bytes:
        self.calls.append((kwargs["n"], kwargs["r"], kwargs["p"]))
        return self._real(password, **kwargs)

    def during(self, action: Any) -> list[tuple[int, int, int]]:
        before = len(self.calls)
        action()
        return self.calls[before:]


@pytest.fixture
def scrypts(monkeypatch: pytest.MonkeyPatch) -> Scrypts:
    counter = Scrypts()
    monkeypatch.setattr(hashlib, "scrypt", counter)
    return counter


def test_the_hash_carries_its_parameters_and_a_salt_of_its_own() -> None:
    first, second = auth.hash_password("same password"), auth.hash_password("same password")
    assert first != second  # salted
    scheme, n, r, p, salt, digest = first.split("$")
    assert len(salt) == 24 and len(digest) == 44  # 16 and 32 bytes, base64
    assert (scheme, n, r, p) == ("scrypt", "32768", "8", "1")
    assert auth.verify_password("same password", first)
    assert not auth.verify_password("same passworD", first)
    # Other parameters stay readable: raising them later breaks no stored password.
    cheaper = auth.hash_password("old one", n=2**10, r=4, p=1)
    assert cheaper.startswith("scrypt$1024$4$1$") and auth.verify_password("old one", cheaper)


def test_unknown_and_unreadable_cost_what_a_wrong_password_costs(scrypts: Scrypts) -> None:
    stored = auth.hash_password("right password")
    auth.verify_password("warm up", None)  # the dummy hash is made once per process
    wrong = scrypts.during(lambda: auth.verify_password("wrong password", stored))
    assert wrong == [(2**15, 8, 1)]
    tampered = "scrypt$1073741824$64$64$AAAA$AAAA"  # would ask for terabytes: not believed
    for bad in (None, "", "scrypt$x$y$z$a$b", "scrypt$3$8$1$AAAA$AAAA", tampered):
        assert scrypts.during(lambda b=bad: auth.verify_password("x", b)) == wrong, bad
        assert auth.verify_password("x", bad) is False
    # A password too long to be one is hashed only up to the limit, and refused.
    huge = "y" * (auth.MAX_PASSWORD * 1000)
    assert scrypts.during(lambda: auth.verify_password(huge, stored)) == wrong


def test_accounts_check_every_password_with_the_same_work(tmp_path: Path, scrypts: Scrypts) -> None:
    with Service.open(data_dir=tmp_path / "data", workers=0) as service:
        accounts = Accounts(service.store)
        accounts.create("on@example.com", "password one")
        accounts.create("off@example.com", "password two")
        accounts.set_disabled("off@example.com", True)
        accounts.authenticate("warm@example.com", "x")
        costs = [
            scrypts.during(lambda e=email, p=password: accounts.authenticate(e, p))
            for email, password in (
                ("on@example.com", "wrong"),  # a wrong password
                ("ghost@example.com", "password one"),  # no such account
                ("off@example.com", "password two"),  # disabled, right password
                ("x" * 5000 + "@example.com", "password one"),  # not even an email
            )
        ]
        assert all(cost == costs[0] for cost in costs), costs
        assert accounts.authenticate("ON@example.com", "password one") is not None
        assert accounts.authenticate("off@example.com", "password two") is None
        for password in ("short", " " * 12, "z" * (auth.MAX_PASSWORD + 1)):
            with pytest.raises(Invalid):
                accounts.create("new@example.com", password)
