"""CIFAR VGGs with BatchNorm, from a flat layer list so widths can be anything, in two published layouts.

A config is a list of conv widths with ``"M"`` for a 2×2 max-pool, e.g. VGG-11:
``[64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512]``. Every conv is Conv3×3 (with bias)-BN-ReLU;
after the last one a global average pool and one linear layer (with bias) give the logits. Custom widths
(the derived students of prune-then-distill) are just another list.

The depths share five blocks of convs (:data:`VGG_BLOCKS`, the configurations A, B, D, E and RepDistiller's
S); the two layouts differ only in which blocks a max-pool follows:

* ``vgg8``, ``vgg11``, ``vgg13``, ``vgg16``, ``vgg19`` (:data:`VGG_CONFIGS`): **prune-then-distill's layout**
  (Park & No 2022, ``models/cifar_vgg.py`` of ososos888/prune-then-distill, from the lottery-ticket code): a
  max-pool after each of the first four blocks, so a 32×32 input reaches the last block at 2×2, then
  ``AvgPool2d(2)`` (= the global average pool here) and ``Linear(512, classes)``. That code defines VGG-11
  and VGG-19; ``vgg8/13/16`` are the same layout on RepDistiller's S, B and D blocks.
* ``vgg8-rd``, ``vgg11-rd``, ``vgg13-rd``, ``vgg16-rd``, ``vgg19-rd`` (:func:`repdistiller_config`):
  **RepDistiller's layout** (Tian, Krishnan, Isola 2020, ``models/vgg.py`` of HobbitLong/RepDistiller, the CRD
  benchmark's ``vgg8``/``vgg13`` students and teachers): max-pools after the first three blocks only (its
  ``pool3`` runs only on 64×64 inputs), so on 32×32 the last two blocks both run at 4×4; then
  ``AdaptiveAvgPool2d(1)`` and ``Linear(512, classes)``. On 64×64 inputs it adds the fourth max-pool, as
  RepDistiller does, and then equals the plain layout.

The weights' initialization is kdcore's (Kaiming, fan-out, for convs; torch's default for the linear layer),
not either paper's: a layout fixes the function a set of weights computes, not how training starts.
"""

from __future__ import annotations

import torch
from torch import nn

# Conv widths of the five blocks of each depth (RepDistiller's cfg S, A, B, D, E; torchvision's A, B, D, E).
VGG_BLOCKS: dict[str, list[list[int]]] = {
    "vgg8": [[64], [128], [256], [512], [512]],
    "vgg11": [[64], [128], [256, 256], [512, 512], [512, 512]],
    "vgg13": [[64, 64], [128, 128], [256, 256], [512, 512], [512, 512]],
    "vgg16": [[64, 64], [128, 128], [256, 256, 256], [512, 512, 512], [512, 512, 512]],
    "vgg19": [[64, 64], [128, 128], [256, 256, 256, 256], [512, 512, 512, 512], [512, 512, 512, 512]],
}

REPDISTILLER_SUFFIX = "-rd"


def flat_config(blocks: list[list[int]], pooled_blocks: int) -> list:
    """The blocks as one layer list, with a max-pool after each of the first ``pooled_blocks`` blocks."""
    config: list = []
    for i, widths in enumerate(blocks):
        config += widths
        if i < pooled_blocks:
            config.append("M")
    return config


def repdistiller_config(name: str, image_size: int = 32) -> list:
    """RepDistiller's layout of ``vggN`` as a flat config: pools after blocks 1-3, and 4 only at 64×64.

    RepDistiller's ``VGG.forward`` applies ``pool3`` only ``if h == 64`` (Tiny-ImageNet); on CIFAR it skips it.
    """
    return flat_config(VGG_BLOCKS[name], pooled_blocks=4 if image_size == 64 else 3)


# prune-then-distill's layout: a max-pool after each of the first four blocks, at any input size
VGG_CONFIGS: dict[str, list] = {name: flat_config(blocks, pooled_blocks=4) for name, blocks in VGG_BLOCKS.items()}


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
