"""archspec: a declarative architecture compiler for PyTorch.

    spec = archspec.load("specs/resnet18.yaml")   # load + validate
    report = archspec.check(spec)                  # static shapes, params, MACs; no torch needed
    model = archspec.compile(spec)                 # a real torch.nn.Module

Importing archspec does not import torch; only `compile` and `load_torchvision_weights` do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args, get_origin

from archspec._resolving import SCALE_OVERRIDE, needs_resolving
from archspec.budget import DEFAULT_MAX_MEMORY
from archspec.check import Report
from archspec.errors import Diagnostic, SpecError, outside
from archspec.imports import with_imports
from archspec.loader import Document, PartlyRead, load_document
from archspec.shapes import MAX_COUNT, Shape, input_shape
from archspec.spec import Spec
from archspec.validate import validate

if TYPE_CHECKING:
    from torch import nn

    from archspec.blocks.base import BlockStage

__all__ = ["Diagnostic", "Report", "Spec", "SpecError", "check", "compile", "load",
           "load_torchvision_weights", "register_block"]
__version__ = "0.1.0"


def load(source: str | Path, overrides: Mapping[str, object] | Sequence[str] | None = None, *,
         scale: str | None = None) -> Spec:
    """A validated `Spec` from a file path or from YAML text; raises `SpecError` on any problem.

    `overrides` change values before validation, as `--set` does: `{"head[-1].width": 10,
    "classes": 10}` (a path, or a name of `vars`, to a value) or `["head[-1].width=10"]` (values read
    as YAML). `vars` and `${...}` expressions are resolved here too. `scale` names one of the spec's
    `scales`, applied after them (as `--scale`).
    """
    try:
        document = load_document(source)
    except PartlyRead as error:  # the text's own mistakes: the rest is validated too, every error at once
        raise SpecError([*error.errors, *_errors_beside(error, overrides, scale)]) from None
    return _validated(document, overrides, scale)


def _validated(document: Document, overrides: Mapping[str, object] | Sequence[str] | None,
               scale: str | None) -> Spec:
    document = with_imports(document)
    if not overrides and scale is None and not needs_resolving(document):
        return validate(document)  # nothing to resolve: no extra work
    from archspec.overrides import Override, resolved_spec, to_overrides  # the resolve pass, only when needed

    chosen = () if scale is None else (Override(SCALE_OVERRIDE, scale, f"--scale {scale}"),)
    return resolved_spec(document, (*to_overrides(overrides), *chosen))


def _errors_beside(error: PartlyRead, overrides: Mapping[str, object] | Sequence[str] | None,
                   scale: str | None) -> list[Diagnostic]:
    """The errors of the rest of a document the loader read in part (not those where it left a value out)."""
    try:
        _validated(error.document, overrides, scale)
    except SpecError as later:
        return outside(later.errors, error.replaced)
    return []


def register_block(kind: type[BlockStage]) -> type[BlockStage]:
    """Makes a block kind written in Python usable in specs (`block: <its name>`), in the schema and
    in `archspec blocks`; usable as a class decorator. `kind` subclasses
    `archspec.blocks.BlockStage` with a field `block: Literal["<name>"]` and implements `lower`
    (see archspec/blocks/residual.py); its static figures come from its graph unless it also gives
    `facts`. A name already taken (built in, a library kind, or registered before) is refused."""
    from archspec.blocks.base import BLOCKS, BlockStage

    if not (isinstance(kind, type) and issubclass(kind, BlockStage)):
        raise TypeError(f"register_block expects a subclass of archspec.blocks.BlockStage, found {kind!r}")
    annotation = kind.model_fields["block"].annotation if "block" in kind.model_fields else None
    names = get_args(annotation) if get_origin(annotation) is Literal else ()
    if len(names) != 1 or not isinstance(names[0], str):
        raise TypeError(f"{kind.__name__} needs a field `block: Literal[\"<kind name>\"]` with one name: the "
                        f"name specs use" + (f"; found Literal{list(names)}" if names else ""))
    from archspec.library import library_index

    if names[0] in library_index():  # its library kinds nest it by name: they would nest this class instead
        raise ValueError(f"block kind {names[0]!r} is a kind of archspec's library "
                         f"({library_index()[names[0]].name}); give {kind.__name__} another block name")
    return BLOCKS.register(kind)


def check(spec: Spec | str | Path, input: Shape | None = None, *,  # noqa: A002
          max_memory: int | None = DEFAULT_MAX_MEMORY) -> Report:
    """The static check of `spec` for `input` (channels, height, width); default: the spec's input.

    Returns a `Report` whether or not the spec is valid: see `Report.ok` and `Report.errors`.
    A network whose estimated memory (`Report.memory`) exceeds `max_memory` bytes is an error;
    `max_memory=None` turns the budget off.
    """
    from archspec.check import check as run_check

    return run_check(spec if isinstance(spec, Spec) else load(spec), _input_shape(input), _budget(max_memory))


def _input_shape(given: object) -> Shape | None:
    """`input` as the check takes it; ValueError for anything but (channels, height, width) in whole
    numbers from 1 to MAX_COUNT (as `--input` on the command line)."""
    shape = input_shape(given)
    if given is None or shape is not None:
        return shape
    raise ValueError(f"input: expected (channels, height, width) in whole numbers from 1 to {MAX_COUNT:,}, "
                     f"e.g. (3, 224, 224); found {given!r}")


def _budget(given: object) -> int | None:
    if given is None or (isinstance(given, int) and not isinstance(given, bool) and given > 0):
        return given
    raise ValueError(f"max_memory: expected a number of bytes above 0, or None for no budget; found {given!r}")


def compile(spec: Spec | str | Path, input: Shape | None = None, *,  # noqa: A001, A002
            max_memory: int | None = DEFAULT_MAX_MEMORY) -> nn.Module:
    """Check `spec` and build its `torch.nn.Module`; raises `SpecError` if the check finds errors
    (including a network over the `max_memory` budget: nothing is allocated then)."""
    from archspec.build import build_module

    report = check(spec, input, max_memory=max_memory)
    if not report.ok:
        raise SpecError(report.errors)
    return build_module(report)


def load_torchvision_weights(network: nn.Module, source: Any) -> nn.Module:
    """Copy a torchvision model's weights (or a state_dict) into a compiled network, by position."""
    from archspec.build import load_torchvision_weights as copy_weights

    return copy_weights(network, source)
