"""Property-based tests of ``POST /feed``: whatever the body, never a 5xx, always the documented
shape, and every record reported stored is in the store.

Bodies are JSON text built by hand, so they can hold what ``json.dumps`` will not write
alone: ``NaN``/``Infinity`` literals, lone surrogates (``"\\ud800"``), integers too long to
read, and nesting past the parsers' limit. Bounded and derandomized, so CI sees the same
examples every run.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.conftest import iso
from tftmon.schemas import METRICS, STATES, ErrorResponse, FeedResponse
from tftmon.serving.ingest import parse_body

FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
# placeholders swapped into the JSON text after json.dumps
DEEP, BIG_INT = "__deep__", "__big_int__"
NOW = datetime.now(UTC)

weird_text = st.text(
    st.characters(codec=None) | st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),
    max_size=20,
)
numbers = (
    st.floats(allow_nan=True, allow_infinity=True)
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.sampled_from([0, 100, 100.0001, 200, 200.5, 1e6, 1e7, 3.5e38, 1e308, -0.0, 5e-324])
)
json_scalar = st.none() | st.booleans() | numbers | weird_text
json_value = st.recursive(
    json_scalar,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(weird_text, inner, max_size=3),
    max_leaves=8,
)
recent = st.integers(0, 600).map(lambda s: iso(NOW - timedelta(seconds=s)))
odd_timestamps = (
    st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ).map(iso)
    | st.sampled_from(
        [
            "0001-01-01T00:03:00+00:04",
            "9999-12-31T23:59:59-23:59",
            "1969-12-31T23:59:59Z",
            "1700000000",
            "2026-02-30T00:00:00Z",
            "",
        ]
    )
    | numbers
    | json_value
)
# a few shared names (merges, duplicates, late records) and many fresh ones
names = st.sampled_from(["ppweb001", "a", "b.c:d-e_f"]) | st.integers(0, 10**9).map(
    lambda i: f"srv{i}"
)
odd_values = numbers | json_value


def rarely(n: int) -> st.SearchStrategy[bool]:
    """True about once in ``n`` draws (the shrinker's ``False`` first)."""
    return st.sampled_from([False] * (n - 1) + [True])


@st.composite
def records(draw: st.DrawFn) -> Any:
    if draw(rarely(10)):
        return draw(json_value)  # not a record at all
    record: dict[str, Any] = {}
    if not draw(rarely(10)):
        record["timestamp"] = draw(odd_timestamps if draw(rarely(4)) else recent)
    if not draw(rarely(10)):
        record["server_name"] = draw(weird_text if draw(rarely(4)) else names)
    for metric in METRICS:
        if draw(st.booleans()):
            record[metric] = draw(odd_values if draw(rarely(4)) else st.floats(0, 100))
    if draw(rarely(4)):
        record["state"] = draw(st.sampled_from(STATES) | weird_text)
    if draw(rarely(4)):
        record["profile"] = draw(st.sampled_from(["database", "Bad Profile"]) | weird_text)
    if draw(rarely(3)):  # fields of the source document, ignored (or unreadable)
        extra = json_value | st.sampled_from([DEEP, BIG_INT])
        record.update(draw(st.dictionaries(weird_text, extra, min_size=1, max_size=2)))
    return record


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    batch = draw(st.lists(records(), min_size=0 if draw(rarely(10)) else 1, max_size=8))
    shape = draw(st.sampled_from(["list", "list", "object", "other"]))
    other = json_value | st.sampled_from([DEEP, BIG_INT])
    data: Any = {"list": batch, "object": {"records": batch}, "other": draw(other)}[shape]
    text = json.dumps(data, allow_nan=True)  # lone surrogates come out as \udXXX escapes
    depth = draw(st.sampled_from([2, 900, 1100, 5000]))
    text = text.replace(f'"{DEEP}"', "[" * depth + "]" * depth)
    text = text.replace(f'"{BIG_INT}"', "9" * 5000)
    if draw(rarely(20)):  # cut short: not JSON
        text = text[: draw(st.integers(0, len(text)))]
    return text.encode()


@FUZZ
@given(body=bodies())
def test_feed_never_fails_on_a_clients_data(client: TestClient, body: bytes) -> None:
    fleet = client.app.state.tftmon.fleet  # type: ignore[attr-defined]
    before = fleet.history.count_samples()
    r = client.post("/feed", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code < 500, r.text
    event(f"HTTP {r.status_code}")
    stored = fleet.history.count_samples() - before
    if r.status_code != 200:
        error = ErrorResponse.model_validate(r.json())
        assert error.code in {"malformed_json", "invalid_body", "no_valid_records"}, r.text
        assert stored == 0
        return
    answer = FeedResponse.model_validate(r.json())
    items = parse_body(body, max_batch=10_000)  # 200: the body was a batch
    refused = [x.index for x in answer.rejected]
    assert refused == sorted(set(refused))
    assert answer.accepted + answer.duplicates + answer.merged + len(refused) == len(items)
    assert stored == answer.accepted  # every record reported stored is stored
    event("some record stored" if stored else "nothing stored")
    for index in set(range(len(items))) - set(refused):  # stored, or already
        assert items[index]["server_name"] in fleet.names
