"""``torch.compile`` of the serving network, built in the background while the eager one serves.

Compiling takes tens of seconds (about 35 s per shape on 2 CPU cores), so the daemon never
waits for it: ``CompiledServing`` starts a thread that compiles and runs the network once
for every batch size of ``sizes`` and every horizon it will be asked for, then switches
over. Until then, and for any shape it did not prepare, the eager network answers. Batches
are padded up to the next prepared size (shapes stay static: one graph per size, no
recompilation while serving), and the padding rows are dropped from the answer.

Inductor keeps what it generated in ``TORCHINDUCTOR_CACHE_DIR`` (``cache_dir``): a restart
with the same model reuses it and skips the code generation, which is most of the time.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

import torch

logger = logging.getLogger(__name__)

# positions of the serving network's arguments that carry one row per server
BATCHED: Final = (0, 3, 4)
MODES: Final = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


def padded(args: Sequence[torch.Tensor], size: int) -> list[torch.Tensor]:
    """``args`` with their batch dimension padded to ``size`` by repeating the first row
    (real values, so padding never meets a NaN or a zero scale), all contiguous: the
    compiled graphs are guarded on strides as well as shapes."""
    out = [arg.contiguous() for arg in args]
    for i in BATCHED:
        arg = args[i]
        extra = size - arg.shape[0]
        if extra > 0:
            out[i] = torch.cat([arg, arg[:1].expand(extra, *arg.shape[1:])])
    return out


class CompiledParts:
    """The serving network's ``select`` and ``fuse`` compiled as one graph each, with its
    LSTMs between them run by their own kernels (Dynamo does not trace ``nn.LSTM``)."""

    def __init__(self, module: Any, options: dict[str, Any]) -> None:
        self.module = module
        compile_: Any = torch.compile  # overloaded; its typed overloads reject **options
        self.select = compile_(module.select, **options)
        self.fuse = compile_(module.fuse, **options)

    def __call__(self, *args: torch.Tensor) -> torch.Tensor:
        encoder_cont, encoder_shared, decoder_shared, codes, target_scale = args
        enc, dec, hidden, cell = self.select(encoder_cont, encoder_shared, decoder_shared, codes)
        encoder_output, decoder_output = self.module.recur(enc, dec, hidden, cell)
        out: torch.Tensor = self.fuse(enc, dec, encoder_output, decoder_output, codes, target_scale)
        return out


class CompiledServing:
    """Call the serving network compiled once ready, eager until then.

    Args:
        module: the ``ServingNetwork``.
        sizes: batch sizes to compile for, ascending (batches are padded up to one).
        horizons: decoder lengths to compile for (the horizon, and the selection's steps).
        mode: ``torch.compile`` mode (``reduce-overhead`` adds CUDA graphs).
        cache_dir: where inductor keeps generated code between restarts (None: its default).
    """

    def __init__(
        self,
        module: torch.nn.Module,
        *,
        sizes: Sequence[int],
        horizons: Sequence[int],
        mode: str = "default",
        cache_dir: Path | None = None,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"compile mode {mode!r} is not one of {MODES}")
        self.module = module
        self.sizes = sorted(set(sizes))
        self.horizons = sorted(set(horizons))
        self.mode = mode
        self.cache_dir = cache_dir
        self.state = "eager"
        self.seconds: float | None = None
        self._compiled: Callable[..., torch.Tensor] | None = None
        self._thread: threading.Thread | None = None

    def start(self, example: Sequence[torch.Tensor]) -> None:
        """Compile in a background thread from ``example`` arguments (one server's)."""
        if self.cache_dir is not None:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            # inductor reads its cache folder from the environment only (and pins it there)
            os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(self.cache_dir)
        self.state = "compiling"
        self._thread = threading.Thread(
            target=self._build, args=(list(example),), name="tftmon-compile", daemon=True
        )
        self._thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the background compile ends; True when the compiled path serves."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self._compiled is not None

    def _build(self, example: list[torch.Tensor]) -> None:
        started = time.perf_counter()
        graphs = len(self.sizes) * len(self.horizons)
        dynamo = torch._dynamo.config  # one entry per prepared shape, beyond its default 8
        limit = "recompile_limit" if hasattr(dynamo, "recompile_limit") else "cache_size_limit"
        setattr(dynamo, limit, max(getattr(dynamo, limit), graphs + 2))
        try:
            options: dict[str, Any] = {"dynamic": False, "fullgraph": True}
            if self.mode != "default":
                options["mode"] = self.mode
            compiled = CompiledParts(self.module, options)
            # inference tensors, as the cycle passes: graphs are guarded on dispatch keys
            with torch.inference_mode():
                for horizon in self.horizons:
                    for size in self.sizes:
                        args = padded([arg.clone() for arg in example], size)
                        args[2] = example[2][:horizon].clone()
                        compiled(*args)
                        compiled(*args)  # CUDA graphs record on a later call
        except Exception as exc:  # the eager network keeps serving; say why once
            self.state = f"failed: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
            logger.warning("torch.compile of the serving network failed, eager serves: %s", exc)
            return
        self.seconds = time.perf_counter() - started
        self._compiled = compiled  # one reference swap; __call__ reads it once
        self.state = "compiled"
        logger.info(
            "serving network compiled in %.1f s (sizes %s, horizons %s, mode %s)",
            self.seconds,
            self.sizes,
            self.horizons,
            self.mode,
        )

    def __call__(self, *args: torch.Tensor) -> torch.Tensor:
        """The network's output for ``args``: compiled when a prepared shape fits."""
        compiled = self._compiled
        b, horizon = args[0].shape[0], args[2].shape[0]
        if compiled is None or b > self.sizes[-1] or horizon not in self.horizons:
            out: torch.Tensor = self.module(*args)
            return out
        size = next(s for s in self.sizes if s >= b)
        # a shape or guard not prepared runs eager rather than compiling for seconds mid-cycle
        with torch.compiler.set_stance("eager_on_recompile"):
            return compiled(*padded(args, size))[:b].clone()
