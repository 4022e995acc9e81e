"""Attribute groups as the checks need them, and the check of one value against its group."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any, Literal

import msgspec

AttributeKind = Literal[
    "select", "multiple_select", "radio", "text", "slider", "date", "time", "tree"
]


class AttributeGroup(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    kind: AttributeKind
    options: frozenset[int] = frozenset()  # option ids (select, multiple_select, radio, tree)
    label_ids: frozenset[int] = frozenset()  # the labels it applies to; empty = all
    min: float | None = None  # slider range
    max: float | None = None


class AttributeSchema(msgspec.Struct, frozen=True):
    groups: dict[int, AttributeGroup]

    @classmethod
    def of(cls, groups: list[AttributeGroup]) -> AttributeSchema:
        return cls({g.id: g for g in groups})


def _option_id(value: Any) -> int | None:
    """An option is given as its id or as an option object {"id": ..., ...}."""
    if isinstance(value, dict):
        value = value.get("id")
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def _option_problem(group: AttributeGroup, value: Any) -> str | None:
    option = _option_id(value)
    if option is None:
        return "expected an option id or an option object with an integer `id`"
    if group.options and option not in group.options:
        return f"option {option} is not an option of attribute group {group.id}"
    return None


def value_problem(group: AttributeGroup, value: Any) -> str | None:
    """Why `value` does not fit `group`, in plain words; None when it fits."""
    kind = group.kind
    if kind in ("select", "radio"):
        return _option_problem(group, value)
    if kind == "multiple_select":
        if not isinstance(value, list):
            return "expected a list of options for a multiple_select group"
        for item in value:
            problem = _option_problem(group, item)
            if problem:
                return problem
        return None
    if kind == "text":
        return None if isinstance(value, str) else "expected a string for a text group"
    if kind == "slider":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "expected a number for a slider group"
        if not math.isfinite(value):
            return "expected a finite number for a slider group"
        if group.min is not None and value < group.min:
            return f"{value} is below the slider's minimum {group.min}"
        if group.max is not None and value > group.max:
            return f"{value} is above the slider's maximum {group.max}"
        return None
    if kind in ("date", "time"):
        parse = dt.date.fromisoformat if kind == "date" else dt.time.fromisoformat
        if not isinstance(value, str):
            return f"expected an ISO {kind} string"
        try:
            parse(value)
        except ValueError:
            return f"expected an ISO {kind} string (e.g. 2024-05-31 or 13:45:00)"
        return None
    if kind == "tree":
        return None if isinstance(value, dict) else "expected an object (nested map) for a tree"
    return f"unknown attribute kind {kind}"
