"""The networks the benchmarks time: each spec in specs/ beside the reference model it must match.

A row is one line here: the spec's file name, the library and the constructor of the model with the
same architecture. Weights are copied by position (`archspec.load_torchvision_weights` works for any
model whose parameter order equals the spec's), so timm's models compare like torchvision's. A spec
that is not written yet, or a library that is not installed, makes its rows say "not yet available"
instead of stopping the run.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

from torch import nn

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Reference:
    spec: str  # specs/<spec>.yaml
    library: str  # "torchvision" or "timm"
    model: str  # the constructor's name in that library

    @property
    def path(self) -> Path:
        return ROOT / "specs" / f"{self.spec}.yaml"

    @property
    def label(self) -> str:
        return f"{self.library} {self.model}"

    def missing(self) -> str | None:
        """Why this row cannot run here (None when it can)."""
        if not self.path.exists():
            return f"not yet available: {self.path.relative_to(ROOT)} does not exist"
        try:
            importlib.import_module(self.library)
        except ImportError:
            return f"not yet available: {self.library} is not installed"
        return None

    def make(self) -> nn.Module:
        """The reference model, freshly initialised (the caller seeds torch first)."""
        if self.library == "timm":
            import timm

            return timm.create_model(self.model, pretrained=False)
        return getattr(importlib.import_module(f"{self.library}.models"), self.model)()


REFERENCES = {reference.spec: reference for reference in (
    Reference("resnet18", "torchvision", "resnet18"),
    Reference("resnet50", "torchvision", "resnet50"),
    Reference("resnet152", "torchvision", "resnet152"),
    Reference("resnet50d", "timm", "resnet50d"),
    Reference("se-resnet50", "timm", "seresnet50"),
    Reference("mobilenet_v2", "torchvision", "mobilenet_v2"),
    Reference("densenet121", "torchvision", "densenet121"),
    Reference("efficientnet_b0", "torchvision", "efficientnet_b0"),
    Reference("convnext_tiny", "torchvision", "convnext_tiny"),
)}


def reference(spec: str) -> Reference:
    return REFERENCES[spec]


def unavailable_row(name: str, spec: str) -> dict[str, object]:
    """The row a benchmark writes for a network it cannot run yet."""
    return {"name": name, "status": REFERENCES[spec].missing(), "goal": None, "met": None}
