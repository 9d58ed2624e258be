"""Validate-pass models: the whole spec language as frozen Pydantic models.

Layers are a discriminated union on `layer`, stages on `block`; both unions are built from the
registries, so a new kind becomes part of the language (and of the JSON Schema) by registering it.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    GetJsonSchemaHandler,
    PrivateAttr,
    SerializeAsAny,
    Tag,
    TypeAdapter,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
)
from pydantic_core import PydanticCustomError, to_jsonable_python

from archspec.blocks import BLOCKS, Shortcut
from archspec.definitions import LAST_DEFINED, VISIBLE, BlockDefinition, KindName, find_kind, known_kinds
from archspec.layers import LAYERS, Count, ModuleName, SizeOrPair
from archspec.loader import Document
from archspec.shapes import Shape, pair
from archspec.validated import ValidatedCopies
from archspec.validation_memo import json_text, validated_json

# The layer and block kinds a spec may name with a model of their own: those registered when this
# module is imported (a block kind registered later is found through `find_kind`, as are YAML kinds).
_LAYER_KINDS = dict(LAYERS.items())
_BUILT_IN = dict(BLOCKS.items())


@functools.cache
def _union(tag: str) -> TypeAdapter[Any]:
    """The discriminated union of every kind on `tag` (`layer` or `block`): what a spec's layers and
    stages were validated against before, and what still says what is wrong with a mapping that names
    no kind, an unknown one or is no mapping at all (its errors and JSON Schema are the union's).
    Built on first use: a spec's valid layers and stages are validated by their own kinds' models."""
    models = tuple(_LAYER_KINDS.values() if tag == "layer" else _BUILT_IN.values())
    return TypeAdapter(Annotated[Union[models], Field(discriminator=tag)])  # noqa: UP007


def _validated(target: type[BaseModel] | TypeAdapter[Any], value: object, info: ValidationInfo,
               built_in: bool = False) -> object:
    """`value` validated by `target` as the spec it is part of is: in JSON mode, strictly, as JSON
    (Pydantic's validation in strict Python mode would refuse a list where a tuple goes). A built-in
    kind's part may be one remembered from an earlier spec (archspec.validation_memo)."""
    if isinstance(target, TypeAdapter):
        if info.mode == "json":
            return target.validate_json(json_text(value), strict=True)
        return target.validate_python(value)
    if info.mode == "json":
        if built_in:
            return validated_json(target, value)
        return target.model_validate_json(json_text(value), strict=True)
    return target.model_validate(value)


class _SchemaOfUnion:
    """The JSON Schema of a layer or stage: the union's, made when a schema is asked for."""

    def __init__(self, tag: str):
        self.tag = tag

    def __get_pydantic_json_schema__(self, core_schema: Any, handler: GetJsonSchemaHandler) -> Any:
        return handler(_union(self.tag).core_schema)


def _layer_of_its_kind(value: object, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> object:
    """A layer, validated by its kind's own model, which Pydantic builds the first time a spec uses
    the kind (building every kind's model when archspec is imported took most of its start-up)."""
    kind = value.get("layer") if isinstance(value, dict) else None
    model = _LAYER_KINDS.get(kind) if isinstance(kind, str) else None
    return _validated(model, value, info, built_in=True) if model else _validated(_union("layer"), value, info)


LayerSpec = Annotated[Any, WrapValidator(_layer_of_its_kind), _SchemaOfUnion("layer")]


def _any_block_kind(value: object, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> object:
    """A stage of any kind, through that kind's own model: built in, defined in YAML (the spec's own,
    imported, the library's) or registered from Python after this module was imported. Its errors
    keep their places in the stage; those of a mapping that names no kind are the union's."""
    kind = value.get("block") if isinstance(value, dict) else None
    if not isinstance(kind, str):
        return _validated(_union("block"), value, info)
    built_in = _BUILT_IN.get(kind)
    if built_in is not None:
        return _validated(built_in, value, info, built_in=True)
    model = find_kind(kind)
    if model is None:
        raise PydanticCustomError("union_tag_invalid", "unknown block kind {tag}",
                                  {"discriminator": "'block'", "tag": str(kind),
                                   "expected_tags": ", ".join(known_kinds())})
    return _validated(model, value, info)


# SerializeAsAny: a stage dumps as its own model says, whichever kind it is.
BlockSpec = Annotated[Any, WrapValidator(_any_block_kind), _SchemaOfUnion("block"), SerializeAsAny()]

# Tags of the two-level unions below. They never appear in a spec; validate strips them from paths.
UNION_TAGS = frozenset({"layer-item", "block-item", "block-stage", "list-stage"})


def _item_tag(value: object) -> str:
    has_layer = "layer" in value if isinstance(value, dict) else hasattr(value, "layer")
    return "layer-item" if has_layer else "block-item"


StageItem = Annotated[
    Union[Annotated[LayerSpec, Tag("layer-item")], Annotated[BlockSpec, Tag("block-item")]],  # noqa: UP007
    Discriminator(_item_tag)]


class ListStage(ValidatedCopies):
    """A stage written as an explicit list of blocks and layers (GoogLeNet's, a VGG's per block)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: ModuleName | None = Field(None, description="module name of the stage (default layerN; a dotted "
                                    "name, stages.0.blocks, nests)")
    blocks: Annotated[tuple[StageItem, ...], Field(min_length=1, max_length=1_000)]


def _stage_tag(value: object) -> str:
    has_blocks = "blocks" in value if isinstance(value, dict) else hasattr(value, "blocks")
    return "list-stage" if has_blocks else "block-stage"


StageSpec = Annotated[
    Union[Annotated[BlockSpec, Tag("block-stage")], Annotated[ListStage, Tag("list-stage")]],  # noqa: UP007
    Discriminator(_stage_tag)]


class InputSpec(ValidatedCopies):
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
    init: Literal["pytorch", "kaiming", "vgg", "googlenet", "mobilenet", "densenet", "efficientnet", "convnext",
                  "regnet", "squeezenet"] = Field(
        "pytorch", description="pytorch: each module's default; otherwise torchvision's initialisation of "
        "that family, module for module (the same seed gives the weights torchvision's constructor "
        "draws): kaiming (ResNet: conv kaiming_normal_ fan_out, BatchNorm 1 and 0); vgg (as kaiming, plus "
        "conv bias 0 and linear normal(0, 0.01), bias 0); googlenet (conv and linear trunc_normal_ std "
        "0.01); mobilenet (MobileNet v2/v3: as vgg); densenet (conv kaiming_normal_ fan_in, linear bias "
        "0); efficientnet (conv kaiming_normal_ fan_out, linear uniform +-1/sqrt(out)); convnext (conv "
        "and linear trunc_normal_ std 0.02, bias 0); regnet (conv normal(0, sqrt(2/fan_out)), linear "
        "normal(0, 0.01)); squeezenet (conv kaiming_uniform_, the last conv normal(0, 0.01), conv bias 0)")
    blocks: dict[KindName, BlockDefinition] = Field(
        default_factory=dict, max_length=256,
        description="block kinds this spec defines, usable in its stages like built-in ones")
    stem: tuple[LayerSpec, ...] = ()
    stages: tuple[StageSpec, ...] = ()
    head: tuple[LayerSpec, ...] = ()

    # Where the spec came from, for file:line:col in later passes' errors. Not part of the language.
    _document: Document | None = PrivateAttr(default=None)
    # The document before `vars`, `${...}` and overrides were resolved, and the overrides: what
    # `with_overrides` starts again from. None when there was nothing to resolve.
    _origin: tuple[Document, tuple[Any, ...]] | None = PrivateAttr(default=None)

    # The spec's own kinds are visible to its stages while it validates: from its first field (a
    # validator on `name`, validated first) until its last (`head`). (A model-level "wrap" validator
    # would say it better, but Pydantic then validates the fields in strict Python mode, where a list
    # is not a tuple.) After a spec that failed, they stay visible for validate.py's messages.
    @field_validator("name", mode="before")
    @classmethod
    def _no_kinds_yet(cls, name: Any) -> Any:
        VISIBLE.set(None)
        LAST_DEFINED.set(None)
        return name

    @field_validator("head", mode="after")
    @classmethod
    def _kinds_done(cls, head: Any) -> Any:
        VISIBLE.set(None)
        return head

    @field_validator("blocks", mode="after")
    @classmethod
    def _define_kinds(cls, blocks: dict[str, BlockDefinition]) -> dict[str, BlockDefinition]:
        from archspec.library import spec_kinds

        VISIBLE.set(spec_kinds(blocks))  # checks the definitions together: raises where they clash
        return blocks

    @property
    def document(self) -> Document | None:
        return self._document

    def with_overrides(self, overrides: Mapping[str, object] | Sequence[str]) -> Spec:
        """A new spec: this one's source with more overrides (`{"head[-1].width": 10, "classes": 10}`
        or `["head[-1].width=10"]`), resolved and validated exactly as `archspec.load` does."""
        from archspec.overrides import derive

        return derive(self, overrides)

    # Pydantic's ways to make a model without validating it validate here, or are refused.
    # (No custom __init__: Pydantic would then validate through it, in lax mode.)

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Spec:
        """A copy; with `update` ({top-level key: value}), a new spec validated as by `with_overrides`
        (Pydantic's own model_copy would skip validation)."""
        if not update:
            return super().model_copy(deep=deep)
        from archspec.overrides import derive

        return derive(self, {key: to_jsonable_python(value) for key, value in update.items()},
                      "model_copy(update=...)")

    @classmethod
    def model_construct(cls, _fields_set: set[str] | None = None, **values: Any) -> Spec:
        raise TypeError("Spec.model_construct would skip validation: use archspec.load(...), Spec(...) or "
                        "spec.with_overrides({...})")

    def __eq__(self, other: object) -> bool:
        """Equal when the specs are: where each was loaded from does not matter."""
        return isinstance(other, Spec) and self.model_dump() == other.model_dump()

    def __hash__(self) -> int:
        """By content, as `==` compares (`blocks` holds mappings, which Pydantic's hash cannot take)."""
        return hash(json.dumps(self.model_dump(mode="json"), sort_keys=True))
