"""``serving/json_split``: items of a body the JSON parser refuses as a whole."""

from __future__ import annotations

import time

import pytest

from tftmon.errors import MalformedBodyError
from tftmon.serving.json_split import container_items


def test_items_of_an_array_and_an_object() -> None:
    body = b' [ {"a": "x,]"}, [1, 2], 3 ] '
    assert [body[s:e].strip() for s, e in container_items(body)] == [
        b'{"a": "x,]"}',
        b"[1, 2]",
        b"3",
    ]
    assert container_items(b"[]") == []
    members = b'{"records": [1], "b": 2}'
    assert [members[s:e].strip() for s, e in container_items(members)] == [
        b'"records": [1]',
        b'"b": 2',
    ]


def test_a_string_that_never_closes_is_refused_in_linear_time() -> None:
    """A hostile body (an unclosed string of escaped quotes) used to take quadratic time
    with the GIL held: 60 KB took seconds, 1 MB half an hour."""
    deep = b"[" * 2000 + b"]" * 2000
    body = b"[" + deep + b',{"server_name":"' + b'\\"' * 30_000
    started = time.perf_counter()
    with pytest.raises(MalformedBodyError, match="does not close"):
        container_items(body)
    assert time.perf_counter() - started < 0.5
