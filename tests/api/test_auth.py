"""API keys: every endpoint but /health needs one; several keys; Bearer on /metrics."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.conftest import API_KEY, OTHER_KEY, make_settings
from tftmon.api import create_app
from tftmon.api.deps import install_keyring
from tftmon.errors import ConfigError
from tftmon.keys import KeyRing

OPEN = {"/health", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"}


def _protected() -> list[tuple[str, str]]:
    """Every operation of the app's OpenAPI document but the open ones, path params filled."""
    paths = create_app(make_settings(Path("/nonexistent-never-started"))).openapi()["paths"]
    return [
        (method.upper(), re.sub(r"\{[^}]+\}", "a", path))
        for path, operations in sorted(paths.items())
        if path not in OPEN
        for method in sorted(operations)
    ]


PROTECTED = _protected()


def test_the_route_list_is_the_apps() -> None:
    """Routes added later are covered without editing this file."""
    paths = {path for _, path in PROTECTED}
    assert {"/status", "/feed", "/alerts/history", "/drift/status", "/metrics"} <= paths


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_missing_or_wrong_key_is_401(tmp_path: Path, method: str, path: str) -> None:
    with TestClient(create_app(make_settings(tmp_path))) as c:
        r = c.request(method, path, json=[])
        assert r.status_code == 401
        body = r.json()
        assert set(body) == {"detail", "code"} and body["code"] == "unauthorized"
        assert "X-API-Key" in body["detail"]
        r = c.request(method, path, json=[], headers={"X-API-Key": "wrong-key-000000000000"})
        assert r.status_code == 401
        assert r.json()["detail"] == "invalid API key"


def test_health_is_open(tmp_path: Path) -> None:
    with TestClient(create_app(make_settings(tmp_path))) as c:
        r = c.get("/health")  # no key sent
        assert r.status_code == 200
        assert r.json()["status"] == "ok"


def test_several_keys_are_valid_at_once(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, api_keys=[API_KEY, OTHER_KEY])
    with TestClient(create_app(settings)) as c:
        for key in (API_KEY, OTHER_KEY):
            assert c.get("/status", headers={"X-API-Key": key}).status_code == 200


def test_metrics_takes_bearer(tmp_path: Path) -> None:
    with TestClient(create_app(make_settings(tmp_path))) as c:
        ok = c.get("/metrics", headers={"Authorization": f"Bearer {API_KEY}"})
        assert ok.status_code == 200
        assert "tftmon_records_accepted_total" in ok.text
        assert c.get("/status", headers={"Authorization": f"Bearer {API_KEY}"}).status_code == 401


def test_refuses_to_start_without_a_key(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path, api_keys=[]))
    with pytest.raises(ConfigError, match=r"generate_api_key\.py"), TestClient(app):
        pass


def test_open_mode_must_be_asked_for(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    app = create_app(make_settings(tmp_path, api_keys=[], allow_no_auth=True))
    with TestClient(app) as c:
        assert c.get("/status").status_code == 200
    assert "open to anyone" in caplog.text


def test_short_keys_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 16"):
        make_settings(tmp_path, api_keys=["short"])


def _needed_scope(method: str, path: str) -> str:
    if path.startswith("/admin/") or method == "DELETE":  # DELETE /servers/{name}
        return "admin"
    if method == "POST":  # /feed, /feed/data, /api/v1/write
        return "ingest"
    return "read"


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_each_route_needs_its_scope(tmp_path: Path, method: str, path: str) -> None:
    needed = _needed_scope(method, path)
    keys = {scope: f"{scope}-only-0123456789abcdefghij" for scope in ("ingest", "read", "admin")}
    settings = make_settings(tmp_path, api_keys=[f"{k}:{s}" for s, k in keys.items()])
    with TestClient(create_app(settings)) as c:
        for scope, key in keys.items():
            r = c.request(method, path, json=[], headers={"X-API-Key": key})
            if scope == needed:
                assert r.status_code not in (401, 403), (scope, r.text)
            else:
                assert r.status_code == 403, (scope, r.text)
                body = r.json()
                assert set(body) == {"detail", "code"} and body["code"] == "forbidden"
                assert f"'{needed}' scope" in body["detail"]


def test_a_key_may_hold_several_scopes_and_bearer_checks_them(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, api_keys=[f"{OTHER_KEY}:ingest+read", API_KEY])
    with TestClient(create_app(settings)) as c:
        headers = {"X-API-Key": OTHER_KEY}
        assert c.get("/status", headers=headers).status_code == 200
        assert c.post("/feed", json=[], headers=headers).status_code != 403
        assert c.post("/admin/reload", headers=headers).status_code == 403
        bearer = {"Authorization": f"Bearer {OTHER_KEY}"}
        assert c.get("/metrics", headers=bearer).status_code == 200


def test_a_reloaded_key_set_applies_to_the_next_request(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path))
    ring = KeyRing([API_KEY])
    install_keyring(app, ring)
    with TestClient(app) as c:
        assert c.get("/status", headers={"X-API-Key": API_KEY}).status_code == 200
        assert ring.reload(lambda: [f"{OTHER_KEY}:ingest"])
        assert c.get("/status", headers={"X-API-Key": API_KEY}).status_code == 401
        assert c.get("/status", headers={"X-API-Key": OTHER_KEY}).status_code == 403
        assert not ring.reload(lambda: ["k" * 20])  # refused: the set stays
        assert c.get("/status", headers={"X-API-Key": OTHER_KEY}).status_code == 403


def test_weak_keys_are_refused(tmp_path: Path) -> None:
    for weak in ("k" * 20, "abcdabcdabcdabcdabcd"):
        with pytest.raises(ValueError, match=r"too weak.*generate_api_key\.py"):
            make_settings(tmp_path, api_keys=[weak])
