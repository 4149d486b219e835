"""A plan's edits read from a client's JSON: every field checked, every problem named (field, Chinese, English)."""

from __future__ import annotations

import math

import pytest

from planner.errors import PlannerError
from planner.io.categories import load_taxonomy
from planner.whatif import AddFacility, EditError, Edits, MoveFacility

BOUNDS = (120.0, 32.0, 121.0, 33.0)
IDS = {"F1", "F2", "F3"}


def _parse(data, **kw):
    return Edits.from_json(data, taxonomy=load_taxonomy(), bounds=BOUNDS, ids=IDS, **kw)


def test_a_valid_plan_is_read() -> None:
    e = _parse({
        "add": [{"category": "childcare", "lon": 120.5, "lat": 32.5, "name": " 新托育 ", "places": 80, "public_benefit": True}],
        "move": [{"id": "F1", "lon": 120.1, "lat": 32.1}],
        "remove": ["F2"],
    })
    assert e.add == (AddFacility("childcare", 120.5, 32.5, "新托育", 80.0, None, True),)
    assert e.move == (MoveFacility("F1", 120.1, 32.1),)
    assert e.remove == ("F2",)
    assert Edits.from_json(e.to_json(), taxonomy=load_taxonomy(), bounds=BOUNDS, ids=IDS) == e
    assert not Edits() and e


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ([], "body", "object"),
        ({"add": {}}, "add", "must be a list"),
        ({"delete": []}, "delete", "unknown field"),
        ({"add": [{"lon": 120.5, "lat": 32.5}]}, "add[0].category", "missing"),
        ({"add": [{"category": "spaceport", "lon": 120.5, "lat": 32.5}]}, "add[0].category", "unknown category"),
        ({"add": [{"category": "childcare", "lon": "120.5", "lat": 32.5}]}, "add[0].lon", "finite number"),
        ({"add": [{"category": "childcare", "lon": math.nan, "lat": 32.5}]}, "add[0].lon", "finite number"),
        ({"add": [{"category": "childcare", "lon": True, "lat": 32.5}]}, "add[0].lon", "finite number"),
        ({"add": [{"category": "childcare", "lon": 200, "lat": 32.5}]}, "add[0].lon", "outside -180–180"),
        ({"add": [{"category": "childcare", "lon": 119.5, "lat": 32.5}]}, "add[0]", "outside the study area"),
        ({"add": [{"category": "childcare", "lon": 120.5, "lat": 32.5, "places": -1}]}, "add[0].places", "outside 0–100000"),
        ({"add": [{"category": "childcare", "lon": 120.5, "lat": 32.5, "beds": math.inf}]}, "add[0].beds", "finite number"),
        ({"add": [{"category": "childcare", "lon": 120.5, "lat": 32.5, "public_benefit": "yes"}]}, "add[0].public_benefit", "true, false"),
        ({"add": [{"category": "childcare", "lon": 120.5, "lat": 32.5, "name": "x" * 201}]}, "add[0].name", "at most 200"),
        ({"add": [{"category": "childcare", "lon": 120.5, "lat": 32.5, "path": "/etc/passwd"}]}, "add[0].path", "unknown field"),
        ({"move": [{"id": "F9", "lon": 120.5, "lat": 32.5}]}, "move[0].id", "no facility has the id 'F9'"),
        ({"move": [{"id": 7, "lon": 120.5, "lat": 32.5}]}, "move[0].id", "must be the id"),
        ({"remove": ["F1", "F1"]}, "remove[1]", "already removed"),
        ({"move": [{"id": "F1", "lon": 120.5, "lat": 32.5}], "remove": ["F1"]}, "remove[0]", "already moved"),
        ({"remove": ["F1"] * 1001}, "remove", "at most 1000"),
    ],
)
def test_each_bad_field_is_named(data, field: str, words: str) -> None:
    with pytest.raises(EditError) as err:
        _parse(data)
    assert isinstance(err.value, PlannerError)
    fields = [f for f, _, _ in err.value.problems]
    assert field in fields
    text = str(err.value)
    assert text.startswith("编辑无效：") and " / invalid edits: " in text  # Chinese first, then English
    assert words in text


def test_every_problem_is_listed_at_once() -> None:
    with pytest.raises(EditError) as err:
        _parse({"add": [{"category": "x", "lon": 0, "lat": 0}, {"category": "childcare", "lon": 120.5}], "remove": ["nope"]})
    assert [f for f, _, _ in err.value.problems] == ["add[0].category", "add[1].lat", "remove[0]"]


def test_a_category_the_run_does_not_analyse_is_refused() -> None:
    with pytest.raises(EditError, match="not analysed"):
        _parse({"add": [{"category": "childcare", "lon": 120.5, "lat": 32.5}]}, categories=("convenience",))


def test_added_facilities_may_carry_stable_ids() -> None:
    """A caller (planner serve) may give additions ids NEW-<n>; anything else, or the same id twice, is refused."""
    from planner.io.categories import load_taxonomy
    from planner.whatif.edits import EditError, Edits

    tax, bounds = load_taxonomy(), (120.0, 31.0, 121.0, 32.5)
    item = {"category": "elderly_station", "lon": 120.5, "lat": 32.0}
    edits = Edits.from_json({"add": [{**item, "id": "NEW-7"}, item]}, taxonomy=tax, bounds=bounds)
    assert [a.id for a in edits.add] == ["NEW-7", None]
    for bad in ("SS001", "NEW-0", "new-1", "NEW-1x", 3):
        with pytest.raises(EditError, match=r"add\[0\]\.id"):
            Edits.from_json({"add": [{**item, "id": bad}]}, taxonomy=tax, bounds=bounds)
    with pytest.raises(EditError, match=r"add\[1\]\.id"):
        Edits.from_json({"add": [{**item, "id": "NEW-2"}, {**item, "id": "NEW-2"}]}, taxonomy=tax, bounds=bounds)
