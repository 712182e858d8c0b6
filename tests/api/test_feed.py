"""POST /feed: good batches, every kind of bad input, limits, duplicates and late records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from tests.conftest import hours_ago, iso, make_settings, records
from tftmon.api import create_app


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
    ({"timestamp": "NOW", "server_name": "a", "cpu_pct": 101.0}, "cpu_pct", "out_of_range"),
    ({"timestamp": "NOW", "server_name": "a", "mem_pct": -0.1}, "mem_pct", "out_of_range"),
    ({"timestamp": "NOW", "server_name": "a", "disk_io_mb_s": -5}, "disk_io_mb_s", "out_of_range"),
    ({"timestamp": "NOW", "server_name": "a", "latency_ms": -1}, "latency_ms", "out_of_range"),
    ({"timestamp": "NOW", "server_name": "a", "cpu_pct": True}, "cpu_pct", "bad_type"),
    (
        {"timestamp": "NOW", "server_name": "a", "cpu_pct": 5, "state": "on_fire"},
        "state",
        "unknown_state",
    ),
    ({"timestamp": "NOW", "server_name": "a", "state": "healthy"}, "", "no_metric"),
    (
        {"timestamp": "NOW", "server_name": "a", "cpu_pct": 5, "profile": "Bad Profile"},
        "profile",
        "bad_format",
    ),
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
