"""``BaseAdapter``: the poll loop every adapter shares; subclasses only ``fetch(since)``.

One poll: fetch a page from the source after the checkpoint, map and validate it, POST the
valid records to the daemon (retry with backoff inside ``tftmon.client``), and only after
the daemon acknowledged them save the page's end position durably. A fault anywhere
(source down, daemon down, a crash) therefore never moves the position past a record the
daemon has not stored; at worst a page is sent twice and the daemon drops the duplicates.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, Final, Generic, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tftmon.adapters.checkpoint import Checkpoint, CheckpointFile
from tftmon.adapters.mapping import FieldMapping, MappingConfig, MappingReport
from tftmon.client import TftmonClient
from tftmon.errors import (
    ConfigError,
    DaemonResponseError,
    DaemonUnavailableError,
    SourceError,
    field_problems,
)
from tftmon.retry import Backoff

logger = logging.getLogger(__name__)

MAX_RETRY_WAIT_S: Final = 60.0  # the longest wait of the poll loop after a failure
SourceT = TypeVar("SourceT", bound=BaseModel)


class AdapterConfig(BaseModel):
    """An adapter's JSON config file (see ``adapters/*_adapter_config.json.template``)."""

    model_config = ConfigDict(extra="forbid")

    daemon_url: str | None = Field(None, description="default: TFTMON_DAEMON_URL or :8000")
    interval_s: float = Field(30.0, gt=0, description="seconds between polls once caught up")
    batch_size: int = Field(5000, ge=1, le=10_000, description="records per fetch and POST")
    backfill_hours: float = Field(24.0, ge=0, description="history sent on the first run")
    max_pages_per_poll: int = Field(1000, ge=1)
    state_file: Path | None = Field(None, description="default data/adapters/<kind>.state.json")
    mapping: MappingConfig = Field(default_factory=MappingConfig)
    source: dict[str, Any] = Field(default_factory=dict)


def load_config(path: Path) -> AdapterConfig:
    """Read and validate a config file; every problem is a ``ConfigError`` naming it."""
    try:
        raw = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from exc
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"config {path} is not valid JSON: {exc}") from exc
    try:
        return AdapterConfig.model_validate(_without_comments(raw))
    except ValidationError as exc:
        raise ConfigError(f"config {path}: {_describe(exc)}") from exc


def _without_comments(value: Any) -> Any:
    """JSON has no comments: keys starting with ``_`` are notes for people, dropped here."""
    if isinstance(value, dict):
        return {k: _without_comments(v) for k, v in value.items() if not str(k).startswith("_")}
    return value


def _describe(exc: ValidationError) -> str:
    return "; ".join(
        f"{field}: {message}" for field, message in field_problems(exc.errors(), "config")
    )


@dataclass
class Batch:
    """One page from the source.

    Attributes:
        documents: source documents, oldest first.
        position: the source's sort values after the last document (None: nothing new).
        timestamp: the last document's time, for logs and the state file.
        more: the source holds more right now (fetch again without waiting).
    """

    documents: list[Mapping[str, Any]]
    position: list[Any] | None
    timestamp: str | None = None
    more: bool = False


@dataclass
class PollReport:
    """What one ``poll`` did, for logs and ``--once --verbose``."""

    pages: int = 0
    fetched: int = 0
    mapping: MappingReport = field(default_factory=MappingReport)
    sent: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    rejected_reasons: list[str] = field(default_factory=list)
    more: bool = False
    checkpoint: Checkpoint | None = None
    sample: list[dict[str, Any]] = field(default_factory=list)

    def lines(self) -> list[str]:
        """A readable summary, one fact per line."""
        out = [
            f"fetched {self.fetched} documents in {self.pages} page(s)",
            f"mapped {self.mapping.mapped}, skipped {sum(self.mapping.skipped.values())}",
        ]
        out += [f"  skipped {n}: {reason}" for reason, n in self.mapping.skipped.most_common()]
        out.append(
            f"sent {self.sent}: accepted {self.accepted}, duplicates {self.duplicates}, "
            f"rejected by the daemon {self.rejected}"
        )
        out += [f"  rejected: {reason}" for reason in self.rejected_reasons[:5]]
        if self.checkpoint is not None:
            out.append(
                f"checkpoint: {self.checkpoint.timestamp} position {self.checkpoint.position}"
            )
        return out


@dataclass
class _InFlight:
    """A page whose POST may still be running."""

    sending: Future[None] | None
    batch: Batch
    records: int


