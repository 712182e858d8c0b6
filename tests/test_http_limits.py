"""HTTP limits of the daemon (cli/http_limits.py), against a real daemon through raw sockets:
an oversized request head gets 431 at once, and slow heads and bodies are cut off."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.servers import DaemonProcess


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    tmp: Path = tmp_path_factory.mktemp("limits")
    proc = DaemonProcess(
        data_dir=tmp / "data",
        log=tmp / "daemon.log",
        env={"TFTMON_HTTP_HEAD_TIMEOUT_S": "1", "TFTMON_HTTP_BODY_TIMEOUT_S": "1"},
    )
    proc.start()
    yield proc
    proc.kill()


def _connect(daemon: DaemonProcess) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", daemon.port), timeout=10)
    sock.settimeout(10)
    return sock


def _read_all(sock: socket.socket) -> bytes:
    """Everything until the daemon closes the connection."""
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except ConnectionResetError:
        pass
    return b"".join(chunks)


def test_an_oversized_head_gets_431_and_others_are_served(daemon: DaemonProcess) -> None:
    sock = _connect(daemon)
    started = time.monotonic()
    sender_done = threading.Event()

    def send_huge_header() -> None:  # 32 MiB of one header, as fast as the socket takes it
        try:
            sock.sendall(b"GET /health HTTP/1.1\r\nhost: x\r\nx-big: ")
            block = b"a" * (1 << 20)
            for _ in range(32):
                sock.sendall(block)
        except OSError:
            pass  # the daemon closed the connection: expected
        finally:
            sender_done.set()

    sender = threading.Thread(target=send_huge_header, daemon=True)
    sender.start()
    try:
        health = httpx.get(f"{daemon.url}/health", timeout=5)  # not stalled meanwhile
        assert health.status_code == 200
        answer = _read_all(sock)
        assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
        assert time.monotonic() - started < 5
        assert sender_done.wait(10)
    finally:
        sock.close()
    assert "refused a request head over 65536 bytes" in daemon.log.read_text()


def test_a_head_sent_too_slowly_is_cut_off(daemon: DaemonProcess) -> None:
    sock = _connect(daemon)
    started = time.monotonic()
    try:
        sock.sendall(b"GET /health HTTP/1.1\r\n")
        closed = False
        for _ in range(40):  # one header byte every 0.1 s, for up to 4 s
            try:
                sock.sendall(b"x")
            except OSError:
                closed = True
                break
            time.sleep(0.1)
            sock.setblocking(False)
            try:
                closed = sock.recv(1024) == b""
            except BlockingIOError:
                pass
            except ConnectionResetError:
                closed = True
            sock.setblocking(True)
            if closed:
                break
        assert closed
        assert 0.9 < time.monotonic() - started < 3.5
    finally:
        sock.close()


def test_a_body_sent_too_slowly_is_cut_off(daemon: DaemonProcess) -> None:
    sock = _connect(daemon)
    try:
        sock.sendall(
            b"POST /feed HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            b"content-length: 1000\r\nx-api-key: "
            + daemon.client().headers["X-API-Key"].encode()
            + b"\r\n\r\n[{"
        )
        started = time.monotonic()
        _read_all(sock)  # no answer is owed: the connection is closed
        assert 0.9 < time.monotonic() - started < 3.5
    finally:
        sock.close()
    with daemon.client() as http:  # the daemon goes on serving
        assert http.get("/status").status_code == 200


def test_an_answer_before_the_body_closes_the_connection(daemon: DaemonProcess) -> None:
    """A request refused before its body came (401 here) gets its answer, then the
    connection closes: a body sent after it is neither read as a next head nor left
    holding the connection with no timer running."""
    sock = _connect(daemon)
    sock.sendall(b"POST /feed HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\n")
    answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    started = time.monotonic()
    try:
        sock.sendall(b"0123456789")  # the body, after the answer
        rest = _read_all(sock)  # until the daemon closes; a timeout fails the test
    except (BrokenPipeError, ConnectionResetError):
        rest = b""
    assert b" 431 " not in rest
    assert time.monotonic() - started < 5
    sock.close()
