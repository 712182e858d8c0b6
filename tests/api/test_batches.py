"""``api/batches.read_body``: the byte limit, and a sender that leaves mid-body."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.requests import Request

from tftmon.api.batches import read_body
from tftmon.errors import MalformedBodyError, PayloadTooLargeError


def _request(*messages: dict[str, Any], length: int | None = None) -> Request:
    queue = list(messages)

    async def receive() -> dict[str, Any]:
        return queue.pop(0)

    headers = [] if length is None else [(b"content-length", str(length).encode())]
    return Request({"type": "http", "method": "POST", "headers": headers}, receive)


def test_a_sender_that_leaves_mid_body_is_an_ordinary_4xx() -> None:
    request = _request(
        {"type": "http.request", "body": b'[{"a":', "more_body": True},
        {"type": "http.disconnect"},
    )
    with pytest.raises(MalformedBodyError, match="disconnected after 6 bytes") as caught:
        asyncio.run(read_body(request, 1000))
    assert caught.value.code == "incomplete_body"


def test_the_limit_is_checked_on_the_header_and_while_streaming() -> None:
    with pytest.raises(PayloadTooLargeError, match="2000 bytes"):
        asyncio.run(read_body(_request(length=2000), 1000))
    chunks = [{"type": "http.request", "body": b"x" * 600, "more_body": True}] * 2
    with pytest.raises(PayloadTooLargeError, match="split the batch"):
        asyncio.run(read_body(_request(*chunks), 1000))
    whole = _request({"type": "http.request", "body": b"[]", "more_body": False})
    assert asyncio.run(read_body(whole, 1000)) == b"[]"
