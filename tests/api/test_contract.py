"""The OpenAPI document against the app: schemathesis generates requests for every operation
(bounded, derandomized) and runs its checks on the answers, in-process under the lifespan."""

from __future__ import annotations

import tempfile
from pathlib import Path

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from tests.conftest import API_KEY, make_settings
from tftmon.api import create_app

with tempfile.TemporaryDirectory() as _tmp:  # the document only: no lifespan runs here
    document = create_app(make_settings(Path(_tmp))).openapi()
# protobuf bodies cannot be generated from the document: tests/test_remote_write.py covers it
schema = schemathesis.openapi.from_dict(document).exclude(path="/api/v1/write")

# /feed keeps what it can of a batch by contract (Docs/DATA_CONTRACT.md): a batch with a
# schema-violating record or field answers 200 for the rest, and a schema-valid record can
# still be refused (future, late, a duplicate) with 422 when nothing else is left. The two
# checks that assume all-or-nothing bodies do not apply there; every other check does.
PER_RECORD = [negative_data_rejection, positive_data_acceptance]


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_keeps_its_contract(case: schemathesis.Case, client: TestClient) -> None:
    kwargs = case.as_transport_kwargs(headers={"X-API-Key": API_KEY})
    response = client.request(**kwargs)
    excluded = {"/feed": PER_RECORD, "/feed/data": PER_RECORD}
    case.validate_response(response, excluded_checks=excluded.get(case.operation.path))
