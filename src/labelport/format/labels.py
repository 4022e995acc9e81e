"""The project's labels as the checks need them: name -> id, and the set of ids."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from labelport.format.instances import TEXT_MAX
from labelport.format.problems import (
    Report,
    invalid_text_message,
    is_text,
    show,
    too_long_message,
)


class LabelIndex(msgspec.Struct, frozen=True):
    names: dict[str, int]
    ids: frozenset[int]

    @classmethod
    def from_mapping(cls, name_to_id: Mapping[str, int]) -> LabelIndex:
        return cls(dict(name_to_id), frozenset(name_to_id.values()))

    @classmethod
    def from_names(cls, names: Iterable[str]) -> LabelIndex:
        """For offline checks (`labelport check --labels`): ids are positions, 1-based."""
        return cls.from_mapping({name: i for i, name in enumerate(names, 1)})

    def suggest(self, name: str) -> str | None:
        """The closest label name to a near miss: a case-insensitive match first."""
        folded = name.casefold()
        for known in self.names:
            if known.casefold() == folded:
                return known
        close = difflib.get_close_matches(name, list(self.names), n=1, cutoff=0.6)
        return close[0] if close else None


def label_id_of(instance: Any, ids_by_name: Mapping[str, int]) -> int | None:
    """The id of an instance's label: its `label_file_id`, which wins over `name`, else the id
    of its name (None for an unknown name and for an instance without a label)."""
    if instance.label_file_id is not None:
        return int(instance.label_file_id)
    if instance.name is None:
        return None
    return ids_by_name.get(instance.name)


def check_label_names(names: Iterable[str], report: Report, prefix: str = "names") -> None:
    """The limits a packet's label names have, for names given elsewhere (the API, the CLI):
    a label made there must be one a packet can name."""
    for index, name in enumerate(names):
        path = f"{prefix}/{index}"
        if not is_text(name):
            report.problem("value.invalid_text", path, invalid_text_message(path))
        elif not name.strip():
            report.problem("label.missing", path, f"{show(name)} is blank: a label needs a name")
        elif len(name) > TEXT_MAX:
            report.problem("value.too_long", path, too_long_message(path, name, TEXT_MAX))
