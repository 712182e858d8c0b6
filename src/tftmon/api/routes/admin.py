"""``POST /admin/reload``: swap in the model ``models/LATEST`` names, between two cycles."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool

from tftmon.api.deps import StateDep, protected_router
from tftmon.api.errors import error_responses
from tftmon.errors import ModelReloadError
from tftmon.schemas import ReloadResponse

router = protected_router("admin")


@router.post(
    "/admin/reload",
    response_model=ReloadResponse,
    responses=error_responses(409),
)
async def reload_model(state: StateDep) -> ReloadResponse:
    """Load the model ``LATEST`` (or ``TFTMON_MODEL_VERSION``) names; takes no path or body.

    Requests keep being served from the old model while the new one loads; on failure the
    old model stays (409, with the reason, also in ``/status``).
    """
    result = await run_in_threadpool(state.models.reload)
    if not result.reloaded:
        raise ModelReloadError(
            f"model not reloaded: {result.error}",
            extra={"model_version": result.model_version},
        )
    state.wake_inference.set()
    return ReloadResponse(
        reloaded=True,
        model_version=result.model_version,
        previous_version=result.previous_version,
    )
