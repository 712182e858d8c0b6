"""Variable selection of a trained TFT in stacked form, for ``forecast.serving_net``.

Each real input is a scalar, scaled up by its own ``Linear(1, d)`` before its gated
residual network; a linear map of a scalar is ``x·w + b``, so the prescaler folds into the
network's first layer and into the skip path's interpolation, and the selection network's
first layer over the concatenation of all prescaled inputs becomes one ``[V → hidden]``
matrix. ``Stack`` runs the per-variable networks as batched matmuls over stacked
weights; ``Selection`` groups the inputs by how they vary (per server, shared by every
server of a bucket, 0/1 flags) and computes each group's networks once where it can.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812 (torch's own spelling)


class UnsupportedNetworkError(ValueError):
    """The network has a part this forward does not implement (serve it the general way)."""


def _interpolation(n_in: int, n_out: int) -> torch.Tensor:
    """``[n_in, n_out]``: ``x @ M`` equals ``TimeDistributedInterpolation`` of ``x``."""
    eye = torch.eye(n_in)[:, None, :]
    return F.interpolate(eye, n_out, mode="linear", align_corners=True)[:, 0, :]


def _gated(mask: torch.Tensor) -> torch.Tensor:
    """The trainable-add gate of ``ResampleNorm`` and ``AddNorm``: ``2·sigmoid(mask)``."""
    return torch.sigmoid(mask) * 2.0


def _layer_norm(x: torch.Tensor, norm: nn.LayerNorm) -> torch.Tensor:
    out: torch.Tensor = F.layer_norm(x, norm.normalized_shape, norm.weight, norm.bias, norm.eps)
    return out


class Stack(nn.Module):
    """The single-variable gated residual networks of some variables, stacked ``[V, ...]``."""

    p: torch.Tensor
    q: torch.Tensor
    a: torch.Tensor
    c: torch.Tensor
    w2: torch.Tensor
    b2: torch.Tensor
    wg: torch.Tensor
    bg: torch.Tensor
    sw: torch.Tensor
    sb: torch.Tensor
    nw: torch.Tensor
    nb: torch.Tensor

    def __init__(self, vsn: Any, names: Sequence[str]) -> None:
        super().__init__()
        rows: dict[str, list[torch.Tensor]] = {k: [] for k in ("p", "q", "a", "c", "w2", "b2")}
        rows.update({k: [] for k in ("wg", "bg", "sw", "sb", "nw", "nb")})
        eps: set[float] = set()
        for name in names:
            pre, grn = vsn.prescalers[name], vsn.single_variable_grns[name]
            resample = getattr(grn, "resample_norm", None)
            if pre.in_features != 1 or resample is None or grn.context_size is not None:
                raise UnsupportedNetworkError(f"variable {name}: not a prescaled real")
            w, b = pre.weight[:, 0], pre.bias
            interp = _interpolation(resample.input_size, resample.output_size)
            gate = _gated(resample.mask) if resample.trainable_add else 1.0
            rows["p"].append(grn.fc1.weight @ w)
            rows["q"].append(grn.fc1.weight @ b + grn.fc1.bias)
            rows["a"].append((w @ interp) * gate)  # skip path: interp(x·w + b)·gate
            rows["c"].append((b @ interp) * gate)
            rows["sw"].append(resample.norm.weight)
            rows["sb"].append(resample.norm.bias)
            rows["w2"].append(grn.fc2.weight.T)
            rows["b2"].append(grn.fc2.bias)
            glu, add_norm = grn.gate_norm.glu, grn.gate_norm.add_norm
            if add_norm.trainable_add or add_norm.input_size != add_norm.skip_size:
                raise UnsupportedNetworkError(f"variable {name}: unexpected gate")
            rows["wg"].append(glu.fc.weight.T)
            rows["bg"].append(glu.fc.bias)
            rows["nw"].append(add_norm.norm.weight)
            rows["nb"].append(add_norm.norm.bias)
            eps |= {resample.norm.eps, add_norm.norm.eps}
        if len(eps) > 1:
            raise UnsupportedNetworkError("layer norms with different eps")
        self.eps = eps.pop() if eps else 1e-5
        self.size = len(names)
        for key, values in rows.items():
            stacked = torch.stack(values) if values else torch.zeros(0)
            self.register_buffer(key, stacked.detach().clone(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Outputs ``[V, N, d]`` of the variables' networks for scalar inputs ``x [V, N]``."""
        p = self.p
        d = int(self.a.shape[-1])
        hidden = F.elu(x[:, :, None] * p[:, None, :] + self.q[:, None, :])
        hidden = torch.baddbmm(self.b2[:, None, :], hidden, self.w2)
        gate = F.glu(torch.baddbmm(self.bg[:, None, :], hidden, self.wg), dim=-1)
        skip = x[:, :, None] * self.a[:, None, :] + self.c[:, None, :]
        skip = F.layer_norm(skip, (d,), eps=self.eps) * self.sw[:, None, :] + self.sb[:, None, :]
        out = F.layer_norm(gate + skip, (d,), eps=self.eps)
        return out * self.nw[:, None, :] + self.nb[:, None, :]


