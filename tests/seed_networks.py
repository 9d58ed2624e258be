"""The seed tutorials' networks, transcribed from their code (../shared/seeds/) into plain torch.

These are the independent references for tests/test_seeds.py: each is the seed's code with only its
formatting changed (the blog posts lost their line breaks), so that the specs in specs/ can be compared
with what the tutorials actually build: parameter count, parameter order, outputs with the same
weights, MACs. Where a seed's code has a bug, the fix is named in a comment.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# ----------------------------------------------------------------- seed 002: LeNet, LeNet-BN, AlexNet


def lenet() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.Sigmoid(), nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), nn.Sigmoid(), nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Flatten(), nn.Linear(16 * 5 * 5, 120), nn.Sigmoid(), nn.Linear(120, 84), nn.Sigmoid(),
        nn.Linear(84, 10))


def lenet_bn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5), nn.BatchNorm2d(6), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), nn.BatchNorm2d(16), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2), nn.Flatten(),
        nn.Linear(256, 120), nn.BatchNorm1d(120), nn.Sigmoid(),
        nn.Linear(120, 84), nn.BatchNorm1d(84), nn.Sigmoid(), nn.Linear(84, 10))


def alexnet_d2l() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 96, kernel_size=11, stride=4, padding=1), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(96, 256, kernel_size=5, padding=2), nn.ReLU(), nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(256, 384, kernel_size=3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 384, kernel_size=3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Flatten(),
        nn.Linear(6400, 4096), nn.ReLU(), nn.Dropout(p=0.5),
        nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(p=0.5),
        nn.Linear(4096, 10))


# ----------------------------------------------------------------------------- seed 002: VGG, NiN


def vgg_block(num_convs: int, in_channels: int, out_channels: int) -> nn.Module:
    layers: list[nn.Module] = []
    for _ in range(num_convs):
        layers.append(nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1))
        layers.append(nn.ReLU())
        in_channels = out_channels  # the seed's typo `in_chann. els = out_channels`, fixed
    layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
    return nn.Sequential(*layers)


def vgg11_d2l() -> nn.Module:
    conv_arch = ((1, 64), (1, 128), (2, 256), (2, 512), (2, 512))
    conv_blks, in_channels = [], 1
    for num_convs, out_channels in conv_arch:
        conv_blks.append(vgg_block(num_convs, in_channels, out_channels))
        in_channels = out_channels
    return nn.Sequential(
        *conv_blks, nn.Flatten(),
        nn.Linear(out_channels * 7 * 7, 4096), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(4096, 10))


def nin_block(in_channels: int, out_channels: int, kernel_size: int, strides: int, padding: int) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, strides, padding), nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, kernel_size=1), nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, kernel_size=1), nn.ReLU())


def nin() -> nn.Module:
    return nn.Sequential(
        nin_block(1, 96, kernel_size=11, strides=4, padding=0), nn.MaxPool2d(3, stride=2),
        nin_block(96, 256, kernel_size=5, strides=1, padding=2), nn.MaxPool2d(3, stride=2),
        nin_block(256, 384, kernel_size=3, strides=1, padding=1), nn.MaxPool2d(3, stride=2),
        nn.Dropout(0.5),
        nin_block(384, 10, kernel_size=3, strides=1, padding=1),
        nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten())


# --------------------------------------------------------------------------- seed 002: GoogLeNet


class Inception(nn.Module):
    def __init__(self, in_channels: int, c1: int, c2: tuple[int, int], c3: tuple[int, int], c4: int):
        super().__init__()
        self.p1_1 = nn.Conv2d(in_channels, c1, kernel_size=1)
        self.p2_1 = nn.Conv2d(in_channels, c2[0], kernel_size=1)
        self.p2_2 = nn.Conv2d(c2[0], c2[1], kernel_size=3, padding=1)
        self.p3_1 = nn.Conv2d(in_channels, c3[0], kernel_size=1)
        self.p3_2 = nn.Conv2d(c3[0], c3[1], kernel_size=5, padding=2)
        self.p4_1 = nn.MaxPool2d(kernel_size=3, stride=1, padding=1)
        self.p4_2 = nn.Conv2d(in_channels, c4, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p1 = F.relu(self.p1_1(x))
        p2 = F.relu(self.p2_2(F.relu(self.p2_1(x))))
        p3 = F.relu(self.p3_2(F.relu(self.p3_1(x))))
        p4 = F.relu(self.p4_2(self.p4_1(x)))
        return torch.cat((p1, p2, p3, p4), dim=1)


def googlenet_d2l() -> nn.Module:
    b1 = nn.Sequential(nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3), nn.ReLU(),
                       nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
    b2 = nn.Sequential(nn.Conv2d(64, 64, kernel_size=1), nn.ReLU(),
                       nn.Conv2d(64, 192, kernel_size=3, padding=1), nn.ReLU(),
                       nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
    b3 = nn.Sequential(Inception(192, 64, (96, 128), (16, 32), 32),
                       Inception(256, 128, (128, 192), (32, 96), 64),
                       nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
    b4 = nn.Sequential(Inception(480, 192, (96, 208), (16, 48), 64),
                       Inception(512, 160, (112, 224), (24, 64), 64),
                       Inception(512, 128, (128, 256), (24, 64), 64),
                       Inception(512, 112, (144, 288), (32, 64), 64),
                       Inception(528, 256, (160, 320), (32, 128), 128),
                       nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
    b5 = nn.Sequential(Inception(832, 256, (160, 320), (32, 128), 128),
                       Inception(832, 384, (192, 384), (48, 128), 128),
                       nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten())
    return nn.Sequential(b1, b2, b3, b4, b5, nn.Linear(1024, 10))


# ------------------------------------------------------------- seeds 000 and 002: d2l's ResNet-18


class Residual002(nn.Module):
    """Seed 002's block: it defines conv1, conv2, conv3 before bn1, bn2 (another parameter order)."""

    def __init__(self, input_channels: int, num_channels: int, use_1x1conv: bool = False, strides: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(input_channels, num_channels, kernel_size=3, padding=1, stride=strides)
        self.conv2 = nn.Conv2d(num_channels, num_channels, kernel_size=3, padding=1)
        self.conv3 = (nn.Conv2d(input_channels, num_channels, kernel_size=1, stride=strides)
                      if use_1x1conv else None)
        self.bn1 = nn.BatchNorm2d(num_channels)
        self.bn2 = nn.BatchNorm2d(num_channels)

    def forward(self, X: torch.Tensor) -> torch.Tensor:  # noqa: N803
        Y = F.relu(self.bn1(self.conv1(X)))  # noqa: N806
        Y = self.bn2(self.conv2(Y))  # noqa: N806
        if self.conv3:
            X = self.conv3(X)  # noqa: N806
        Y += X  # noqa: N806
        return F.relu(Y)


class Residual000(nn.Module):
    """Seed 000's block: the same computation as seed 002's, in the order conv, bn, conv, bn, 1x1 conv."""

    def __init__(self, inChannels: int, outChannels: int,  # noqa: N803
                 use_1x1conv: bool = False, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(inChannels, outChannels, 3, stride, 1),
                                   nn.BatchNorm2d(outChannels), nn.ReLU())
        self.conv2 = nn.Sequential(nn.Conv2d(outChannels, outChannels, 3, padding=1),
                                   nn.BatchNorm2d(outChannels))
        self.conv3 = nn.Conv2d(inChannels, outChannels, 1, stride=stride) if use_1x1conv else None

    def forward(self, input: torch.Tensor) -> torch.Tensor:  # noqa: A002
        outputConv2 = self.conv2(self.conv1(input))  # noqa: N806
        if self.conv3:
            input = self.conv3(input)  # noqa: A001  (the seed's own code)
        return F.relu(outputConv2 + input)


def _d2l_stages(block: type[nn.Module]) -> list[nn.Module]:
    """resnet_block(64, 64, 2, first_block=True), then (64, 128), (128, 256), (256, 512), 2 blocks each."""
    stages = []
    for in_channels, channels in ((64, 64), (64, 128), (128, 256), (256, 512)):
        first_block = in_channels == channels
        stages.append(nn.Sequential(*[
            block(in_channels, channels, True, 2) if i == 0 and not first_block else block(channels, channels)
            for i in range(2)]))
    return stages


def resnet18_seed002() -> nn.Module:
    b1 = nn.Sequential(nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3), nn.BatchNorm2d(64), nn.ReLU(),
                       nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
    return nn.Sequential(b1, *_d2l_stages(Residual002), nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(),
                         nn.Linear(512, 10))


class GlobalAvgPool2d(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.adaptive_avg_pool2d(x, (1, 1))


def resnet18_seed000() -> nn.Module:
    net = nn.Sequential(nn.Conv2d(1, 64, 7, 2, 3), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1))
    for number, stage in enumerate(_d2l_stages(Residual000), start=1):
        net.add_module(f"resnet_block{number}", stage)
    net.add_module("global_avg_pool", GlobalAvgPool2d())
    net.add_module("fc", nn.Sequential(nn.Flatten(), nn.Linear(512, 10)))
    return net


# ------------------------------------------------------------------------ seed 001: its ResNet-18


class Residual001(nn.Module):
    def __init__(self, channel_in: int, channel_out: int, add_conv1_1: bool = False, stride: int = 1):
        super().__init__()
        self.add_conv1_1 = add_conv1_1
        self.conv1 = nn.Conv2d(channel_in, channel_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channel_out)
        self.conv2 = nn.Conv2d(channel_out, channel_out, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channel_out)
        self.conv3 = nn.Conv2d(channel_in, channel_out, 1, stride=stride) if add_conv1_1 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)), True)
        y = F.relu(self.bn2(self.conv2(y)), True)
        if self.add_conv1_1:
            x = self.conv3(x)
        return F.relu(y + x, True)


