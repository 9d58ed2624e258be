"""One epoch of training and one pass of evaluation, shared by `archspec train` and `archspec eval`."""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Any

from archspec.train.report import ProgressBar


@dataclass
class Precision:
    """Where tensors go and how they are computed: device, autocast, memory format."""

    device: Any
    amp: bool = False
    channels_last: bool = False

    def autocast(self) -> Any:
        if not self.amp:
            return contextlib.nullcontext()
        import torch

        # float16 with loss scaling on GPUs; bfloat16 (no scaling needed) on CPUs.
        dtype = torch.float16 if self.device.type == "cuda" else torch.bfloat16
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    def inputs(self, images: Any, labels: Any) -> tuple[Any, Any]:
        import torch

        non_blocking = self.device.type == "cuda"
        images = images.to(self.device, non_blocking=non_blocking)
        if self.channels_last and images.dim() == 4:
            images = images.contiguous(memory_format=torch.channels_last)
        return images, labels.to(self.device, non_blocking=non_blocking)


@dataclass
class Totals:
    """Sums over the samples this process saw: per-sample loss, correct predictions, sample count."""

    loss: float = 0.0
    correct: float = 0.0
    count: float = 0.0

    def as_list(self) -> list[float]:
        return [self.loss, self.correct, self.count]

    @classmethod
    def from_list(cls, values: list[float]) -> Totals:
        return cls(*values)

    @property
    def mean_loss(self) -> float:
        return self.loss / self.count if self.count else math.nan

    @property
    def accuracy(self) -> float:
        return self.correct / self.count if self.count else math.nan


def train_epoch(network: Any, loader: Any, optimizer: Any, scaler: Any, precision: Precision,
                progress: ProgressBar) -> Totals:
    import torch
    from torch.nn import functional as F

    network.train()
    # Sums stay on the device: no synchronisation per step unless the progress bar asks for figures.
    loss_sum = torch.zeros((), dtype=torch.float64, device=precision.device)
    correct = torch.zeros((), dtype=torch.int64, device=precision.device)
    count = 0
    for step, batch in enumerate(loader, start=1):
        images, labels = precision.inputs(*batch)
        # The last step's gradients go before the forward pass, not after: its activations need
        # not share memory with them (the hand-written loops of the tutorials do the same).
        optimizer.zero_grad(set_to_none=True)
        with precision.autocast():
            scores = network(images)
            loss = F.cross_entropy(scores, labels)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        loss_sum += loss.detach().double() * labels.numel()
        correct += (scores.detach().argmax(dim=1) == labels).sum()
        count += labels.numel()
        if progress.wants_update:
            progress.update(step, loss_sum.item() / count, correct.item() / count)
    progress.close()
    return Totals(loss_sum.item(), float(correct.item()), float(count))


def evaluate(network: Any, loader: Any, precision: Precision, classes: int = 0) -> tuple[Totals, Any]:
    """Loss and accuracy over `loader`, and (when `classes` > 0) the confusion matrix, rows = truth."""
    import torch
    from torch.nn import functional as F

    network.eval()
    loss_sum = torch.zeros((), dtype=torch.float64, device=precision.device)
    correct = torch.zeros((), dtype=torch.int64, device=precision.device)
    confusion = torch.zeros((classes, classes), dtype=torch.int64, device=precision.device)
    count = 0
    with torch.no_grad():
        for batch in loader:
            images, labels = precision.inputs(*batch)
            with precision.autocast():
                scores = network(images)
                loss = F.cross_entropy(scores.float(), labels, reduction="sum")
            predicted = scores.argmax(dim=1)
            loss_sum += loss.double()
            correct += (predicted == labels).sum()
            count += labels.numel()
            if classes:
                confusion.view(-1).index_add_(0, labels * classes + predicted,
                                              torch.ones_like(labels))
    return Totals(loss_sum.item(), float(correct.item()), float(count)), confusion.cpu()
