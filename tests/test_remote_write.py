"""POST /api/v1/write: the wire decoder, the mapping file, the converter's arithmetic and
hold window, and the route's answers through the in-process app."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cramjam
import pytest
from fastapi.testclient import TestClient

from tests.conftest import API_KEY, make_settings
from tests.servers import REPO, daemon_refusal
from tftmon.api import create_app
from tftmon.errors import ConfigError, MalformedBodyError, PayloadTooLargeError, StoreError
from tftmon.serving.remote_write import RemoteWriteConverter
from tftmon.serving.remote_write_mapping import load_mapping, parse_mapping
from tftmon.serving.remote_write_wire import (
    decode_labels,
    decode_write_request,
    decompress,
    encode_write_request,
    message_classes,
)

HEADERS = {
    "Authorization": f"Bearer {API_KEY}",
    "Content-Encoding": "snappy",
    "Content-Type": "application/x-protobuf",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
}
T0 = 1_700_000_000_000  # ms
Labels = dict[str, str]
SeriesIn = list[tuple[Labels, list[tuple[int, float]]]]


def cpu(inst: str, cpu_id: str, mode: str) -> Labels:
    labels = {"__name__": "node_cpu_seconds_total", "instance": inst, "job": "node"}
    return {**labels, "cpu": cpu_id, "mode": mode}


def gauge(name: str, inst: str, **extra: str) -> Labels:
    return {"__name__": name, "instance": inst, "job": "node", **extra}


def scrape(inst: str, ts: int, step: int, *, busy: float = 0.25) -> SeriesIn:
    """One node_exporter-like scrape: 2 CPUs (idle, user), memory, one disk and one loop
    device; counters grow so that the CPU is ``busy`` and the disk moves 3 MB/s."""
    dt = 15.0
    out: SeriesIn = []
    for c in ("0", "1"):
        out.append((cpu(inst, c, "idle"), [(ts, 1000.0 + step * dt * (1 - busy))]))
        out.append((cpu(inst, c, "user"), [(ts, 500.0 + step * dt * busy)]))
    out.append((gauge("node_memory_MemAvailable_bytes", inst), [(ts, 6e9)]))
    out.append((gauge("node_memory_MemTotal_bytes", inst), [(ts, 8e9)]))
    for name, rate in (("node_disk_read_bytes_total", 1e6), ("node_disk_written_bytes_total", 2e6)):
        out.append((gauge(name, inst, device="sda"), [(ts, 1e9 + step * dt * rate)]))
        out.append((gauge(name, inst, device="loop0"), [(ts, 1e9 + step * dt * 50e6)]))
    return out


def as_wire(series: SeriesIn) -> list[tuple[bytes, list[tuple[int, float]]]]:
    body = encode_write_request(series)
    return decode_write_request(decompress(body, 1 << 24))


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def conv(clock: Clock) -> RemoteWriteConverter:
    return RemoteWriteConverter(load_mapping(), clock=clock)


def run(conv: RemoteWriteConverter, series: SeriesIn) -> Any:
    return conv.convert(as_wire(series))


# ---------------------------------------------------------------- the wire


def test_decoder_reads_what_protobuf_writes() -> None:
    series: SeriesIn = [
        (gauge("up", "a:1", zone="é"), [(T0, 1.0), (T0 + 1, -2.5)]),
        ({"__name__": "x"}, [(-5, 0.0)]),  # a default value and a negative timestamp
    ]
    [(k1, s1), (k2, s2)] = as_wire(series)
    assert decode_labels(k1) == series[0][0] and s1 == series[0][1]
    assert decode_labels(k2) == {"__name__": "x"} and s2 == [(-5, 0.0)]


def test_decoder_reads_long_labels_and_default_fields() -> None:
    series: SeriesIn = [
        (gauge("up", "a" * 300), [(T0, 0.0), (0, 1.5), (T0 + 1, 2.0)]),  # omitted fields
        (gauge("up", "b"), [(T0, 1.0)] * 200),  # a series of over 128 bytes of samples
    ]
    [(k1, s1), (k2, s2)] = as_wire(series)
    assert decode_labels(k1)["instance"] == "a" * 300 and s1 == series[0][1]
    assert decode_labels(k2)["instance"] == "b" and s2 == series[1][1]


def test_decoder_skips_unknown_fields_and_reads_labels_after_samples() -> None:
    classes = message_classes()
    ts = classes["TimeSeries"]()
    ts.samples.add(timestamp=T0, value=3.0)
    label = classes["Label"](name="__name__", value="up").SerializeToString()
    inner = ts.SerializeToString() + b"\x0a" + bytes([len(label)]) + label + b"\x18\x07"
    body = b"\x0a" + bytes([len(inner)]) + inner + b"\x1a\x02\x08\x01"  # + metadata field 3
    [(key, samples)] = decode_write_request(body)
    assert decode_labels(key) == {"__name__": "up"} and samples == [(T0, 3.0)]


@pytest.mark.parametrize("body", [b"\x0a\x05\x0a\x03", b"\x0a\xff", b"\x0f", b"\x0a\x02\x12\x09"])
def test_truncated_or_bad_protobuf_is_malformed(body: bytes) -> None:
    with pytest.raises(MalformedBodyError) as info:
        decode_write_request(body)
    assert info.value.code == "malformed_protobuf"


def test_labels_must_be_label_fields() -> None:
    with pytest.raises(MalformedBodyError, match="field tag 18"):
        decode_labels(b"\x12\x00")


def test_decompress_checks_the_declared_length_first() -> None:
    body = bytes(cramjam.snappy.compress_raw(b"\0" * 10_000))
    assert decompress(body, 10_000) == b"\0" * 10_000
    with pytest.raises(PayloadTooLargeError, match="10000 bytes"):
        decompress(body, 9_999)
    with pytest.raises(MalformedBodyError) as info:
        decompress(b"not snappy at all", 1 << 20)
    assert info.value.code == "malformed_snappy"


# ---------------------------------------------------------------- the arithmetic


def test_rates_give_cpu_memory_and_disk(conv: RemoteWriteConverter) -> None:
    first = run(conv, scrape("web1:9100", T0, 0))
    assert [set(r) - {"timestamp", "server_name"} for r in first.records] == [{"mem_pct"}]
    second = run(conv, scrape("web1:9100", T0 + 15_000, 1))
    [record] = second.records
    assert record["server_name"] == "web1"
    assert record["timestamp"].timestamp() * 1000 == T0 + 15_000
    assert record["cpu_pct"] == pytest.approx(25.0)
    assert record["mem_pct"] == pytest.approx(25.0)
    assert record["disk_io_mb_s"] == pytest.approx(3.0)  # the loop device is excluded
    assert second.dropped == {"excluded": 2}
    assert second.received == len(scrape("w", 0, 0)) and second.held == 0


def test_a_counter_reset_gives_no_rate_for_that_step(conv: RemoteWriteConverter) -> None:
    run(conv, scrape("web1", T0, 0))
    run(conv, scrape("web1", T0 + 15_000, 1))
    [reset] = run(conv, scrape("web1", T0 + 30_000, 0)).records  # a reboot: counters restart
    assert "cpu_pct" not in reset and "disk_io_mb_s" not in reset and "mem_pct" in reset
    [after] = run(conv, scrape("web1", T0 + 45_000, 1, busy=0.5)).records
    assert after["cpu_pct"] == pytest.approx(50.0)


def test_a_scrape_split_over_two_requests_is_held_until_complete(
    conv: RemoteWriteConverter,
) -> None:
    run(conv, scrape("web1", T0, 0))
    run(conv, scrape("web1", T0 + 15_000, 1))
    third = scrape("web1", T0 + 30_000, 2)
    part1 = run(conv, third[:3])  # two CPU series of four
    assert part1.records == [] and part1.held == 1
    [record] = run(conv, third[3:]).records
    assert record["cpu_pct"] == pytest.approx(25.0) and "disk_io_mb_s" in record
    assert conv.held_groups() == 0


def test_a_series_that_moved_on_completes_the_group(conv: RemoteWriteConverter) -> None:
    run(conv, scrape("web1", T0, 0))
    run(conv, scrape("web1", T0 + 15_000, 1))
    third = scrape("web1", T0 + 30_000, 2)
    assert run(conv, [s for s in third if "cpu" not in s[0]]).records == []
    fourth = scrape("web1", T0 + 45_000, 3)
    out = run(conv, [s for s in fourth if "cpu" in s[0]])  # the CPU skipped the third scrape
    assert [r["timestamp"].timestamp() * 1000 for r in out.records] == [T0 + 30_000]
    assert "cpu_pct" not in out.records[0]


def test_the_hold_time_is_twice_the_scrape_interval(
    conv: RemoteWriteConverter, clock: Clock
) -> None:
    run(conv, scrape("web1", T0, 0))
    run(conv, scrape("web1", T0 + 15_000, 1))
    third = scrape("web1", T0 + 30_000, 2)
    assert run(conv, third[:4]).held == 1  # every CPU series; memory and disk still to come
    clock.now += 29.0
    assert conv.convert([]).records == []
    clock.now += 1.0  # 2 x the 15-s scrape interval after the group began
    [record] = conv.convert([]).records
    assert set(record) == {"timestamp", "server_name", "cpu_pct"}  # stored with what it had
    late = run(conv, third[4:]).dropped
    assert late == {"late": 4, "excluded": 2}  # memory and sda; the loop device is excluded


def test_a_partial_metric_is_left_out(conv: RemoteWriteConverter, clock: Clock) -> None:
    run(conv, scrape("web1", T0, 0))
    run(conv, scrape("web1", T0 + 15_000, 1))
    third = scrape("web1", T0 + 30_000, 2)
    run(conv, third[:1] + third[4:])  # one CPU series of four: no CPU figure from it
    clock.now += 30.0
    [record] = conv.convert([]).records
    assert "cpu_pct" not in record and record["mem_pct"] == pytest.approx(25.0)


def test_unmapped_and_bad_samples_are_counted(conv: RemoteWriteConverter) -> None:
    series: SeriesIn = [
        (gauge("go_goroutines", "web1"), [(T0, 7.0)]),
        ({"__name__": "node_memory_MemTotal_bytes"}, [(T0, 1.0)]),  # no instance
        (gauge("node_memory_MemTotal_bytes", "bad name!"), [(T0, 1.0)]),
        (gauge("node_memory_MemTotal_bytes", "web1"), [(T0, math.nan), (T0 + 1, 8e9)]),
        (gauge("node_memory_MemAvailable_bytes", "web1"), [(T0 + 1, 2e9), (T0 + 1, 2e9)]),
    ]
    out = run(conv, series)
    assert out.received == 7
    assert out.dropped == {
        "unmapped": 1,
        "no_server": 1,
        "bad_server": 1,
        "not_finite": 1,
        "out_of_order": 1,
    }
    assert [r["mem_pct"] for r in out.records] == [pytest.approx(75.0)]


def test_state_is_bounded_by_max_series(clock: Clock) -> None:
    conv = RemoteWriteConverter(load_mapping(), max_series=7, clock=clock)
    out = run(conv, scrape("web1", T0, 0))
    assert out.dropped == {"series_limit": 1, "excluded": 2}  # sda's written bytes
    assert out.records[0]["mem_pct"] == pytest.approx(25.0)  # the first seven still count


def test_silent_series_make_room_for_new_ones(clock: Clock) -> None:
    conv = RemoteWriteConverter(load_mapping(), max_series=10, clock=clock)  # one server
    run(conv, scrape("old", T0, 0))
    clock.now += 10.0  # the sweep runs at most every 10 s
    later = T0 + 11 * 60 * 1000  # "old" has been silent for 11 minutes
    out = run(conv, scrape("new", later, 0))
    assert "series_limit" not in out.dropped
    assert [r["server_name"] for r in out.records] == ["new"]
    assert run(conv, scrape("new", later + 15_000, 1)).records[0]["cpu_pct"] == pytest.approx(25)


def test_requeued_records_come_back_first(conv: RemoteWriteConverter) -> None:
    conv.requeue([{"server_name": "a"}])
    assert conv.convert([]).records == [{"server_name": "a"}]
    assert conv.convert([]).records == []


# ---------------------------------------------------------------- the mapping file


def test_the_shipped_mapping_maps_node_exporter() -> None:
    mapping = load_mapping()
    assert [r.metric for r in mapping.rules] == ["cpu_pct", "mem_pct", "disk_io_mb_s"]
    assert mapping.server_of({"instance": "web01:9100"}) == "web01"
    assert mapping.server_of({"instance": "[::1]:9100"}) == "::1"


def test_the_doc_shows_the_shipped_mapping() -> None:
    doc = (REPO / "Docs" / "REMOTE_WRITE.md").read_text()
    shipped = (REPO / "src" / "tftmon" / "serving" / "remote_write_node_exporter.toml").read_text()
    [shown] = re.findall(r"^```toml\n(.*?)^```", doc, re.S | re.M)
    assert shown in shipped and shown.startswith("[server]")


def test_a_latency_gauge_is_scaled() -> None:
    mapping = parse_mapping(
        {
            "server": {"label": "host", "strip_port": False},
            "metrics": {
                "latency_ms": {
                    "kind": "gauge",
                    "series": "probe_duration_seconds",
                    "scale": 1000.0,
                    "match": {"job": "blackbox"},
                }
            },
        },
        "test",
    )
    conv = RemoteWriteConverter(mapping)
    labels = {"__name__": "probe_duration_seconds", "host": "db1", "job": "blackbox"}
    other = {**labels, "job": "other"}
    out = run(conv, [(labels, [(T0, 0.012)]), (other, [(T0, 5.0)])])
    assert out.records[0]["latency_ms"] == pytest.approx(12.0)
    assert out.dropped == {"excluded": 1}


BAD_MAPPINGS = [
    ("[metrics.cpu_pct]\nkind = 'busy_percent'\nseries = 'x'\n", "metrics.cpu_pct.idle"),
    ("[metrics.foo]\nkind = 'gauge'\nseries = 'x'\n", "metrics.foo"),
    ("[metrics.mem_pct]\nkind = 'ratio'\n", "metrics.mem_pct.kind"),
    ("[metrics.mem_pct]\nkind = 'gauge'\nseries = 'x'\nscale = 0\n", "metrics.mem_pct.scale"),
    ("[metrics.mem_pct]\nkind = 'gauge'\nseries = 'x'\nmatch = {a = '('}\n", "match.a"),
    ("[metrics.mem_pct]\nkind = 'gauge'\nseries = 'x'\nextra = 1\n", "metrics.mem_pct.extra"),
    ("[server]\nlabel = 'a-b'\n[metrics.mem_pct]\nkind='gauge'\nseries='x'\n", "server.label"),
    (
        "[metrics.mem_pct]\nkind = 'gauge'\nseries = 'x'\n"
        "[metrics.latency_ms]\nkind = 'gauge'\nseries = 'x'\n",
        "already used",
    ),
    ("[metrics\n", "Expected"),
    ("", "metrics: needs"),
]


@pytest.mark.parametrize(("text", "key"), BAD_MAPPINGS)
def test_a_bad_mapping_names_the_file_and_key(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "mapping.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_mapping(path)
    assert str(path) in str(info.value) and key in str(info.value)


def test_a_bad_mapping_stops_the_daemon_at_start(tmp_path: Path) -> None:
    path = tmp_path / "mapping.toml"
    path.write_text("[metrics.cpu_pct]\nkind = 'gauge'\n")
    app = create_app(make_settings(tmp_path, remote_write_mapping=path))
    with pytest.raises(ConfigError, match=r"mapping\.toml: metrics\.cpu_pct\.series"):  # noqa: SIM117
        with TestClient(app):
            pass


# ---------------------------------------------------------------- the route


@pytest.fixture
def app_client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(tmp_path))) as c:
        yield c


def post(client: TestClient, body: bytes, **headers: str) -> Any:
    return client.post("/api/v1/write", content=body, headers={**HEADERS, **headers})


def stored(client: TestClient, server: str) -> list[dict[str, Any]]:
    fleet = client.app.state.daemon.fleet  # type: ignore[attr-defined]
    sid = fleet.server_id(server)
    cols = fleet.history.read_samples(sid, 0, 1 << 62)
    out = []
    for j, ts in enumerate(cols.ts_ms.tolist()):
        values = {m: float(cols.values[j, i]) for i, m in enumerate(fleet.metrics)}
        out.append({"ts": ts, **{m: v for m, v in values.items() if not math.isnan(v)}})
    return out


def test_samples_are_stored_like_feed_records(app_client: TestClient) -> None:
    now = (int(time.time()) - 120) * 1000
    for step in range(3):
        r = post(app_client, encode_write_request(scrape("web1:9100", now + step * 15_000, step)))
        assert r.status_code == 204, r.text
    rows = stored(app_client, "web1")
    assert [row["ts"] for row in rows] == [now + i * 15_000 for i in range(3)]
    assert rows[2]["cpu_pct"] == pytest.approx(25.0) and rows[2]["disk_io_mb_s"] == pytest.approx(
        3.0
    )
    text = app_client.get("/metrics", headers=HEADERS).text
    assert "tftmon_records_accepted_total 3.0" in text
    assert 'tftmon_remote_write_samples_dropped_total{reason="excluded"} 6.0' in text
    assert "tftmon_remote_write_samples_received_total 30.0" in text
    assert 'tftmon_remote_write_requests_total{status="204"} 3.0' in text


def test_auth_is_required(app_client: TestClient) -> None:
    body = encode_write_request(scrape("web1", T0, 0))
    r = post(app_client, body, Authorization="Bearer wrong-key-0123456789")
    assert r.status_code == 401 and r.json()["code"] == "unauthorized"
    headers = {k: v for k, v in HEADERS.items() if k != "Authorization"}
    assert app_client.post("/api/v1/write", content=body, headers=headers).status_code == 401
    r = app_client.post("/api/v1/write", content=body, headers={**headers, "X-API-Key": API_KEY})
    assert r.status_code == 204


BAD_BODIES = [
    (b"not snappy", {}, 400, "malformed_snappy"),
    (bytes(cramjam.snappy.compress_raw(b"\x0a\x09garbage")), {}, 400, "malformed_protobuf"),
    # a label name that is not UTF-8
    (
        bytes(cramjam.snappy.compress_raw(b"\x0a\x05\x0a\x03\x0a\x01\xff")),
        {},
        400,
        "malformed_protobuf",
    ),
    (b"", {"Content-Encoding": "gzip"}, 400, "unsupported_encoding"),
    (
        b"",
        {"Content-Type": "application/x-protobuf;proto=io.prometheus.write.v2.Request"},
        415,
        "unsupported_media_type",
    ),
]


@pytest.mark.parametrize(("body", "headers", "status", "code"), BAD_BODIES)
def test_bad_bodies_answer_4xx_in_the_error_shape(
    app_client: TestClient, body: bytes, headers: dict[str, str], status: int, code: str
) -> None:
    r = post(app_client, body, **headers)
    assert r.status_code == status, r.text
    assert r.json()["code"] == code and r.json()["detail"]


def test_too_large_bodies_are_refused(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, max_body_bytes=1024)
    with TestClient(create_app(settings)) as client:
        r = post(client, bytes(cramjam.snappy.compress_raw(b"\0" * 5000)))
        assert r.status_code == 413 and r.json()["code"] == "payload_too_large"
        assert "decompresses to 5000 bytes" in r.json()["detail"]


def test_a_store_failure_answers_503_and_keeps_the_records(
    app_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet = app_client.app.state.daemon.fleet  # type: ignore[attr-defined]
    real = fleet.append

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise StoreError("disk full")

    monkeypatch.setattr(fleet, "append", broken)
    now = (int(time.time()) - 60) * 1000
    r = post(app_client, encode_write_request(scrape("web1", now, 0)))
    assert r.status_code == 503 and r.json()["code"] == "store_unavailable"
    assert r.headers["Retry-After"] == "5"
    monkeypatch.setattr(fleet, "append", real)
    assert post(app_client, encode_write_request([])).status_code == 204
    assert [row["ts"] for row in stored(app_client, "web1")] == [now]


def test_held_groups_are_stored_at_shutdown(tmp_path: Path) -> None:
    """Samples acknowledged to Prometheus but held (a split scrape) are not lost on a stop."""
    settings = make_settings(tmp_path)
    now = (int(time.time()) - 120) * 1000
    with TestClient(create_app(settings)) as client:
        for step in range(2):
            body = encode_write_request(scrape("web1:9100", now + step * 15_000, step))
            assert post(client, body).status_code == 204
        third = scrape("web1:9100", now + 30_000, 2)
        # CPUs and memory of the third scrape; its disk series are still to come
        assert post(client, encode_write_request(third[:6])).status_code == 204
        assert client.app.state.daemon.remote_write.held_groups() == 1  # type: ignore[attr-defined]
        assert len(stored(client, "web1")) == 2
    with TestClient(create_app(settings)) as client:
        rows = stored(client, "web1")
    assert [row["ts"] for row in rows] == [now, now + 15_000, now + 30_000]
    assert rows[2]["cpu_pct"] == pytest.approx(25.0) and "disk_io_mb_s" not in rows[2]


def test_the_daemon_cli_refuses_a_bad_mapping_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "mapping.toml"
    path.write_text("[metrics.cpu_pct]\nkind = 'gauge'\n")
    env = {
        "PATH": "/usr/bin:/bin",
        "TFTMON_API_KEYS": API_KEY,
        "TFTMON_DATA_DIR": str(tmp_path / "data"),
        "TFTMON_REMOTE_WRITE_MAPPING": str(path),
    }
    line = daemon_refusal(env, tmp_path)
    assert "mapping.toml" in line and "metrics.cpu_pct" in line


def test_a_sample_out_of_time_range_is_dropped_and_blocks_nothing(
    conv: RemoteWriteConverter,
) -> None:
    """A timestamp past what /feed takes (or before 1970) is dropped before it touches the
    series: it used to raise (a 500 that lost requeued records) and block the series."""
    conv.requeue([{"server_name": "kept", "cpu_pct": 1.0}])
    far = [(labels, [(1 << 62, value)]) for labels, [(_, value)] in scrape("web1", T0, 0)]
    out = run(conv, [*far, (gauge("node_memory_MemTotal_bytes", "web2"), [(-5, 1.0)])])
    assert out.dropped["out_of_range"] == len(far) - 2 + 1  # the loop devices: excluded first
    assert out.records == [{"server_name": "kept", "cpu_pct": 1.0}]  # not lost
    run(conv, scrape("web1", T0, 0))
    [record] = run(conv, scrape("web1", T0 + 15_000, 1)).records
    assert record["cpu_pct"] == pytest.approx(25.0)  # the series goes on as before


def test_series_and_samples_per_request_are_capped() -> None:
    """A small hostile body (two bytes per empty series) cannot make the decoder allocate
    without bound: past MAX_SAMPLES it is a 413."""
    assert len(decode_write_request(b"\x0a\x00" * 1000)) == 1000
    with pytest.raises(PayloadTooLargeError, match="in one request"):
        decode_write_request(b"\x0a\x00" * 500_001)
