"""A LeNet-5-style CNN for 28×28 (or 32×32) inputs."""

from __future__ import annotations

import torch
from torch import nn


class LeNet5(nn.Module):
    """conv(6, 5×5) → pool → conv(16, 5×5) → pool → FC 120 → FC 84 → FC classes, with ReLU.

    The first conv pads by 2 on 28×28 inputs, so Fashion-MNIST and CIFAR both reach 16×5×5 features.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, image_size: int = 28):
        super().__init__()
        pad = 2 if image_size == 28 else 0
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5, padding=pad), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        )  # fmt: skip
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120), nn.ReLU(inplace=True),
            nn.Linear(120, 84), nn.ReLU(inplace=True),
            nn.Linear(84, num_classes),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))
