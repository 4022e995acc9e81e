"""format/problem_groups: problems grouped by code and message shape, table-tested."""

from __future__ import annotations

import pytest

from labelport.format import Problem
from labelport.format.problem_groups import group_lines, group_problems, shape


def p(code: str, path: str, message: str) -> dict[str, str]:
    return {"code": code, "path": path, "message": message}


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("label 'car' is not in the project", "label 'car' is not in the project"),
        ("x_max 1300 is outside the image width 1280", "x_max # is outside the image width #"),
        ("score -0.5 is not in [0, 1]", "score # is not in [#, #]"),
        ('label "car2" is unknown', 'label "car2" is unknown'),
        ("frame 1e3 is past 99.5", "frame # is past #"),
        ("", ""),
    ],
)
def test_shape(message: str, expected: str) -> None:
    assert shape(message) == expected


CASES = [
    # (problems, counts_by_code, expected [(code, count, first message, example paths, unlisted)])
    ([], None, []),
    (
        [p("label.unknown", f"instance_list/{k}/name", "label 'car' is not in the project")
         for k in range(162)],
        None,
        [("label.unknown", 162, "label 'car' is not in the project",
          ["instance_list/0/name", "instance_list/1/name", "instance_list/2/name"], False)],
    ),
    (
        [
            p("label.unknown", "a/0", "label 'car' is not in the project"),
            p("label.unknown", "a/1", "label 'bus' is not in the project"),
            p("label.unknown", "a/2", "label 'car' is not in the project"),
        ],
        None,
        [
            ("label.unknown", 2, "label 'car' is not in the project", ["a/0", "a/2"], False),
            ("label.unknown", 1, "label 'bus' is not in the project", ["a/1"], False),
        ],
    ),
    (
        [
            p("box.out_of_bounds", "f/1/0/x_max", "x_max 1300 is outside the image width 1280"),
            p("geometry.invalid", "f/2/0/points", "a polygon needs 3 points, not 2"),
            p("box.out_of_bounds", "f/3/0/x_max", "x_max 1400 is outside the image width 1280"),
        ],
        None,
        [
            ("box.out_of_bounds", 2, "x_max 1300 is outside the image width 1280",
             ["f/1/0/x_max", "f/3/0/x_max"], False),
            ("geometry.invalid", 1, "a polygon needs 3 points, not 2", ["f/2/0/points"], False),
        ],
    ),
    (  # a capped list: the rest of each code is counted
        [p("label.unknown", "a/0", "label 'car' is not in the project")],
        {"label.unknown": 5, "geometry.invalid": 2},
        [
            ("label.unknown", 1, "label 'car' is not in the project", ["a/0"], False),
            ("label.unknown", 4, "more problems, not listed", [], True),
            ("geometry.invalid", 2, "more problems, not listed", [], True),
        ],
    ),
    (  # counts no larger than the list add nothing
        [p("x", "a", "m")], {"x": 1}, [("x", 1, "m", ["a"], False)],
    ),
]  # fmt: skip


@pytest.mark.parametrize(("problems", "counts", "expected"), CASES)
def test_group_problems(problems, counts, expected) -> None:
    got = [
        (g.code, g.count, g.message, [e.path for e in g.examples], g.unlisted)
        for g in group_problems(problems, counts)
    ]
    assert got == expected


def test_objects_work_like_dicts_and_examples_are_capped() -> None:
    problems = [Problem("label.unknown", f"i/{k}", "label 'car' is not in the project")
                for k in range(10)]  # fmt: skip
    (group,) = group_problems(problems, examples=2)
    assert group.count == 10 and [e.path for e in group.examples] == ["i/0", "i/1"]
    assert group.to_dict()["examples"][0] == {"path": "i/0", "message": problems[0].message}


def test_group_lines_read_as_one_line_per_group_and_say_what_they_leave_out() -> None:
    problems = [p("label.unknown", f"i/{k}", f"label 'l{k % 60}' is not in the project")
                for k in range(600)]  # fmt: skip
    lines = group_lines(problems, limit=50)
    assert len(lines) == 51
    assert lines[0] == (
        "label.unknown  x10  label 'l0' is not in the project  (e.g. i/0, i/60, i/120, …)"
    )
    assert lines[-1] == "… 10 more groups (100 problems)"


def test_capped_keeps_every_problem_counted_and_dicts_round_trip() -> None:
    from labelport.format.problem_groups import capped, from_dicts

    problems = [p("label.unknown", f"i/{k}", f"label 'l{k}' is not in the project")
                for k in range(10)] + [p("geometry.invalid", "g", "bad")]  # fmt: skip
    groups = capped(group_problems(problems), 4)
    assert [(g.code, g.count, g.unlisted) for g in groups] == [
        ("label.unknown", 1, False), ("label.unknown", 1, False), ("label.unknown", 1, False),
        ("label.unknown", 1, False), ("label.unknown", 6, True), ("geometry.invalid", 1, True),
    ]  # fmt: skip
    assert sum(g.count for g in groups) == 11
    assert from_dicts([g.to_dict() for g in groups]) == groups
