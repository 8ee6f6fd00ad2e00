"""CIFAR VGGs with BatchNorm (RepDistiller's layout), from a flat layer list so widths can be anything.

A config is a list of conv widths with ``"M"`` for a 2×2 max-pool, e.g. VGG-11:
``[64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512]``. After the last conv a global average pool
and one linear layer give the logits. Custom widths (the derived students of prune-then-distill) are just
another list.
"""

from __future__ import annotations

import torch
from torch import nn

VGG_CONFIGS: dict[str, list] = {
    "vgg8": [64, "M", 128, "M", 256, "M", 512, "M", 512],
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512],
    "vgg13": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512],
}


class CifarVGG(nn.Module):
    """Conv3×3-BN-ReLU blocks and max-pools from ``config``, then global average pool and a linear head."""

    def __init__(self, config: list, in_channels: int = 3, num_classes: int = 10):
        super().__init__()
        self.config = list(config)
        layers: list[nn.Module] = []
        channels = in_channels
        for item in self.config:
            if item == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                layers += [nn.Conv2d(channels, item, 3, padding=1), nn.BatchNorm2d(item), nn.ReLU(inplace=True)]
                channels = item
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(channels, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))
