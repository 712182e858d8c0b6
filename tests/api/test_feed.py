"""POST /feed: good batches, every kind of bad input, limits, duplicates and late records."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from tests.conftest import API_KEY, hours_ago, iso, make_settings, records
from tftmon.api import create_app
from tftmon.api.routes import feed as feed_route
from tftmon.schemas import ErrorResponse
from tftmon.settings import Settings

Response = httpx.Response


def good(server: str = "ppweb001", minutes_ago: float = 10, **metrics: float) -> dict:
    t = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    return {"timestamp": iso(t), "server_name": server, **(metrics or {"cpu_pct": 50.0})}


def test_accepts_a_list_and_reports_warmup(client: TestClient) -> None:
    batch = records(["ppweb001", "ppdb001"], hours_ago(1), 80)
    r = client.post("/feed", json=batch)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["accepted"] == 160
    assert body["duplicates"] == 0
    assert body["rejected"] == []
    assert body["servers_tracked"] == 2
    assert body["servers_ready"] == 2  # 40 min of 30-s samples close 7 steps of 5 min
    assert body["warmup_complete"] is True


def test_records_object_and_alias(client: TestClient) -> None:
    r = client.post("/feed/data", json={"records": [good()]})
    assert r.status_code == 200
    assert r.json()["accepted"] == 1


def test_resend_is_an_idempotent_duplicate(client: TestClient) -> None:
    batch = records(["ppweb001"], hours_ago(1), 20)
    assert client.post("/feed", json=batch).json()["accepted"] == 20
    again = client.post("/feed", json=batch).json()
    assert again["accepted"] == 0
    assert again["duplicates"] == 20
    inside = client.post("/feed", json=[batch[0], batch[0]]).json()
    assert inside["duplicates"] == 2


def test_metrics_may_be_absent(client: TestClient) -> None:
    r = client.post("/feed", json=[good(latency_ms=12.0), good("ppdb001", disk_io_mb_s=3.5)])
    assert r.json()["accepted"] == 2


BAD_RECORDS = [
    (
        {"timestamp": "2024-01-01T00:00:00Z", "server_name": "a", "cpu_pct": "50"},
        "cpu_pct",
        "bad_type",
    ),
    ({"server_name": "a", "cpu_pct": 1.0}, "timestamp", "missing"),
    ({"timestamp": "yesterday", "server_name": "a", "cpu_pct": 1.0}, "timestamp", "bad_timestamp"),
    (
        {"timestamp": "NOW", "server_name": "bad name!", "cpu_pct": 1.0},
        "server_name",
        "bad_server_name",
    ),
    (
        {"timestamp": "NOW", "server_name": "-lead", "cpu_pct": 1.0},
        "server_name",
        "bad_server_name",
    ),
    (
        {"timestamp": "NOW", "server_name": "a" * 129, "cpu_pct": 1.0},
        "server_name",
        "bad_server_name",
    ),
    ({"timestamp": "NOW", "cpu_pct": 1.0}, "server_name", "missing"),
    ({"timestamp": "NOW", "server_name": "a", "cpu_pct": 200.5}, "cpu_pct", "out_of_range"),
    ({"timestamp": "NOW", "server_name": "a", "mem_pct": 201}, "mem_pct", "out_of_range"),
    (
        {"timestamp": "NOW", "server_name": "a", "disk_io_mb_s": 1.5e6},
        "disk_io_mb_s",
        "out_of_range",
    ),
    ({"timestamp": "NOW", "server_name": "a", "latency_ms": 3.5e38}, "latency_ms", "out_of_range"),
    ({"timestamp": "NOW", "server_name": "a", "latency_ms": 1e300}, "latency_ms", "out_of_range"),
    (
        {"timestamp": "1969-12-31T23:59:59Z", "server_name": "a", "cpu_pct": 1.0},
        "timestamp",
        "out_of_range",
    ),
    ({"timestamp": -1, "server_name": "a", "cpu_pct": 1.0}, "timestamp", "out_of_range"),
    (
        {"timestamp": "0001-01-01T00:03:00+00:04", "server_name": "a", "cpu_pct": 1.0},
        "timestamp",
        "out_of_range",
    ),
    ({"timestamp": "1700000000", "server_name": "a", "cpu_pct": 1.0}, "timestamp", "bad_timestamp"),
    ({"timestamp": " 1.7e9 ", "server_name": "a", "cpu_pct": 1.0}, "timestamp", "bad_timestamp"),
    ({"timestamp": "NOW", "server_name": "a", "mem_pct": -0.1}, "mem_pct", "out_of_range"),
    ({"timestamp": "NOW", "server_name": "a", "disk_io_mb_s": -5}, "disk_io_mb_s", "out_of_range"),
    ({"timestamp": "NOW", "server_name": "a", "latency_ms": -1}, "latency_ms", "out_of_range"),
    ({"timestamp": "NOW", "server_name": "a", "cpu_pct": True}, "cpu_pct", "bad_type"),
    ({"timestamp": "NOW", "server_name": "a", "state": "healthy"}, "", "no_metric"),
    ({"timestamp": "NOW", "server_name": "a", "state": "on_fire"}, "state", "unknown_state"),
    ("not a record", "", "not_an_object"),
]


@pytest.mark.parametrize(("record", "field", "reason"), BAD_RECORDS)
def test_bad_record_is_reported_and_the_rest_stored(
    client: TestClient, record: object, field: str, reason: str
) -> None:
    if isinstance(record, dict) and record.get("timestamp") == "NOW":
        record = {**record, "timestamp": iso(datetime.now(UTC))}
    batch = [good("ppweb001", 20), record, good("ppweb002", 20)]
    r = client.post("/feed", json=batch)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["accepted"] == 2
    [rejected] = body["rejected"]
    assert rejected["index"] == 1
    assert [(e["field"], e["reason"]) for e in rejected["errors"]] == [(field, reason)]
    assert rejected["errors"][0]["message"]
    assert client.get("/health").status_code == 200


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_refused_per_record(client: TestClient, literal: str) -> None:
    now = iso(datetime.now(UTC) - timedelta(minutes=1))
    body = (
        f'[{{"timestamp": "{now}", "server_name": "a", "cpu_pct": {literal}}},'
        f' {{"timestamp": "{now}", "server_name": "b", "cpu_pct": 3}}]'
    )
    r = client.post("/feed", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 1
    [rej] = r.json()["rejected"]
    assert (rej["index"], rej["errors"][0]["field"], rej["errors"][0]["reason"]) == (
        0,
        "cpu_pct",
        "not_finite",
    )


def test_future_timestamp_is_refused(client: TestClient) -> None:
    r = client.post("/feed", json=[good(minutes_ago=-6), good("b", minutes_ago=-4)])
    body = r.json()
    assert body["accepted"] == 1
    assert body["rejected"][0]["index"] == 0
    assert body["rejected"][0]["errors"][0]["reason"] == "future"


def test_record_of_a_closed_bucket_is_late(client: TestClient) -> None:
    start = hours_ago(1)
    assert client.post("/feed", json=records(["a"], start, 40)).json()["accepted"] == 40
    old = {"timestamp": iso(start + timedelta(seconds=15)), "server_name": "a", "cpu_pct": 1.0}
    r = client.post("/feed", json=[old, good("a", minutes_ago=1)])
    body = r.json()
    assert body["accepted"] == 1
    assert body["rejected"][0]["errors"][0]["reason"] == "late"


def test_batch_with_nothing_valid_is_422(client: TestClient) -> None:
    r = client.post("/feed", json=[{"server_name": "a"}, {"timestamp": "x"}])
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == "no_valid_records"
    assert [x["index"] for x in body["rejected"]] == [0, 1]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, "malformed_json"),
        (b"", 400, "malformed_json"),
        (b'{"rows": []}', 422, "invalid_body"),
        (b'"a string"', 422, "invalid_body"),
        (b"42", 422, "invalid_body"),
        (b"[]", 422, "no_valid_records"),
    ],
)
def test_bad_bodies(client: TestClient, body: bytes, status: int, code: str) -> None:
    r = client.post("/feed", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == status, r.text
    assert r.json()["code"] == code
    assert r.json()["detail"]


def test_too_many_records_is_413(client: TestClient) -> None:
    batch = [good()] * 100_000
    r = client.post("/feed", json=batch)
    assert r.status_code == 413
    assert "100000 records" in r.json()["detail"]
    assert r.json()["max_batch"] == 10_000


def test_huge_body_is_413(client: TestClient) -> None:
    body = b"[" + b" " * (100 * 1024 * 1024) + b"]"
    r = client.post("/feed", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    assert r.json()["code"] == "payload_too_large"
    assert client.post("/feed", json=[good()]).status_code == 200


def test_chunked_body_over_the_limit_is_413(tmp_path) -> None:
    settings = make_settings(tmp_path, max_body_bytes=4096)
    with TestClient(create_app(settings), headers={"X-API-Key": settings.api_keys[0]}) as c:

        def chunks():
            yield b"["
            for _ in range(100):
                yield b'{"a": 1},' * 10
            yield b"{}]"

        r = c.post("/feed", content=chunks(), headers={"Content-Type": "application/json"})
        assert r.status_code == 413


def test_rejections_are_counted_by_reason(client: TestClient) -> None:
    client.post("/feed", json=[good(), {"timestamp": "x", "server_name": "a", "cpu_pct": 1}])
    text = client.get("/metrics").text
    assert 'tftmon_records_rejected_total{reason="bad_timestamp"} 1.0' in text
    assert "tftmon_records_accepted_total 1.0" in text


def test_every_error_answer_has_the_documented_shape(client: TestClient) -> None:
    """Bodies are built without validation (``api.errors.error_body``): check them here."""
    from tftmon.schemas import ErrorResponse

    answers = {
        "unauthorized": client.get("/status", headers={"X-API-Key": "wrong" * 4}),
        "not_found": client.get("/servers/nosuch/history"),
        "invalid_request": client.get("/alerts/history", params={"limit": 0}),
        "malformed_json": client.post("/feed", content=b"{not json"),
        "invalid_body": client.post("/feed", json={"rows": []}),
        "no_valid_records": client.post("/feed", json=[good(cpu_pct=250.0)]),
    }
    for code, answer in answers.items():
        body = ErrorResponse.model_validate(answer.json())
        assert body.code == code, answer.json()
    assert ErrorResponse.model_validate(answers["invalid_request"].json()).errors
    rejected = ErrorResponse.model_validate(answers["no_valid_records"].json()).rejected
    assert rejected and rejected[0].errors[0].field == "cpu_pct"


# ------------------------------------------------------ one bad record never costs the batch


def post_text(client: TestClient, body: str | bytes) -> Response:
    return client.post("/feed", content=body, headers={"Content-Type": "application/json"})


def test_a_record_too_deep_to_parse_is_refused_alone(client: TestClient) -> None:
    """JSON nested past the parsers' limit (~1,000), even in an ignored field."""
    deep = "[" * 5000 + "]" * 5000
    now = iso(datetime.now(UTC) - timedelta(minutes=1))
    records_ = [
        f'{{"timestamp": "{now}", "server_name": "a", "cpu_pct": 1}}',
        f'{{"timestamp": "{now}", "server_name": "b", "cpu_pct": 2, "extra": {deep}}}',
        f'{{"timestamp": "{now}", "server_name": "c", "cpu_pct": 3, "s": "[{{,\\"]"}}',
    ]
    for body in (f"[{','.join(records_)}]", f' {{ "records" : [{",".join(records_)}] }} '):
        r = post_text(client, body)
        assert r.status_code == 200, r.text
        assert r.json()["accepted"] + r.json()["duplicates"] == 2
        [rej] = r.json()["rejected"]
        assert (rej["index"], rej["errors"][0]["reason"]) == (1, "unreadable")
    only_deep = post_text(client, "[" + deep + "]")
    assert only_deep.status_code == 422
    assert only_deep.json()["rejected"][0]["errors"][0]["reason"] == "unreadable"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ("[" * 5000 + "]" * 4999, 400, "malformed_json"),
        ('{"rows": ' + "[" * 5000 + "]" * 5000 + "}", 422, "invalid_body"),
        ('{"records": {"a": ' + "[" * 5000 + "]" * 5000 + "}}", 422, "invalid_body"),
        ("[" + "[" * 5000 + "]" * 5000 + ", {]", 400, "malformed_json"),
        ("[" + "[" * 5000 + "]" * 5000 + "] x", 400, "malformed_json"),
    ],
)
def test_deep_bodies_that_are_not_batches(
    client: TestClient, body: str, status: int, code: str
) -> None:
    r = post_text(client, body)
    assert (r.status_code, r.json()["code"]) == (status, code), r.text


