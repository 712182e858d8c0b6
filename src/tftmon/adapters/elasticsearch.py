"""Elasticsearch adapter: a range query on the timestamp, paged with a point in time.

Documents are ordered by ``(timestamp, tiebreak_field)`` (default ``host.name``, a keyword:
two documents of one server at one instant are one record to the daemon anyway), so the
checkpoint ``[epoch millis, tiebreak]`` is stable across restarts. A poll opens a point in
time over the index pattern, asks for what follows the checkpoint, pages on with
``search_after`` inside that point in time, and closes it when caught up.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tftmon.adapters.base import BaseAdapter, Batch
from tftmon.adapters.checkpoint import Checkpoint
from tftmon.errors import SourceError
from tftmon.timefmt import iso_z

logger = logging.getLogger(__name__)


class ElasticsearchSource(BaseModel):
    """The ``source`` section of an Elasticsearch adapter's config."""

    model_config = ConfigDict(extra="forbid")

    hosts: list[str] = Field(default_factory=lambda: ["http://127.0.0.1:9200"], min_length=1)
    index: str = Field("metrics-*", min_length=1, description="an index name or pattern")
    timestamp_field: str = "@timestamp"
    tiebreak_field: str = Field("host.name", description="a keyword field, e.g. the host name")
    query: dict[str, Any] | None = Field(None, description="an extra filter in query DSL")
    api_key: str | None = None
    username: str | None = None
    password: str | None = None
    verify_certs: bool = True
    ca_certs: str | None = None
    request_timeout_s: float = Field(30.0, gt=0)
    keep_alive: str = "2m"
    settle_s: float = Field(
        15.0, ge=0, description="leave documents younger than this for the next poll"
    )


class ElasticsearchAdapter(BaseAdapter[ElasticsearchSource]):
    """Reads metric documents from an Elasticsearch index pattern."""

    kind = "elasticsearch"
    source_model = ElasticsearchSource

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._es: Any = None
        self._pit: str | None = None
        self._pit_after: list[Any] | None = None  # full sort values, with the PIT's tiebreak
        self._pit_at: list[Any] | None = None  # the checkpoint position the PIT stands at

    def source_id(self) -> str:
        return f"elasticsearch:{','.join(self.source.hosts)}/{self.source.index}"

    def _client(self) -> Any:
        if self._es is None:
            from elasticsearch import Elasticsearch

            auth: dict[str, Any] = {}
            if self.source.api_key:
                auth["api_key"] = self.source.api_key
            elif self.source.username:
                auth["basic_auth"] = (self.source.username, self.source.password or "")
            if self.source.ca_certs:
                auth["ca_certs"] = self.source.ca_certs
            self._es = Elasticsearch(
                self.source.hosts,
                request_timeout=self.source.request_timeout_s,
                verify_certs=self.source.verify_certs,
                retry_on_timeout=True,
                max_retries=2,
                **auth,
            )
        return self._es

    def fetch(self, since: Checkpoint | None) -> Batch:
        from elastic_transport import TransportError
        from elasticsearch import ApiError

        position = since.position if since else None
        try:
            return self._fetch(position)
        except (ApiError, TransportError) as exc:
            self._close_pit()
            raise SourceError(f"Elasticsearch {self.source_id()}: {exc}") from exc

    def _fetch(self, position: list[Any] | None) -> Batch:
        es = self._client()
        ts, tie = self.source.timestamp_field, self.source.tiebreak_field
        body: dict[str, Any] = {
            "size": self.config.batch_size,
            "sort": [{ts: {"order": "asc"}}, {tie: {"order": "asc"}}],
            "track_total_hits": False,
        }
        if self._pit is not None and position == self._pit_at:
            body["search_after"] = self._pit_after  # the next page of this poll
        else:
            self._close_pit()
            opened = es.open_point_in_time(
                index=self.source.index, keep_alive=self.source.keep_alive, ignore_unavailable=True
            )
            self._pit = opened["id"]
        settled = self.now() - timedelta(seconds=self.source.settle_s)
        filters = [
            self._after(position),
            # younger documents may not be searchable yet (refresh interval, shippers'
            # batches): reading past them would move the position beyond them
            {"range": {ts: {"lte": iso_z(settled)}}},
            {"exists": {"field": tie}},  # the (timestamp, tiebreak) order needs both
        ]
        if self.source.query:
            filters.append(self.source.query)
        body["query"] = {"bool": {"filter": filters}}
        body["pit"] = {"id": self._pit, "keep_alive": self.source.keep_alive}
        answer = es.search(**body)
        self._pit = answer.get("pit_id", self._pit)
        hits = answer["hits"]["hits"]
        if not hits:
            self._close_pit()
            return Batch([], None)
        last_sort = hits[-1]["sort"]
        end = list(last_sort[:2])
        more = len(hits) == self.config.batch_size
        if more:
            self._pit_after, self._pit_at = last_sort, end
        else:
            self._close_pit()
        return Batch([h["_source"] for h in hits], end, timestamp=iso_z(end[0] / 1000), more=more)

    def _after(self, position: list[Any] | None) -> dict[str, Any]:
        """The filter for documents strictly after ``position`` (or from the backfill start)."""
        ts, tie = self.source.timestamp_field, self.source.tiebreak_field
        if position is None:
            return {"range": {ts: {"gte": iso_z(self.backfill_start())}}}
        millis, last = position
        later = {"range": {ts: {"gt": millis, "format": "epoch_millis"}}}
        if last is None:
            return later
        same_instant = {
            "bool": {
                "filter": [
                    {"range": {ts: {"gte": millis, "lte": millis, "format": "epoch_millis"}}},
                    {"range": {tie: {"gt": last}}},
                ]
            }
        }
        return {"bool": {"should": [later, same_instant], "minimum_should_match": 1}}

    def _close_pit(self) -> None:
        if self._pit is not None and self._es is not None:
            try:
                self._es.close_point_in_time(id=self._pit)
            except Exception as exc:  # it expires on its own; closing early is a courtesy
                logger.debug("closing the point in time failed: %s", exc)
        self._pit = self._pit_after = self._pit_at = None

    def close(self) -> None:
        self._close_pit()
        if self._es is not None:
            self._es.close()
            self._es = None