class BaseAdapter(ABC, Generic[SourceT]):
    """Moves records from one source to the daemon, each exactly once, through faults.

    Subclasses set ``kind`` and ``source_model`` (the pydantic model of the config's
    ``source`` section) and implement ``fetch``; they may override ``source_id`` and
    ``close``.

    Args:
        config: the validated config file.
        client: the daemon's client (None only for a dry run).
        now: the clock (tests inject one).
    """

    kind: ClassVar[str]
    source_model: ClassVar[type[BaseModel]]

    def __init__(
        self,
        config: AdapterConfig,
        client: TftmonClient | None,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        try:
            self.source: SourceT = self.source_model.model_validate(config.source)  # type: ignore[assignment]
        except ValidationError as exc:
            raise ConfigError(f"{self.kind} source: {_describe(exc)}") from exc
        self.config = config
        self.client = client
        self.now = now
        self.mapping = FieldMapping.from_config(config.mapping)
        self.state = CheckpointFile(
            config.state_file or Path("data/adapters") / f"{self.kind}.state.json"
        )
        self.checkpoint = self.state.load(self.source_id())

    @abstractmethod
    def fetch(self, since: Checkpoint | None) -> Batch:
        """Up to ``config.batch_size`` documents after ``since`` (None: the backfill start).

        Raises:
            SourceError: the source could not be read; the caller retries later.
        """

    def source_id(self) -> str:
        """What the checkpoint's position refers to (kind and address, no credentials)."""
        return self.kind

    def close(self) -> None:
        """Release connections to the source."""

    def backfill_start(self) -> datetime:
        """Where a first run starts: ``backfill_hours`` before now."""
        return self.now() - timedelta(hours=self.config.backfill_hours)

    # ------------------------------------------------------------------ the loop

    def poll(self, *, dry_run: bool = False, stop: threading.Event | None = None) -> PollReport:
        """Fetch, map and send until caught up (or ``max_pages_per_poll`` pages).

        A dry run fetches and maps one page and sends nothing, moving no checkpoint. When
        ``stop`` is set the poll ends after the page in flight (its position saved).

        Raises:
            SourceError, DaemonUnavailableError: try again later; nothing was skipped.
            ConfigError: the daemon refused the key or the batch size; retrying cannot help.
        """
        report = PollReport(checkpoint=self.checkpoint)
        if dry_run:
            batch = self.fetch(self.checkpoint)
            records, mapped = self.mapping.map_many(batch.documents)
            report.pages, report.fetched, report.more = 1, len(batch.documents), batch.more
            report.mapping.add(mapped)
            report.sample = records[:5]
            return report
        # While the daemon stores page N, page N+1 is fetched and mapped; page N's position
        # is saved only once its POST was acknowledged, and always before page N+1's.
        since = self.checkpoint
        pending: _InFlight | None = None
        with ThreadPoolExecutor(1, thread_name_prefix=f"{self.kind}-send") as sender:
            try:
                for _ in range(self.config.max_pages_per_poll):
                    if stop is not None and stop.is_set():
                        break
                    batch = self.fetch(since)
                    report.pages += 1
                    report.fetched += len(batch.documents)
                    records, mapped = self.mapping.map_many(batch.documents)
                    report.mapping.add(mapped)
                    report.more = batch.more
                    if pending is not None:
                        self._settle(pending, report)
                        pending = None
                    sending = sender.submit(self._send, records, report) if records else None
                    pending = _InFlight(sending, batch, len(records))
                    if batch.position is not None:
                        since = Checkpoint(batch.position, batch.timestamp, self.source_id())
                    if not batch.more:
                        break
            finally:
                if pending is not None:  # even when a fetch failed: keep what was acknowledged
                    self._settle(pending, report)
        return report

    def _settle(self, pending: _InFlight, report: PollReport) -> None:
        """Wait for a page's POST; once acknowledged, save the position after it."""
        if pending.sending is not None:
            pending.sending.result()  # raises what the POST raised: the position stays
        if pending.batch.position is None:
            return
        sent_before = self.checkpoint.records_sent if self.checkpoint else 0
        self.checkpoint = self.state.save(
            Checkpoint(
                position=pending.batch.position,
                timestamp=pending.batch.timestamp,
                source=self.source_id(),
                records_sent=sent_before + pending.records,
            )
        )
        report.checkpoint = self.checkpoint

    def _send(self, records: list[dict[str, Any]], report: PollReport) -> None:
        assert self.client is not None, "only a dry run has no client"
        size = self.config.batch_size
        for start in range(0, len(records), size):
            chunk = records[start : start + size]
            try:
                answer = self.client.feed_raw(orjson.dumps(chunk))
            except DaemonResponseError as exc:
                if exc.status_code == 422:  # not one record of the chunk was valid
                    report.sent += len(chunk)
                    report.rejected += len(chunk)
                    report.rejected_reasons.append(exc.detail)
                    logger.error("daemon refused all %d records: %s", len(chunk), exc.detail)
                    continue
                raise ConfigError(
                    f"daemon refused the batch ({exc}); check the API key and batch_size"
                ) from exc
            report.sent += len(chunk)
            report.accepted += int(answer.get("accepted", 0))
            report.duplicates += int(answer.get("duplicates", 0))
            for item in answer.get("rejected", []):
                report.rejected += 1
                errors = item.get("errors") or [{}]
                report.rejected_reasons.append(str(errors[0].get("message", item)))

    def run(self, stop: threading.Event, interval_s: float | None = None) -> None:
        """Poll until ``stop`` is set; source and daemon faults are retried with backoff."""
        interval = interval_s or self.config.interval_s
        # 2, 4, 8 ... s after consecutive failures, never past the interval nor a minute
        backoff = Backoff(initial_s=2.0, cap_s=min(interval, MAX_RETRY_WAIT_S), jitter=0.0)
        failures = 0
        while not stop.is_set():
            try:
                report = self.poll(stop=stop)
            except (SourceError, DaemonUnavailableError) as exc:
                failures += 1
                wait = backoff.delay(failures - 1)
                logger.warning("%s; position kept, retrying in %.0f s", exc, wait)
            except ConfigError:
                raise
            except Exception:  # a bug must not end a long-running adapter silently
                failures += 1
                wait = backoff.delay(failures - 1)
                logger.exception("poll failed; retrying in %.0f s", wait)
            else:
                failures = 0
                wait = 0.0 if report.more else interval
                if report.fetched:
                    logger.info("%s", " | ".join(report.lines()[:2] + report.lines()[-2:]))
            stop.wait(wait)
        self.close()
