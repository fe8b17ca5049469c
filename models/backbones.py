"""Feature extractors: each returns a dict ``{stride: feature map}`` for strides 2, 4, 8, 16, 32.

Backbones are plain torchvision networks (or a tiny custom one for tests), built without
pretrained weights unless a torchvision weight enum name is given explicitly (e.g.
``"ResNet18_Weights.IMAGENET1K_V1"``): nothing here downloads on its own. ``in_channels`` other than 3
(e.g. RGB + NIR) replaces the first convolution; with pretrained weights its extra channels start
from the mean of the RGB filters.
"""

from __future__ import annotations

import torch
from torch import nn

from tankerwatch.infer.core.errors import ConfigError

BACKBONES = ("tiny", "small", "lean", "resnet18", "resnet34", "resnet50")
# Custom plain conv nets: stage widths at strides 2..32. ``lean`` is ``small`` with its two finest
# stages narrowed: at stride 2 and 4 a convolution costs 16x and 4x one at stride 8, so those two
# stages took half of the network's time on a 1,024 px tile for 6 % of its weights.
CUSTOM_WIDTHS = {"tiny": (16, 24, 32, 48, 64), "small": (24, 48, 64, 96, 128), "lean": (16, 32, 64, 96, 128)}
STRIDES = (2, 4, 8, 16, 32)


def _conv_bn_relu(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class PlainBackbone(nn.Module):
    """A five-stage conv net (receptive field about 190 px): ``tiny`` (0.1 M parameters) for tests,
    ``small`` (0.4 M) and ``lean`` (the same with narrower stride-2 and stride-4 stages) for fast
    CPU training on synthetic tiles. The stride-2 stage is one strided conv, the others two 3x3
    convs: a second full conv at half resolution would cost as much as the three coarsest stages
    together (a 1,024 px tile on a 2-core CPU)."""

    def __init__(self, in_channels: int, widths: tuple[int, ...]):
        super().__init__()
        stages, cin = [], in_channels
        for k, cout in enumerate(widths):
            convs = [_conv_bn_relu(cin, cout, 2)] + ([_conv_bn_relu(cout, cout, 1)] if k else [])
            stages.append(nn.Sequential(*convs))
            cin = cout
        self.stages = nn.ModuleList(stages)
        self.channels = dict(zip(STRIDES, widths, strict=True))

    def forward(self, x: torch.Tensor) -> dict[int, torch.Tensor]:
        out = {}
        for stride, stage in zip(STRIDES, self.stages, strict=True):
            x = stage(x)
            out[stride] = x
        return out


class ResNetBackbone(nn.Module):
    """torchvision ResNet, stem output at stride 2 and layer1..layer4 at strides 4..32."""

    def __init__(self, name: str, in_channels: int, weights: str | None = None):
        super().__init__()
        import torchvision

        weight_enum = torchvision.models.get_weight(weights) if weights else None
        net = getattr(torchvision.models, name)(weights=weight_enum)
        if in_channels != 3:
            old = net.conv1
            new = nn.Conv2d(in_channels, old.out_channels, 7, 2, 3, bias=False)
            if weight_enum is not None:
                with torch.no_grad():
                    mean = old.weight.mean(dim=1, keepdim=True)
                    new.weight.copy_(mean.expand(-1, in_channels, -1, -1))
                    new.weight[:, : min(3, in_channels)] = old.weight[:, : min(3, in_channels)]
            net.conv1 = new
        self.stem = nn.Sequential(net.conv1, net.bn1, net.relu)
        self.pool = net.maxpool
        self.layers = nn.ModuleList([net.layer1, net.layer2, net.layer3, net.layer4])
        expansion = 4 if name == "resnet50" else 1
        self.channels = {2: 64, 4: 64 * expansion, 8: 128 * expansion, 16: 256 * expansion, 32: 512 * expansion}

    def forward(self, x: torch.Tensor) -> dict[int, torch.Tensor]:
        x = self.stem(x)
        out = {2: x}
        x = self.pool(x)
        for stride, layer in zip(STRIDES[1:], self.layers, strict=True):
            x = layer(x)
            out[stride] = x
        return out


def build_backbone(name: str, in_channels: int, weights: str | None = None) -> nn.Module:
    """Backbone by name (one of :data:`BACKBONES`); ``weights`` is an opt-in torchvision enum name."""
    if name in CUSTOM_WIDTHS:
        if weights:
            raise ConfigError(f"the {name} backbone has no pretrained weights; set weights: null")
        return PlainBackbone(in_channels, CUSTOM_WIDTHS[name])
    if name.startswith("resnet") and name in BACKBONES:
        return ResNetBackbone(name, in_channels, weights)
    raise ConfigError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}")
