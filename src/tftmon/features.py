"""The one transform from windowed samples to model inputs, shared by training and serving."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.floating]


def fill_gaps(values: FloatArray) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_]]:
    """Carry the last observation forward over gaps, along axis 1 of ``[S, T, M]``.

    Leading gaps take the first observation. A metric never observed by a server stays
    NaN (callers treat it as absent).

    Returns:
        ``(filled, observed)``: the filled float32 array and the mask of real observations.
    """
    observed = ~np.isnan(values)
    t = values.shape[1]
    idx = np.where(observed, np.arange(t)[None, :, None], -1)
    np.maximum.accumulate(idx, axis=1, out=idx)
    # leading gaps: use the first observed position instead
    first = np.argmax(observed, axis=1)  # [S, M]
    idx = np.where(idx < 0, first[:, None, :], idx)
    filled = np.take_along_axis(values, idx, axis=1).astype(np.float32, copy=False)
    return filled, observed
