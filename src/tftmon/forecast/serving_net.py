"""A static-shape serving forward of a trained pytorch-forecasting TFT, with the same outputs.

pytorch-forecasting's ``TemporalFusionTransformer.forward`` handles any batch: encoders of
different lengths (packed LSTM sequences, ``int(encoder_lengths.max())``), every variable
through its own small network, row by row. Serving a fleet is a narrower case: windows
holding the full encoder, and within a cycle almost every server's window ending at the
same bucket. ``ServingNetwork`` computes the same function for that case, reusing the
trained modules and weights, with shapes fixed by the model (no graph breaks, so
``torch.compile`` and CUDA graphs apply) and far less work:

* **Variable selection in stacked form** (``forecast.serving_selection``): prescalers
  folded into the variable networks, which run as batched matmuls over stacked weights
  instead of one module call each.
* **Shared inputs once per cycle, not per server.** The known inputs (time of day and
  week, relative time) of windows ending at the same bucket are the same for every
  server: their variable networks run over the ``T`` time steps once, not ``B × T``.
  Observed flags are 0 or 1: their networks' two possible outputs are computed at load.
* **Static context per profile.** The static variable selection and the four static
  context networks depend only on the profile code: computed at load for every code.

* **Fused attention**: the heads batched into one ``scaled_dot_product_attention``, the
  static enrichment's context projected once per server.

Everything else (LSTMs, gates, output layers, output scaling) is the trained module
itself. ``tests/forecast/test_serving_net.py`` checks the outputs against the
network's own forward. The algebra reorders float32 sums only: outputs agree to about
1e-5 of the model scale.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812 (torch's own spelling)

from tftmon.forecast.serving_selection import Selection, UnsupportedNetworkError


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
        self.encoder_selection = Selection(
            network.encoder_variable_selection, dense, shared, binary
        )
        self.decoder_selection = Selection(network.decoder_variable_selection, [], decoder, [])
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
