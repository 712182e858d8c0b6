"""Split a JSON array (or an object's members) into its items' byte spans without parsing them.

For bodies a JSON parser refuses as a whole for something inside one record (nesting deeper
than the parser's limit, an integer too long to convert): each item is then parsed on its
own, so one such record does not lose the batch. Only the structure is read here (strings,
brackets, commas); whether each item is JSON is left to the parser.
"""

from __future__ import annotations

import re
from typing import Final

from tftmon.errors import MalformedBodyError

# a string (escapes skipped), a run of openers, a run of closers, a comma, or a quote that
# opens no whole string: matched alone, so a string that never closes is refused at once
# (without it, finditer retried from every later quote: quadratic, holding the GIL)
_TOKEN: Final = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[{]+|[\]}]+|,|"', re.DOTALL)
_SPACE: Final = b" \t\r\n"
_KEY: Final = re.compile(rb'\s*("[^"\\]*(?:\\.[^"\\]*)*")\s*:', re.DOTALL)


def _malformed(why: str) -> MalformedBodyError:
    return MalformedBodyError(f"body is not valid JSON: {why}", code="malformed_json")


def container_items(body: bytes, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """The ``(start, end)`` spans of the items of the array or object in ``body[start:end]``.

    Only whitespace may surround the container. An object's items are its ``"key": value``
    members; ``[]`` and ``{}`` have none.

    Raises:
        MalformedBodyError: not one bracketed container, or one that does not close.
    """
    end = len(body) if end is None else end
    while start < end and body[start] in _SPACE:
        start += 1
    if start >= end or body[start] not in b"[{":
        raise _malformed("expected an array or an object")
    depth = 0
    items: list[tuple[int, int]] = []
    item_start = start + 1
    for match in _TOKEN.finditer(body, start, end):
        token = match.group()
        if token == b'"':
            raise _malformed("a string does not close")
        first = token[0]
        if first in b"[{":
            depth += len(token)
        elif first in b"]}":
            if len(token) >= depth:  # the container closes inside this run
                close = match.start() + depth - 1
                if body[close + 1 : end].strip(_SPACE):
                    raise _malformed("something follows the end of the body's container")
                if items or body[item_start:close].strip(_SPACE):
                    items.append((item_start, close))
                return items
            depth -= len(token)
        elif first == ord(",") and depth == 1:
            items.append((item_start, match.start()))
            item_start = match.end()
    raise _malformed("the body's array or object does not close")


def object_members(body: bytes, start: int, end: int) -> dict[bytes, tuple[int, int]]:
    """The members of the object in ``body[start:end]``: raw key text (with its quotes)
    -> the span of its value.

    Raises:
        MalformedBodyError: not an object, or a member without a string key.
    """
    members: dict[bytes, tuple[int, int]] = {}
    for item_start, item_end in container_items(body, start, end):
        key = _KEY.match(body, item_start, item_end)
        if key is None:
            raise _malformed("an object member without a string key")
        members[key.group(1)] = (key.end(), item_end)
    return members
