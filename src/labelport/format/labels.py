"""The project's labels as the checks need them: name -> id, and the set of ids."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping

import msgspec


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