class ResNet001(nn.Module):
    def __init__(self, in_channel: int = 3, num_classes: int = 10):
        super().__init__()
        self.block1 = nn.Sequential(nn.Conv2d(in_channel, 64, 7, 2), nn.BatchNorm2d(64, eps=1e-3),
                                    nn.ReLU(True), nn.MaxPool2d(3, 2, 1))
        self.block2 = nn.Sequential(Residual001(64, 64), Residual001(64, 64))
        self.block3 = nn.Sequential(Residual001(64, 128, True, stride=2), Residual001(128, 128))
        self.block4 = nn.Sequential(Residual001(128, 256, True, stride=2), Residual001(256, 256))
        self.block5 = nn.Sequential(Residual001(256, 512, True, stride=2), Residual001(512, 512),
                                    nn.AvgPool2d(3), nn.Flatten())
        self.classifier = nn.Linear(512, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in (self.block1, self.block2, self.block3, self.block4, self.block5, self.classifier):
            x = block(x)
        return x


# ------------------------------------------------------------------ seed 004: ResNet-18 for CIFAR-10


class BasicBlock004(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(planes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += self.shortcut(x)
        return F.relu(out)


class ResNet18004(nn.Module):
    def __init__(self):
        super().__init__()
        self.in_planes = 64
        self.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.layer1 = self._make_layer(64, 2, stride=1)
        self.layer2 = self._make_layer(128, 2, stride=2)
        self.layer3 = self._make_layer(256, 2, stride=2)
        self.layer4 = self._make_layer(512, 2, stride=2)
        self.linear = nn.Linear(512, 10)

    def _make_layer(self, planes: int, num_blocks: int, stride: int) -> nn.Module:
        layers = []
        for block_stride in [stride] + [1] * (num_blocks - 1):
            layers.append(BasicBlock004(self.in_planes, planes, block_stride))
            self.in_planes = planes
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        out = F.avg_pool2d(out, 4)
        return self.linear(out.view(out.size(0), -1))


# ---------------------------------------------------------------------- seed 003: its ResNet-34


class BasicBlock003(nn.Module):
    """Seed 003's block, with one fix: `down1` exists only where it is used (the seed makes one in
    every block, unused unless `downsample` is given)."""

    def __init__(self, in_channel: int, out_channel: int, stride: int = 1, padding: int = 1,
                 downsample: bool | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channel, out_channel, kernel_size=3, stride=stride, padding=padding)
        self.bn1 = nn.BatchNorm2d(out_channel)
        self.conv2 = nn.Conv2d(out_channel, out_channel, kernel_size=3, stride=1, padding=padding)
        self.bn2 = nn.BatchNorm2d(out_channel)
        self.down1 = nn.Conv2d(in_channel, out_channel, kernel_size=1, stride=2) if downsample else None
        self.down = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.down is None:
            out += shortcut
        else:
            out += self.down1(shortcut)
        return F.relu(out)


class ResNet003(nn.Module):
    """Seed 003's ResNet-34, with one fix: a block module per position (the seed's forward applies one
    block module several times in a loop, so those blocks share their weights)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3)
        self.bn1 = nn.BatchNorm2d(64)
        self.pool1 = nn.MaxPool2d(3, 2, 1)
        blocks = [BasicBlock003(64, 64) for _ in range(3)]
        for in_channel, channel, repeats in ((64, 128, 3), (128, 256, 5), (256, 512, 2)):
            blocks.append(BasicBlock003(in_channel, channel, stride=2, downsample=True))
            blocks += [BasicBlock003(channel, channel) for _ in range(repeats)]
        self.blocks = nn.Sequential(*blocks)
        self.pool2 = nn.AvgPool2d(7, 1)
        self.fc1 = nn.Linear(512 * 1 * 1, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1(F.relu(self.bn1(self.conv1(x))))
        x = self.pool2(self.blocks(x))
        return self.fc1(x.view(-1, 512 * 1 * 1))