def test_an_integer_too_long_to_read_is_refused_alone(client: TestClient) -> None:
    now = iso(datetime.now(UTC) - timedelta(minutes=1))
    body = (
        f'[{{"timestamp": "{now}", "server_name": "a", "cpu_pct": 1}},'
        f' {{"timestamp": "{now}", "server_name": "b", "cpu_pct": 2, "n": {"9" * 5000}}}]'
    )
    r = post_text(client, body)
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 1
    assert r.json()["rejected"][0]["errors"][0]["reason"] == "unreadable"


def test_a_lone_surrogate_is_refused_alone(client: TestClient) -> None:
    now = iso(datetime.now(UTC) - timedelta(minutes=1))
    body = (
        f'[{{"timestamp": "{now}", "server_name": "a", "cpu_pct": 1}},'
        f' {{"timestamp": "{now}", "server_name": "\\ud800x", "cpu_pct": 2}},'
        f' {{"timestamp": "{now}", "server_name": "c", "cpu_pct": 2, "profile": "\\udfff"}}]'
    )
    r = post_text(client, body)
    assert r.status_code == 200, r.text
    body_ = r.json()
    assert body_["accepted"] == 2
    [rej] = body_["rejected"]
    assert (rej["index"], rej["server_name"]) == (1, "\\ud800x")
    assert rej["errors"][0]["reason"] == "bad_server_name"
    assert [(f["index"], f["field"]) for f in body_["fields_rejected"]] == [(2, "profile")]


