"""The seed walkthrough's ("Importing Instances Walkthrough", seeds/000) mock functions as the seed
shows them, shared by the tests that run it: the format (tests/format/test_seeds.py), the diffgram
SDK against `labelport serve` (tests/api) and labelport's SDK (tests/sdk). `labelport.demo` keeps
its own copy: the package cannot import from tests/.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any


def mock_box_from_external_format(
    sequence_number: int | None = None, name: Any = None
) -> dict[str, Any]:
    return {
        "name": name,
        "number": sequence_number,
        "type": "box",
        "x_max": random.randint(500, 800),
        "x_min": random.randint(400, 499),
        "y_max": random.randint(500, 800),
        "y_min": random.randint(400, 499),
    }


def mock_frame_packet_map(
    number_of_frames: int, number_of_sequences: int = 1, names: Sequence[Any] = ("cat", "another")
) -> dict[int, list[dict[str, Any]]]:
    """Each frame: a box per sequence number (1..number_of_sequences) per name."""
    return {
        i: [
            mock_box_from_external_format(sequence_number=j, name=name)
            for j in range(1, number_of_sequences + 1)
            for name in names
        ]
        for i in range(number_of_frames)
    }
