"""uvicorn's HTTP protocol with limits on what a client may hold: the request head's size and
the time to send it, and the time to send a body.

uvicorn (httptools) accepts a request head of any size, parsed in the event loop: a 128 MB
header stalled every client for half a minute. It also has no read timeout: a connection
that sends its head or body slowly, or never, is held for ever. This protocol answers 431
and closes once a head passes ``max_head_bytes``, and closes a connection whose head is not
complete ``head_timeout_s`` after it opened (or after its previous response), or whose body
is not complete ``body_timeout_s`` after its head. Without httptools, uvicorn's h11
protocol gets the size limit (``h11_max_incomplete_event_size``) but no timeouts.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

logger = logging.getLogger(__name__)

_431_BODY = b"request head too large\n"
_431 = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(_431_BODY), _431_BODY)
)


def limited_protocol(
    *, max_head_bytes: int, head_timeout_s: float, body_timeout_s: float
) -> type[asyncio.Protocol] | None:
    """The httptools protocol class with these limits (None: httptools is not installed)."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:
        return None

    class LimitedHttpToolsProtocol(HttpToolsProtocol):
        """``HttpToolsProtocol`` with a head size cap and head and body deadlines."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._head_bytes = 0
            self._head_done = False
            self._in_body = False  # the request's head came, its body is still coming
            self._deadline: asyncio.TimerHandle | None = None

        def _arm(self, seconds: float, what: str) -> None:
            self._disarm()
            self._deadline = self.loop.call_later(seconds, self._expired, what)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _expired(self, what: str) -> None:
            self._deadline = None
            if not self.transport.is_closing():
                logger.warning("closed a connection from %s: %s", self.client, what)
                self.transport.close()

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm(head_timeout_s, f"request head not sent within {head_timeout_s:g} s")

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if not self._head_done:
                self._head_bytes += len(data)
            super().data_received(data)
            too_large = not self._head_done and self._head_bytes > max_head_bytes
            if too_large and not self.transport.is_closing():
                logger.warning(
                    "refused a request head over %d bytes from %s", max_head_bytes, self.client
                )
                self.transport.write(_431)
                self.transport.close()

        def on_headers_complete(self) -> None:
            self._head_done = True
            self._in_body = True
            self._arm(body_timeout_s, f"request body not sent within {body_timeout_s:g} s")
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            self._in_body = False
            self._disarm()
            super().on_message_complete()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if self._in_body and not self.transport.is_closing():
                # answered before the request's body came in (a 401, 413 or 429 refuses
                # early): what is left of the body would be read as the next head and no
                # timer would run; close once the answer is out, as h11 does
                self._disarm()
                self.transport.close()
                return
            self._head_done = False
            self._head_bytes = 0
            if not self.transport.is_closing():
                self._arm(head_timeout_s, f"no next request within {head_timeout_s:g} s")

    return LimitedHttpToolsProtocol
