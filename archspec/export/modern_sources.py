"""Copies, for the generated source, of the modern layers' modules that torch.nn lacks: archspec's own
ChannelShuffle, LayerScale and PointwiseLinear, and torchvision's LayerNorm2d and StochasticDepth (the
generated file imports only torch). Each computes exactly what the original computes, in train mode too: the
stochastic depth draws the same random numbers in the same order as torchvision.ops.stochastic_depth.
"""

from __future__ import annotations

MODERN_SOURCES = {"PointwiseLinear": '''
class PointwiseLinear(nn.Linear):
    """nn.Linear over the channels of each pixel (ConvNeXt's pointwise layers)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.linear(x.permute(0, 2, 3, 1), self.weight, self.bias)
        return x.permute(0, 3, 1, 2)
''', "ChannelShuffle": '''
class ChannelShuffle(nn.Module):
    """ShuffleNet's channel shuffle: the channels, as `groups` rows of C / groups, transposed."""

    def __init__(self, groups: int) -> None:
        super().__init__()
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = x.size()
        x = x.view(batch, self.groups, channels // self.groups, height, width)
        x = torch.transpose(x, 1, 2).contiguous()
        return x.view(batch, channels, height, width)
''', "LayerScale": '''
class LayerScale(nn.Module):
    """ConvNeXt's layer scale: x times a learned C x 1 x 1 factor that starts at `scale`."""

    def __init__(self, channels: int, scale: float = 1e-6) -> None:
        super().__init__()
        self.channels = channels
        self.scale = scale
        self.weight = nn.Parameter(torch.ones(channels, 1, 1) * scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.weight * x
''', "LayerNorm2d": '''
class LayerNorm2d(nn.LayerNorm):
    """torchvision.models.convnext.LayerNorm2d: LayerNorm over each pixel's channels."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        x = nn.functional.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)
''', "StochasticDepth": '''
class StochasticDepth(nn.Module):
    """torchvision.ops.StochasticDepth: in training, zero a sample's input (`row`) or the batch's
    (`batch`) with probability p and scale the rest by 1 / (1 - p); the identity in eval."""

    def __init__(self, p: float, mode: str) -> None:
        super().__init__()
        self.p = p
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        survival_rate = 1.0 - self.p
        size = [x.shape[0]] + [1] * (x.ndim - 1) if self.mode == "row" else [1] * x.ndim
        noise = torch.empty(size, dtype=x.dtype, device=x.device).bernoulli_(survival_rate)
        if survival_rate > 0.0:
            noise.div_(survival_rate)
        return x * noise
'''}