# ------------------------------------------------------ a bad field costs only that field


def test_a_bad_field_is_left_out_and_the_rest_stored(client: TestClient) -> None:
    batch = [
        good("p1", 5, cpu_pct=250.0, mem_pct=40.0),
        good("p2", 5, cpu_pct=20.0, latency_ms="slow", state="on_fire"),  # type: ignore[arg-type]
        good("p3", 5, mem_pct=40.0, profile="Bad Profile"),  # type: ignore[arg-type]
        good("p4", 5, cpu_pct=-1.0),
    ]
    r = client.post("/feed", json=batch)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["accepted"] == 3
    assert [(x["index"], x["errors"][0]["field"]) for x in body["rejected"]] == [(3, "cpu_pct")]
    assert [
        (f["index"], f["server_name"], f["field"], f["reason"]) for f in body["fields_rejected"]
    ] == [
        (0, "p1", "cpu_pct", "out_of_range"),
        (1, "p2", "latency_ms", "bad_type"),
        (1, "p2", "state", "unknown_state"),
        (2, "p3", "profile", "bad_format"),
    ]
    p1 = client.get("/servers/p1/history").json()["values"]
    assert (p1["cpu_pct"][-1], p1["mem_pct"][-1]) == (None, 40.0)
    assert client.get("/servers/p3/history").json()["profile"] == "generic"
    text = client.get("/metrics").text
    assert 'tftmon_fields_rejected_total{reason="out_of_range"} 1.0' in text
    assert 'tftmon_records_rejected_total{reason="out_of_range"} 1.0' in text


