"""A static-shape serving forward of a trained pytorch-forecasting TFT, with the same outputs.

pytorch-forecasting's ``TemporalFusionTransformer.forward`` handles any batch: encoders of
different lengths (packed LSTM sequences, ``int(encoder_lengths.max())``), every variable
through its own small network, row by row. Serving a fleet is a narrower case: windows
holding the full encoder, and within a cycle almost every server's window ending at the
same bucket. ``ServingNetwork`` computes the same function for that case, reusing the
trained modules and weights, with shapes fixed by the model (no graph breaks, so
``torch.compile`` and CUDA graphs apply) and far less work:

* **Variable selection in stacked form.** Each real input is a scalar, scaled up by its
  own ``Linear(1, d)`` before its gated residual network; a linear map of a scalar is
  ``x·w + b``, so the prescaler folds into the first layer and into the skip path's
  interpolation, and the selection network's first layer over the concatenation of all
  prescaled inputs becomes one ``[V → hidden]`` matrix. The per-variable networks run as
  one batched matmul over all variables instead of one module call each.
* **Shared inputs once per cycle, not per server.** The known inputs (time of day and
  week, relative time) of windows ending at the same bucket are the same for every
  server: their variable networks run over the ``T`` time steps once, not ``B × T``.
  Observed flags are 0 or 1: their networks' two possible outputs are computed at load.
* **Static context per profile.** The static variable selection and the four static
  context networks depend only on the profile code: computed at load for every code.

Everything else (LSTMs, gates, enrichment, attention, output layers, output scaling) is
the trained module itself. ``tests/test_serving_net.py`` checks the outputs against the
network's own forward. The algebra reorders float32 sums only: outputs agree to about
1e-5 of the model scale.
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


def _grn_with_row_context(grn: Any, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
    """``GatedResidualNetwork`` over ``x [B, T, d]`` with a context that is constant in time
    (``[B, c]``): its projection is computed once per row instead of once per step."""
    resampled = grn.input_size != grn.output_size and not grn.residual
    residual = grn.resample_norm(x) if resampled else x
    hidden = grn.fc1(x) + (context @ grn.context.weight.T)[:, None, :]
    out: torch.Tensor = grn.gate_norm(grn.fc2(F.elu(hidden)), residual)
    return out


class _Attention(nn.Module):
    """``InterpretableMultiHeadAttention`` with its heads batched into one fused attention."""

    q_weight: torch.Tensor
    q_bias: torch.Tensor
    k_weight: torch.Tensor
    k_bias: torch.Tensor

    def __init__(self, mha: Any) -> None:
        super().__init__()
        self.heads, self.d = int(mha.n_head), int(mha.d_k)
        for key, layers in (("q", mha.q_layers), ("k", mha.k_layers)):
            weight = torch.cat([layer.weight for layer in layers])  # [heads·d, d_model]
            bias = torch.cat([layer.bias for layer in layers])
            self.register_buffer(f"{key}_weight", weight.detach().clone(), persistent=False)
            self.register_buffer(f"{key}_bias", bias.detach().clone(), persistent=False)
        self.v_layer, self.w_h = mha.v_layer, mha.w_h

    def forward(self, q: torch.Tensor, kv: torch.Tensor, blocked: torch.Tensor) -> torch.Tensor:
        """``[B, Tq, d_model]``; ``blocked [Tq, Tk]`` is True where a query may not attend."""
        b, tq, tk = q.shape[0], q.shape[1], kv.shape[1]
        queries = F.linear(q, self.q_weight, self.q_bias).view(b, tq, self.heads, self.d)
        keys = F.linear(kv, self.k_weight, self.k_bias).view(b, tk, self.heads, self.d)
        values = self.v_layer(kv)[:, None].expand(b, self.heads, tk, self.d)
        heads = F.scaled_dot_product_attention(
            queries.transpose(1, 2), keys.transpose(1, 2), values, attn_mask=~blocked
        )
        out: torch.Tensor = self.w_h(heads.mean(dim=1))
        return out


class _Stack(nn.Module):
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


class _Selection(nn.Module):
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
        self.dense = _Stack(vsn, dense)
        self.shared = _Stack(vsn, shared)
        self.binary = _Stack(vsn, binary)
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


class ServingNetwork(nn.Module):
    """The TFT's forward for full-length windows that end at the same bucket.

    Args:
        network: a trained ``TemporalFusionTransformer`` (its modules are shared, not copied).
        reals: the order of the continuous inputs (``hparams.x_reals``).
        dense: inputs that vary per server (the targets), as named in ``reals``.
        binary: 0/1 inputs per server (observed flags).

    Raises:
        UnsupportedNetworkError: the network has static reals, several static categoricals,
            categoricals that vary in time, or inputs of another kind.
    """

    static_selection: torch.Tensor
    static_hidden: torch.Tensor
    static_cell: torch.Tensor
    static_enrichment: torch.Tensor
    cols_dense: torch.Tensor
    cols_binary: torch.Tensor
    cols_shared: torch.Tensor
    cols_decoder: torch.Tensor

    def __init__(
        self,
        network: Any,
        *,
        reals: Sequence[str],
        dense: Sequence[str],
        binary: Sequence[str],
    ) -> None:
        super().__init__()
        hp = network.hparams
        if (
            list(hp.static_reals)
            or len(hp.static_categoricals) != 1
            or list(hp.time_varying_categoricals_encoder)
            or list(hp.time_varying_categoricals_decoder)
            or len(hp.x_categoricals) != 1
        ):
            raise UnsupportedNetworkError("only one static categorical and time-varying reals")
        reals = list(reals)
        encoder = list(network.encoder_variables)
        decoder = list(network.decoder_variables)
        shared = [n for n in encoder if n not in (*dense, *binary)]
        if set(decoder) - set(shared):
            raise UnsupportedNetworkError("decoder inputs that vary per server")
        self.encoder_steps = int(hp.max_encoder_length)
        self.encoder_selection = _Selection(
            network.encoder_variable_selection, dense, shared, binary
        )
        self.decoder_selection = _Selection(network.decoder_variable_selection, [], decoder, [])
        self.idx = {
            "dense": [reals.index(n) for n in dense],
            "binary": [reals.index(n) for n in binary],
            "shared": [reals.index(n) for n in shared],
            "decoder": [reals.index(n) for n in decoder],
        }
        for key, cols in self.idx.items():
            self.register_buffer(f"cols_{key}", torch.tensor(cols), persistent=False)
        self.network = network
        codes = int(hp.embedding_sizes[hp.static_categoricals[0]][0])
        with torch.no_grad():  # static context per profile code
            x_cat = torch.arange(codes)[:, None, None]
            vectors = network.input_embeddings(x_cat)
            static, _ = network.static_variable_selection(
                {name: vectors[name][:, 0] for name in network.static_variables}
            )
            tables = {
                "selection": network.static_context_variable_selection(static),
                "hidden": network.static_context_initial_hidden_lstm(static),
                "cell": network.static_context_initial_cell_lstm(static),
                "enrichment": network.static_context_enrichment(static),
            }
        for key, table in tables.items():
            self.register_buffer(f"static_{key}", table.detach().clone(), persistent=False)
        self.layers = int(hp.lstm_layers)
        self.attention = _Attention(network.multihead_attn)

    def attention_mask(self, horizon: int) -> torch.Tensor:
        """``[H, E + H]``: True where a decoder step may not attend (causal, as trained)."""
        e = self.encoder_steps
        steps = torch.arange(horizon)
        decoder = steps[None, :] >= steps[:, None]
        if not self.network.hparams.causal_attention:
            decoder = torch.zeros_like(decoder)
        return torch.cat([torch.zeros(horizon, e, dtype=torch.bool), decoder], dim=1)

    def forward(
        self,
        encoder_cont: torch.Tensor,
        encoder_shared: torch.Tensor,
        decoder_shared: torch.Tensor,
        codes: torch.Tensor,
        target_scale: torch.Tensor,
    ) -> torch.Tensor:
        """Quantiles ``[B, H, targets, Q]`` on the targets' feature scale.

        Args:
            encoder_cont: ``[B, E, reals]`` scaled inputs (only the per-server columns read).
            encoder_shared: ``[E, reals]``, the known inputs every server shares.
            decoder_shared: ``[H, reals]``.
            codes: ``[B]`` profile codes.
            target_scale: ``[B, targets, 2]`` centre and scale per target.
        """
        enc, dec, hidden, cell = self.select(encoder_cont, encoder_shared, decoder_shared, codes)
        encoder_output, decoder_output = self.recur(enc, dec, hidden, cell)
        return self.fuse(enc, dec, encoder_output, decoder_output, codes, target_scale)

    def select(
        self,
        encoder_cont: torch.Tensor,
        encoder_shared: torch.Tensor,
        decoder_shared: torch.Tensor,
        codes: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Variable selection and the LSTMs' initial state (one graph when compiled)."""
        b = encoder_cont.shape[0]
        horizon = decoder_shared.shape[0]
        enc = self.encoder_selection(
            encoder_cont[..., self.cols_dense],
            encoder_shared[:, self.cols_shared],
            encoder_cont[..., self.cols_binary],
            self.static_selection[codes],
        )
        dec = self.decoder_selection(
            encoder_cont.new_zeros(b, horizon, 0),
            decoder_shared[:, self.cols_decoder],
            encoder_cont.new_zeros(b, horizon, 0),
            self.static_selection[codes],
        )
        hidden = self.static_hidden[codes][None].expand(self.layers, -1, -1).contiguous()
        cell = self.static_cell[codes][None].expand(self.layers, -1, -1).contiguous()
        return enc, dec, hidden, cell

    def recur(
        self, enc: torch.Tensor, dec: torch.Tensor, hidden: torch.Tensor, cell: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The encoder and decoder LSTMs (cuDNN or oneDNN kernels; never compiled)."""
        net = self.network
        encoder_output, state = nn.LSTM.forward(net.lstm_encoder, enc, (hidden, cell))
        decoder_output, _ = nn.LSTM.forward(net.lstm_decoder, dec, state)
        return encoder_output, decoder_output

    def fuse(
        self,
        enc: torch.Tensor,
        dec: torch.Tensor,
        encoder_output: torch.Tensor,
        decoder_output: torch.Tensor,
        codes: torch.Tensor,
        target_scale: torch.Tensor,
    ) -> torch.Tensor:
        """Gates, static enrichment, attention and outputs (one graph when compiled)."""
        net = self.network
        e, horizon = self.encoder_steps, dec.shape[1]
        lstm_encoder = net.post_lstm_add_norm_encoder(
            net.post_lstm_gate_encoder(encoder_output), enc
        )
        lstm_decoder = net.post_lstm_add_norm_decoder(
            net.post_lstm_gate_decoder(decoder_output), dec
        )
        lstm_output = torch.cat([lstm_encoder, lstm_decoder], dim=1)
        attn_input = _grn_with_row_context(
            net.static_enrichment, lstm_output, self.static_enrichment[codes]
        )
        blocked = self.attention_mask(horizon).to(attn_input.device)
        attn_output = self.attention(attn_input[:, e:], attn_input, blocked)
        output = net.post_attn_gate_norm(attn_output, attn_input[:, e:])
        output = net.pos_wise_ff(output)
        output = net.pre_output_gate_norm(output, lstm_output[:, e:])
        layers = net.output_layer if net.n_targets > 1 else [net.output_layer]
        outputs = [layer(output) for layer in layers]
        scales = [target_scale[:, i] for i in range(len(outputs))]
        if net.n_targets == 1:
            single: torch.Tensor = net.transform_output(outputs[0], target_scale=scales[0])
            return single[:, :, None]
        return torch.stack(list(net.transform_output(outputs, target_scale=scales)), dim=2)
