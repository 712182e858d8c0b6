"""Entry points of the daemon and the API key tool."""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from tftmon.cli.common import setup_logging
from tftmon.errors import ConfigError


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

    from tftmon.serving.remote_write_mapping import load_mapping
    from tftmon.settings import load_settings

    overrides = {k: v for k, v in vars(args).items() if v is not None}
    try:
        settings = load_settings(**overrides)
        settings.require_auth_configured()
        load_mapping(settings.remote_write_mapping)  # a bad mapping file: one line, exit 2
    except ConfigError as exc:
        print(f"tft_inference_daemon: {exc}", file=sys.stderr)
        return 2
    setup_logging(settings.log_level)

    import uvicorn

    tune_process(settings.inference_threads)

    from tftmon.api import create_app

    uvicorn.run(
        create_app(settings, on_started=freeze_startup_objects),
        host=settings.host,
        port=settings.port,
        workers=1,
        log_level=settings.log_level.lower(),
        access_log=False,
    )
    return 0


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
    parser.add_argument("--env-file", type=Path, default=Path(".env"))
    parser.add_argument("--secrets-file", type=Path, default=Path(".streamlit/secrets.toml"))
    parser.add_argument(
        "--daemon-url",
        default=os.environ.get("TFTMON_DAEMON_URL")
        or f"http://127.0.0.1:{os.environ.get('TFTMON_PORT', '8000')}",
        help="daemon URL written to the Streamlit secrets",
    )
    args = parser.parse_args(argv)

    from tftmon.keys import ensure_key, read_keys

    if args.show:
        keys = read_keys(args.env_file)
        if not keys:
            print(f"no key in {args.env_file}: run generate_api_key.py first", file=sys.stderr)
            return 1
        print(keys[-1])
        return 0
    before = len(read_keys(args.env_file))
    ensure_key(args.env_file, args.secrets_file, args.daemon_url, rotate=args.rotate)
    after = len(read_keys(args.env_file))
    if after > before:
        what = "added a new key" if before else "created a key"
        extra = f"; {before} older key(s) stay valid until removed" if before else ""
        print(
            f"{what} in {args.env_file} (TFTMON_API_KEYS, mode 0600) and {args.secrets_file}"
            f"{extra}. Print it with --show."
        )
    else:
        print(
            f"{args.env_file} already holds a key (use --rotate for a new one, --show to print it)"
        )
    return 0