def test_cpu_and_memory_over_100_are_clamped(client: TestClient) -> None:
    r = client.post("/feed", json=[good("vm1", 5, cpu_pct=187.5, mem_pct=100.5), good("vm2", 5)])
    assert r.status_code == 200, r.text
    assert (r.json()["accepted"], r.json()["clamped"], r.json()["rejected"]) == (2, 2, [])
    values = client.get("/servers/vm1/history").json()["values"]
    assert (values["cpu_pct"][-1], values["mem_pct"][-1]) == (100.0, 100.0)
    text = client.get("/metrics").text
    assert 'tftmon_records_clamped_total{metric="cpu_pct"} 1.0' in text
    assert 'tftmon_records_clamped_total{metric="mem_pct"} 1.0' in text


# ------------------------------------------------------ one sample sent as several records


def test_records_of_one_server_and_time_merge(client: TestClient) -> None:
    t = iso(datetime.now(UTC) - timedelta(minutes=3))
    cpu = {"timestamp": t, "server_name": "mb1", "cpu_pct": 30.0}
    mem = {"timestamp": t, "server_name": "mb1", "mem_pct": 70.0, "state": "healthy"}
    other = {"timestamp": t, "server_name": "mb2", "cpu_pct": 1.0}
    r = client.post("/feed", json=[cpu, other, mem, cpu])
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["accepted"], body["merged"], body["duplicates"]) == (2, 1, 1)
    assert body["rejected"] == body["fields_rejected"] == []
    values = client.get("/servers/mb1/history").json()["values"]
    assert (values["cpu_pct"][-1], values["mem_pct"][-1]) == (30.0, 70.0)
    assert "tftmon_records_merged_total 1.0" in client.get("/metrics").text


