"""Validate-pass models: the whole spec language as frozen Pydantic models.

Layers are a discriminated union on `layer`, stages on `block`; both unions are built from the
registries, so a new kind becomes part of the language (and of the JSON Schema) by registering it.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from archspec.blocks import BLOCKS, Shortcut
from archspec.layers import LAYERS, Count, SizeOrPair
from archspec.loader import Document
from archspec.shapes import Shape, pair

LayerSpec = Annotated[Union[LAYERS.models()], Field(discriminator="layer")]  # noqa: UP007
StageSpec = Annotated[Union[BLOCKS.models()], Field(discriminator="block")]  # noqa: UP007


class InputSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    channels: Count = Field(description="input channels: 1 for grayscale, 3 for RGB")
    size: SizeOrPair = Field(description="height and width: one number for a square, or [h, w]")

    def shape(self) -> Shape:
        return (self.channels, *pair(self.size))


class Spec(BaseModel):
    """A network: `input` -> `stem` layers -> `stages` of blocks -> `head` layers."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$")]
    description: Annotated[str, Field(max_length=2_000)] = ""
    input: InputSpec
    shortcut: Shortcut = Field("B", description="default shortcut option of every stage")
    init: Literal["pytorch", "kaiming"] = Field(
        "pytorch", description="pytorch: each module's default; kaiming: torchvision's ResNet init "
        "(conv kaiming_normal_ fan_out, BatchNorm weight 1 and bias 0)")
    stem: tuple[LayerSpec, ...] = ()
    stages: tuple[StageSpec, ...] = ()
    head: tuple[LayerSpec, ...] = ()

    # Where the spec came from, for file:line:col in later passes' errors. Not part of the language.
    _document: Document | None = PrivateAttr(default=None)

    @property
    def document(self) -> Document | None:
        return self._document
