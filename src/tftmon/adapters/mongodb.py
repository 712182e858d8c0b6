"""MongoDB adapter: documents whose timestamp follows the checkpoint, oldest first.

Order is ``(timestamp, _id)`` over an index on exactly those fields (created on start
unless ``create_index`` is false), so the position ``[timestamp, _id]`` is a total order
and a restart resumes after the last acknowledged document. Timestamps may be BSON dates
or ISO 8601 strings (one kind per collection: strings compare as text, so they must share
one format). One cursor serves all the pages of a poll.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field

from tftmon.adapters.base import BaseAdapter, Batch
from tftmon.adapters.checkpoint import Checkpoint
from tftmon.adapters.mapping import iso_timestamp
from tftmon.errors import SourceError
from tftmon.timefmt import iso_z

logger = logging.getLogger(__name__)


class MongoSource(BaseModel):
    """The ``source`` section of a MongoDB adapter's config."""

    model_config = ConfigDict(extra="forbid")

    uri: str = "mongodb://127.0.0.1:27017"
    database: str = Field(min_length=1)
    collection: str = Field(min_length=1)
    timestamp_field: str = "timestamp"
    query: dict[str, Any] = Field(default_factory=dict, description="extra filter, e.g. a tag")
    create_index: bool = True
    server_selection_timeout_s: float = Field(5.0, gt=0)
    settle_s: float = Field(
        15.0, ge=0, description="leave documents younger than this for the next poll"
    )


class MongoDBAdapter(BaseAdapter[MongoSource]):
    """Reads metric documents from one MongoDB collection."""

    kind = "mongodb"
    source_model = MongoSource

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._client: Any = None
        self._cursor: Any = None
        self._cursor_at: list[Any] | None = None  # the position the open cursor stands at
        self._indexed = False
        self._skip: tuple[Any, Any] | None = None

    def source_id(self) -> str:
        parts = urlsplit(self.source.uri)
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host  # no credentials in files
        address = urlunsplit((parts.scheme, netloc, "", "", ""))
        return f"mongodb:{address}/{self.source.database}.{self.source.collection}"

    def _collection(self) -> Any:
        import pymongo

        if self._client is None:
            self._client = pymongo.MongoClient(
                self.source.uri,
                serverSelectionTimeoutMS=int(self.source.server_selection_timeout_s * 1000),
                tz_aware=True,
            )
        collection = self._client[self.source.database][self.source.collection]
        if self.source.create_index and not self._indexed:
            try:
                collection.create_index([(self.source.timestamp_field, 1), ("_id", 1)])
            except pymongo.errors.OperationFailure as exc:  # e.g. a read-only user
                logger.warning("could not create the (timestamp, _id) index: %s", exc)
            self._indexed = True
        return collection

    def fetch(self, since: Checkpoint | None) -> Batch:
        import pymongo.errors
        from bson import json_util

        position = since.position if since else None
        try:
            if self._cursor is None or position != self._cursor_at:
                self._open_cursor(position)
            documents = self._take(self.config.batch_size)
        except pymongo.errors.PyMongoError as exc:
            self._reset()
            raise SourceError(f"MongoDB {self.source_id()}: {exc}") from exc
        if len(documents) < self.config.batch_size:
            self._reset()  # caught up: the next poll asks again from the checkpoint
        if not documents:
            return Batch([], None)
        last = documents[-1]
        stamp = last.get(self.source.timestamp_field)
        end = [json_util.dumps(stamp), json_util.dumps(last["_id"])]
        if self._cursor is not None:
            self._cursor_at = end
        return Batch(
            documents,
            end,
            timestamp=str(iso_timestamp(stamp)),
            more=len(documents) == self.config.batch_size,
        )

    def _take(self, count: int) -> list[Mapping[str, Any]]:
        """The next ``count`` documents, past the ones at the checkpoint's own timestamp."""
        field = self.source.timestamp_field
        documents: list[Mapping[str, Any]] = []
        for document in self._cursor:
            if self._skip is not None:
                stamp, last_id = self._skip
                if document.get(field) == stamp and document["_id"] <= last_id:
                    continue  # at the checkpoint's instant and already acknowledged
                self._skip = None
            documents.append(document)
            if len(documents) == count:
                break
        return documents

    def _open_cursor(self, position: list[Any] | None) -> None:
        """One range on the timestamp (an index scan; ``$or`` would defeat the index)."""
        from bson import json_util

        self._reset()
        field = self.source.timestamp_field
        lower: Any
        if position is None:
            lower = self.backfill_start()
            if self._timestamps_are_text():
                lower = iso_z(lower)
        else:
            aware = json_util.DEFAULT_JSON_OPTIONS.with_options(tz_aware=True, tzinfo=UTC)
            lower, last_id = (json_util.loads(p, json_options=aware) for p in position)
            self._skip = (lower, last_id)  # documents at ``lower`` up to ``last_id`` were sent
        # documents stamped in the last settle_s may still be on their way (several writers,
        # clocks): reading past them would move the position beyond records not yet visible
        upper: Any = self.now() - timedelta(seconds=self.source.settle_s)
        if isinstance(lower, str):
            upper = iso_z(upper)
        after: dict[str, Any] = {field: {"$gte": lower, "$lte": upper}}
        query = {"$and": [self.source.query, after]} if self.source.query else after
        self._cursor = (
            self._collection()
            .find(query)
            .sort([(field, 1), ("_id", 1)])
            .batch_size(self.config.batch_size)
        )
        self._cursor_at = position

    def _timestamps_are_text(self) -> bool:
        """Whether the collection's timestamps are strings (else BSON dates)."""
        field = self.source.timestamp_field
        some = self._collection().find_one({field: {"$exists": True}})
        return some is not None and isinstance(some.get(field), str)

    def _reset(self) -> None:
        if self._cursor is not None:
            self._cursor.close()
        self._cursor = None
        self._cursor_at = None
        self._skip = None

    def close(self) -> None:
        self._reset()
        if self._client is not None:
            self._client.close()
            self._client = None
