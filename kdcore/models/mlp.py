"""A multilayer perceptron with configurable hidden widths."""

from __future__ import annotations

import torch
from torch import nn


class MLP(nn.Module):
    """``Flatten → [Linear → ReLU] × len(widths) → Linear``.

    Args:
        in_channels, num_classes: input channels and output classes.
        widths: hidden layer widths, e.g. ``(512, 512)``.
        image_size: input height (= width), so the first layer knows ``in_channels·image_size²`` inputs.
        dropout: dropout after each hidden layer (0 = none).
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        widths: tuple[int, ...] = (512, 512),
        image_size: int = 28,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.widths = tuple(widths)
        layers: list[nn.Module] = [nn.Flatten()]
        fan_in = in_channels * image_size * image_size
        for width in self.widths:
            layers += [nn.Linear(fan_in, width), nn.ReLU(inplace=True)]
            if dropout:
                layers.append(nn.Dropout(dropout))
            fan_in = width
        layers.append(nn.Linear(fan_in, num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