def test_conflicting_values_keep_the_first(client: TestClient) -> None:
    t = iso(datetime.now(UTC) - timedelta(minutes=3))
    first = {"timestamp": t, "server_name": "mb1", "cpu_pct": 30.0}
    second = {"timestamp": t, "server_name": "mb1", "cpu_pct": 35.0, "disk_io_mb_s": 2.0}
    body = client.post("/feed", json=[first, second]).json()
    assert (body["accepted"], body["merged"]) == (1, 1)
    [conflict] = body["fields_rejected"]
    assert (conflict["index"], conflict["field"], conflict["reason"]) == (1, "cpu_pct", "conflict")
    values = client.get("/servers/mb1/history").json()["values"]
    assert (values["cpu_pct"][-1], values["disk_io_mb_s"][-1]) == (30.0, 2.0)


def test_merged_records_of_a_closed_step_are_all_late(client: TestClient) -> None:
    start = hours_ago(1)
    assert client.post("/feed", json=records(["a"], start, 40)).json()["accepted"] == 40
    t = iso(start + timedelta(seconds=15))
    old = [
        {"timestamp": t, "server_name": "a", "cpu_pct": 1.0},
        {"timestamp": t, "server_name": "a", "latency_ms": 3.0},
    ]
    r = client.post("/feed", json=[*old, good("a", minutes_ago=1)])
    body = r.json()
    assert (body["accepted"], body["merged"]) == (1, 0)
    assert [(x["index"], x["errors"][0]["reason"]) for x in body["rejected"]] == [
        (0, "late"),
        (1, "late"),
    ]


# ------------------------------------------------------ HTTP answers


def test_405_names_the_allowed_methods(client: TestClient) -> None:
    r = client.delete("/feed")
    assert (r.status_code, r.headers.get("allow"), r.json()["code"]) == (
        405,
        "POST",
        "method_not_allowed",
    )


def test_a_500_is_answered_and_the_connection_kept(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug answers 500 in the error shape; the keep-alive connection stays usable."""

    def broken(items: object, state: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(feed_route, "store_records", broken)
    app = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        port = sock.getsockname()[1]
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        headers = {"X-API-Key": API_KEY, "Content-Type": "application/json"}
        conn.request("POST", "/feed", body=json.dumps([good()]), headers=headers)
        first = conn.getresponse()
        assert first.status == 500
        assert ErrorResponse.model_validate_json(first.read()).code == "internal_error"
        assert first.getheader("connection") != "close"
        conn.auto_open = 0  # a closed connection raises instead of reconnecting
        conn.request("GET", "/health")
        second = conn.getresponse()
        assert second.status == 200
        second.read()
        conn.close()
        assert (
            'tftmon_feed_requests_total{status="500"} 1.0'
            in TestClient(app).get("/metrics", headers={"X-API-Key": API_KEY}).text
        )
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def test_records_of_servers_past_the_limit_are_refused(client: TestClient) -> None:
    client.app.state.tftmon.fleet.max_servers = 2  # type: ignore[attr-defined]
    t = iso(datetime.now(UTC) - timedelta(minutes=3))
    batch = [
        {"timestamp": t, "server_name": name, metric: 1.0}
        for name in ("s1", "s2", "s3")
        for metric in ("cpu_pct", "mem_pct")
    ]
    body = client.post("/feed", json=batch).json()
    assert (body["accepted"], body["merged"]) == (2, 2)
    assert [(x["index"], x["errors"][0]["reason"]) for x in body["rejected"]] == [
        (4, "server_limit"),
        (5, "server_limit"),
    ]
