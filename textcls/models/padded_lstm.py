"""An `nn.LSTM` on padded rows, for the ONNX export (which cannot read packed sequences): the same
outputs as the packed LSTM the models train with, from the same parameters."""

from __future__ import annotations

import torch
from torch import nn


def _reverse_index(lengths: torch.Tensor, T: int) -> torch.Tensor:
    """(B, T) for each row, the position read when its real tokens are reversed (padding stays put)."""
    t = torch.arange(T, device=lengths.device).unsqueeze(0)  # (1, T)
    last = lengths.unsqueeze(1) - 1
    return torch.where(t <= last, last - t, t)


def _flip(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """(B, T, H) with each row's real positions reversed by `index` (B, T)."""
    return torch.gather(x, 1, index.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


class PaddedLSTM(nn.Module):
    """An `nn.LSTM` (batch_first) run on padded rows: the same outputs as over packed sequences.
    Each direction of each layer is a one-way LSTM; the backward one reads each row's real tokens
    reversed, so padding never reaches a real token."""

    def __init__(self, lstm: nn.LSTM):
        super().__init__()
        self.layers = nn.ModuleList()
        directions = 2 if lstm.bidirectional else 1
        for layer in range(lstm.num_layers):
            ways = nn.ModuleList()
            for d in range(directions):
                suffix = f"_l{layer}" + ("_reverse" if d else "")
                size = lstm.input_size if layer == 0 else lstm.hidden_size * directions
                one = nn.LSTM(size, lstm.hidden_size, batch_first=True)
                for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):  # the same parameters, not copies
                    setattr(one, f"{name}_l0", getattr(lstm, name + suffix))
                ways.append(one)
            self.layers.append(ways)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, I) -> (B, T, H * directions) states (0 on padding), and (B, H * directions) the last
        state of each direction (forward: at the last real token; backward: at the first)."""
        T = x.shape[1]
        index = _reverse_index(lengths, T)
        mask = (torch.arange(T, device=x.device).unsqueeze(0) < lengths.unsqueeze(1)).unsqueeze(-1)
        last = (lengths - 1).clamp(min=0).view(-1, 1, 1)
        for ways in self.layers:
            forward, _ = ways[0](x)
            outs, finals = [forward], [torch.gather(forward, 1, last.expand(-1, 1, forward.shape[-1])).squeeze(1)]
            if len(ways) > 1:
                backward, _ = ways[1](_flip(x, index))
                backward = _flip(backward, index)
                outs.append(backward)
                finals.append(backward[:, 0])
            x = torch.cat(outs, dim=-1) * mask
        return x, torch.cat(finals, dim=-1)
