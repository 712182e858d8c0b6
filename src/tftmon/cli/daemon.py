"""Entry points of the daemon and the API key tool."""

from __future__ import annotations

import argparse
import gc
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tftmon.cli.common import setup_logging
from tftmon.cli.http_limits import limited_protocol
from tftmon.errors import ConfigError
from tftmon.keys import KeyRing, KeyWatcher

if TYPE_CHECKING:
    from tftmon.settings import Settings

logger = logging.getLogger(__name__)


def daemon_main(argv: Sequence[str] | None = None) -> int:
    """``tft_inference_daemon.py``: run the inference daemon under uvicorn (one worker)."""
    parser = argparse.ArgumentParser(
        prog="tft_inference_daemon.py",
        description="tftmon inference daemon: POST /feed, GET /predictions/current, /status, ...",
    )
    parser.add_argument("--host", help="bind address (TFTMON_HOST, default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (TFTMON_PORT, default 8000)")
    parser.add_argument("--data-dir", type=Path, help="history store folder (TFTMON_DATA_DIR)")
    args = parser.parse_args(argv)

    from tftmon.serving.data_dir import lock_data_dir, prepare_data_dir
    from tftmon.serving.remote_write_mapping import load_mapping
    from tftmon.settings import load_settings

    overrides = {k: v for k, v in vars(args).items() if v is not None}
    os.umask(0o077)  # every file the daemon writes is its user's alone
    try:
        settings = load_settings(**overrides)
        settings.require_auth_configured()
        load_mapping(settings.remote_write_mapping)  # a bad mapping file: one line, exit 2
        setup_logging(settings.log_level)
        prepare_data_dir(settings.data_dir, settings.db_path)
        data_lock = lock_data_dir(settings.data_dir)  # held until this process ends
    except ConfigError as exc:
        print(f"tft_inference_daemon: {exc}", file=sys.stderr)
        return 2

    import uvicorn

    tune_process(settings.inference_threads)

    from tftmon.api import create_app
    from tftmon.api.deps import install_keyring

    app = create_app(settings, on_started=freeze_startup_objects)
    ring = KeyRing(settings.api_keys)
    install_keyring(app, ring)
    watcher = watch_keys(ring, overrides, settings.api_keys_file)
    try:
        uvicorn.run(app, **server_options(settings))
    finally:
        watcher.stop()
        data_lock.release()
    return 0


def watch_keys(ring: KeyRing, overrides: dict[str, Any], key_file: Path | None) -> KeyWatcher:
    """Reload the keys when ``.env`` or ``TFTMON_API_KEYS_FILE`` changes or on SIGHUP; the
    new set is read as at start (environment, ``.env``, the key file)."""
    from tftmon.settings import load_settings

    def load() -> list[str]:
        return load_settings(**overrides).api_keys

    paths = [Path(".env"), *([key_file] if key_file else [])]
    watcher = KeyWatcher(ring, load, paths)
    if hasattr(signal, "SIGHUP"):  # POSIX; uvicorn handles only SIGINT and SIGTERM
        signal.signal(signal.SIGHUP, lambda signum, frame: watcher.request())
    watcher.start()
    return watcher


def server_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's arguments: one worker, no access log (keys never reach a log), and the HTTP
    limits of ``TFTMON_HTTP_*`` (``cli/http_limits.py``; idle keep-alive: 5 s)."""
    protocol = limited_protocol(
        max_head_bytes=settings.http_max_head_bytes,
        head_timeout_s=settings.http_head_timeout_s,
        body_timeout_s=settings.http_body_timeout_s,
    )
    return {
        "host": settings.host,
        "port": settings.port,
        "workers": 1,
        "log_level": settings.log_level.lower(),
        "access_log": False,
        "http": protocol or "h11",
        "h11_max_incomplete_event_size": settings.http_max_head_bytes,
        "timeout_keep_alive": 5,
        "limit_concurrency": settings.http_max_connections or None,
    }


def tune_process(threads: int) -> None:
    """Process-wide settings of a serving daemon; only this entry point applies them.

    Request threads wait for the GIL while the inference thread computes; a shorter switch
    interval (default 5 ms) bounds each wait and keeps ``/feed`` latency flat. Torch's
    intra-op threads are capped at ``TFTMON_INFERENCE_THREADS``: through the environment
    torch reads when it is first imported (a daemon serving the baseline never imports
    it), or directly if it is already loaded.
    """
    sys.setswitchinterval(0.0005)
    os.environ["OMP_NUM_THREADS"] = str(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


def freeze_startup_objects() -> None:
    """Move the long-lived start-up objects out of the collector's view.

    A full collection then walks only what inference cycles create, so it cannot stall
    requests for long.
    """
    gc.collect()
    gc.freeze()


def keygen_main(argv: Sequence[str] | None = None) -> int:
    """``generate_api_key.py``: create, rotate or show the daemon's API key."""
    parser = argparse.ArgumentParser(
        prog="generate_api_key.py",
        description="Write a strong API key to .env (TFTMON_API_KEYS) and "
        ".streamlit/secrets.toml. Prints no key unless --show is given.",
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--rotate", action="store_true", help="add a new key; old keys stay valid")
    group.add_argument("--show", action="store_true", help="print the current key")
    parser.add_argument(
        "--scopes",
        help="add a new key limited to these scopes, e.g. ingest (senders) or read+admin; "
        "of ingest, read, admin, joined by +. Default: a key with every scope",
    )
    parser.add_argument("--env-file", type=Path, default=Path(".env"))
    parser.add_argument("--secrets-file", type=Path, default=Path(".streamlit/secrets.toml"))
    parser.add_argument(
        "--daemon-url",
        default=os.environ.get("TFTMON_DAEMON_URL")
        or f"http://127.0.0.1:{os.environ.get('TFTMON_PORT', '8000')}",
        help="daemon URL written to the Streamlit secrets",
    )
    args = parser.parse_args(argv)

    from tftmon.keys import ensure_key, parse_scopes, read_keys

    if args.scopes is not None:
        if args.show:
            parser.error("--scopes adds a key; print it afterwards with --show")
        try:
            parse_scopes(args.scopes)
        except ValueError as exc:
            parser.error(str(exc))

    if args.show:
        keys = read_keys(args.env_file)
        if not keys:
            print(f"no key in {args.env_file}: run generate_api_key.py first", file=sys.stderr)
            return 1
        print(keys[-1])
        return 0
    before = len(read_keys(args.env_file))
    ensure_key(
        args.env_file, args.secrets_file, args.daemon_url, rotate=args.rotate, scopes=args.scopes
    )
    after = len(read_keys(args.env_file))
    if after > before:
        what = "added a new key" if before else "created a key"
        if args.scopes:
            what += f" (scopes {args.scopes}; the daemon re-reads .env within seconds)"
        extra = f"; {before} older key(s) stay valid until removed" if before else ""
        reads = args.scopes is None or "read" in parse_scopes(args.scopes)
        also = f" and {args.secrets_file}" if reads else ""
        print(
            f"{what} in {args.env_file} (TFTMON_API_KEYS, mode 0600){also}"
            f"{extra}. Print it with --show."
        )
    else:
        print(
            f"{args.env_file} already holds a key (use --rotate for a new one, --show to print it)"
        )
    return 0