class Selection(nn.Module):
    """A ``VariableSelectionNetwork`` over scalar reals, grouped by how they vary.

    ``dense`` inputs vary per server and step (targets), ``shared`` inputs are the same for
    every server of the batch (``[T, n]``), ``binary`` inputs are 0 or 1 per server and step.
    """

    flag0: torch.Tensor
    flag_step: torch.Tensor
    first: torch.Tensor
    first_bias: torch.Tensor
    skip: torch.Tensor
    skip_bias: torch.Tensor
    to_groups: torch.Tensor

    def __init__(
        self, vsn: Any, dense: Sequence[str], shared: Sequence[str], binary: Sequence[str]
    ) -> None:
        super().__init__()
        names = list(vsn.input_sizes)
        if sorted(names) != sorted([*dense, *shared, *binary]) or len(names) < 2:
            raise UnsupportedNetworkError("variable selection over other inputs")
        flat = vsn.flattened_grn
        resample = getattr(flat, "resample_norm", None)
        if resample is None or flat.context_size is None:
            raise UnsupportedNetworkError("selection network without context or resampling")
        self.dense = Stack(vsn, dense)
        self.shared = Stack(vsn, shared)
        self.binary = Stack(vsn, binary)
        with torch.no_grad():  # a flag's network has two outputs: for 0 and for 1
            if binary:
                flag0 = self.binary(torch.zeros(len(binary), 1))[:, 0]
                flag_step = self.binary(torch.ones(len(binary), 1))[:, 0] - flag0
            else:
                flag0 = flag_step = torch.zeros(0, vsn.hidden_size)
        self.register_buffer("flag0", flag0.clone(), persistent=False)
        self.register_buffer("flag_step", flag_step.clone(), persistent=False)
        # the selection network's first layer and skip over the concatenated prescaled inputs
        order = [*dense, *shared, *binary]
        interp = _interpolation(resample.input_size, resample.output_size)
        gate = _gated(resample.mask) if resample.trainable_add else 1.0
        offsets, start = {}, 0
        for name in names:
            offsets[name] = (start, start + vsn.input_sizes[name])
            start += vsn.input_sizes[name]
        first, skip = [], []
        first_bias = flat.fc1.bias.clone()
        skip_bias = torch.zeros(resample.output_size)
        for name in order:
            lo, hi = offsets[name]
            pre = vsn.prescalers[name]
            w, b = pre.weight[:, 0], pre.bias
            first.append(flat.fc1.weight[:, lo:hi] @ w)
            first_bias = first_bias + flat.fc1.weight[:, lo:hi] @ b
            skip.append(w @ interp[lo:hi])
            skip_bias = skip_bias + b @ interp[lo:hi]
        buffers = {
            "first": torch.stack(first),  # [V, h]
            "first_bias": first_bias,
            "skip": torch.stack(skip) * gate,  # [V, V]
            "skip_bias": skip_bias * gate,
        }
        for key, value in buffers.items():
            self.register_buffer(key, value.detach().clone(), persistent=False)
        self.flat = flat
        self.skip_norm = resample.norm
        # weights come out in the network's order; the stacks hold them by group
        self.n = (len(dense), len(shared), len(binary))
        self.register_buffer(
            "to_groups", torch.tensor([names.index(n) for n in order]), persistent=False
        )

    def forward(
        self,
        dense: torch.Tensor,
        shared: torch.Tensor,
        binary: torch.Tensor,
        context: torch.Tensor,
    ) -> torch.Tensor:
        """``[B, T, d]`` from ``dense [B, T, nd]``, ``shared [T, ns]``, ``binary [B, T, nb]``
        and the static context ``[B, c]``."""
        b, t = context.shape[0], shared.shape[0]
        nd, ns, nb = self.n
        x = torch.cat([dense, shared.expand(b, t, ns), binary], dim=-1)  # [B, T, V] in groups
        flat = self.flat
        hidden = x @ self.first + self.first_bias
        hidden = hidden + (context @ flat.context.weight.T)[:, None, :]
        hidden = flat.fc2(F.elu(hidden))
        gate = flat.gate_norm.glu(hidden)
        skip = _layer_norm(x @ self.skip + self.skip_bias, self.skip_norm)
        weights = torch.softmax(_layer_norm(gate + skip, flat.gate_norm.add_norm.norm), dim=-1)
        weights = weights[..., self.to_groups]  # [B, T, V] in group order
        out = torch.einsum("btv,vtd->btd", weights[..., nd : nd + ns], self.shared(shared.T))
        if nd:
            outputs = self.dense(dense.permute(2, 0, 1).reshape(nd, b * t))  # [nd, B·T, d]
            w = weights[..., :nd].reshape(b * t, nd).T[:, :, None]
            out = out + (outputs * w).sum(0).reshape(b, t, -1)
        if nb:
            w = weights[..., nd + ns :]
            out = out + w @ self.flag0 + (w * binary) @ self.flag_step
        return out
