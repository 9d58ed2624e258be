"""The kinds of near miss `invalid_specs` draws: each changes one value of a valid spec.

Every fault breaks the network in plain PyTorch too (the reference confirms it for each drawn
example), so a test can demand both that archspec refuses it and that PyTorch fails: no false "ok",
no false "error". Faults where PyTorch would *not* fail are deliberately left out, for instance an
identity shortcut whose shapes differ but broadcast (a 1x1 map added to a 2x2 one): archspec refuses
it, rightly, but PyTorch silently runs it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from archspec.errors import SpecPath
from archspec.testing.kinds import BlockStrategy
from archspec.testing.reference import Shape, Trace, broadcastable, conv_size, pair

Candidate = tuple[SpecPath, Any]  # (path, value or a strategy of values)


def _entries(document: dict, trace: Trace) -> Iterator[tuple[SpecPath, dict, Shape]]:
    """Every layer and block entry with its input shape (list stages themselves are skipped)."""
    for path, x in trace.inputs.items():
        entry: Any = document
        for part in path:
            entry = entry[part]
        if "blocks" not in entry:
            yield path, entry, x


def identity_candidates(document: dict, trace: Trace) -> list[Candidate]:
    found = []
    for path, entry, x in _entries(document, trace):
        if entry.get("block") in ("basic", "bottleneck"):
            stride = entry.get("stride", 1)
            out_width = entry["width"] * (entry.get("expansion", 4) if entry["block"] == "bottleneck" else 1)
            out = (out_width, conv_size(x[1], 3, stride, 1), conv_size(x[2], 3, stride, 1))
            if not broadcastable(out, x):  # PyTorch would broadcast the addition otherwise
                found.append(((*path, "shortcut"), "identity"))
    return found


def stride_candidates(document: dict, trace: Trace) -> list[Candidate]:
    return [((*path, "stride"), st.sampled_from([2, 3])) for path, entry, _ in _entries(document, trace)
            if entry.get("block") in ("basic", "bottleneck", "nin") and entry.get("stride", 1) == 1]


def input_size_candidates(document: dict, trace: Trace) -> list[Candidate]:
    height, width = pair(document["input"]["size"])
    if max(height, width) < 2:
        return []
    return [(("input", "size"), st.tuples(st.integers(1, height), st.integers(1, width))
             .filter(lambda hw: hw != (height, width)).map(list))]


def kernel_candidates(document: dict, trace: Trace) -> list[Candidate]:
    found = []
    for path, entry, x in _entries(document, trace):
        if entry.get("layer") in ("conv", "maxpool", "avgpool") or entry.get("block") == "nin":
            padding = max(pair(entry.get("padding", 0)))
            found.append(((*path, "kernel"), st.integers(1, 3).map(lambda extra, x=x, padding=padding:
                                                                  max(x[1:]) + 2 * padding + extra)))
    return found


def flatten_candidates(document: dict, trace: Trace) -> list[Candidate]:
    head = document.get("head", [])
    return [(("head", i), {"layer": "relu"}) for i, layer in enumerate(head)
            if layer["layer"] == "flatten" and trace.inputs[("head", i)][0] != 1]


def groups_candidates(document: dict, trace: Trace) -> list[Candidate]:
    return [((*path, "groups"), x[0] + 1) for path, entry, x in _entries(document, trace)
            if entry.get("layer") == "conv"]


def depthwise_candidates(document: dict, trace: Trace) -> list[Candidate]:
    return [((*path, "groups"), "depthwise") for path, entry, x in _entries(document, trace)
            if entry.get("layer") == "conv" and entry["width"] % x[0]]


def shuffle_candidates(document: dict, trace: Trace) -> list[Candidate]:
    return [((*path, "groups"), st.integers(2, x[0] + 1).filter(lambda groups, c=x[0]: c % groups != 0))
            for path, entry, x in _entries(document, trace) if entry.get("layer") == "channel_shuffle"]


def concat_candidates(document: dict, trace: Trace) -> list[Candidate]:
    return [((*path, "c3_kernel"), st.sampled_from([2, 4])) for path, entry, _ in _entries(document, trace)
            if entry.get("block") == "inception"]


def pool_padding_candidates(document: dict, trace: Trace) -> list[Candidate]:
    return [((*path, "padding"), max(pair(entry.get("kernel", 2))) // 2 + 1)
            for path, entry, _ in _entries(document, trace) if entry.get("layer") in ("maxpool", "avgpool")]


def _kinds_where(flag: str) -> Callable[[dict[str, BlockStrategy]], list[str]]:
    return lambda strategies: [kind for kind, strategy in strategies.items() if getattr(strategy, flag)]


@dataclass(frozen=True)
class Fault:
    description: str
    candidates: Callable[[dict, Trace], list[Candidate]]
    kinds: Callable[[dict[str, BlockStrategy]], list[str]] | None = None  # block kinds it needs
    head: str | None = None  # the head style the valid spec must have
    stem_first: str | None = None  # the kind of first stem layer it must have (conv, pool)
    breaks_in: str = "anywhere"  # "here": at the changed entry; "head": in the head

    def breaks_at(self, error_path: SpecPath, changed: SpecPath) -> bool:
        if self.breaks_in == "here":
            return changed[:len(error_path)] == error_path
        return self.breaks_in != "head" or error_path[0] == "head"


FAULTS: dict[str, Fault] = {
    "identity_shortcut": Fault(
        "an identity shortcut on a residual stage whose first block changes the shape",
        identity_candidates, kinds=lambda s: [k for k in ("basic", "bottleneck") if k in s],
        breaks_in="here"),
    "wrong_stride": Fault(
        "stride 2 or 3 on a stage of a network whose head pools with a fixed kernel the size of the "
        "final map (ResNet's original AvgPool2d(7)): the map becomes smaller than the kernel",
        stride_candidates, kinds=_kinds_where("strided"), head="fixed_pool"),
    "head_no_longer_fits": Fault(
        "a smaller input size for a network whose head pools with a fixed kernel",
        input_size_candidates, head="fixed_pool", breaks_in="head"),
    "kernel_too_large": Fault(
        "a convolution, pooling or nin kernel larger than its (padded) input",
        kernel_candidates, stem_first="conv", breaks_in="here"),
    "linear_on_image": Fault(
        "the head's flatten replaced: a linear layer gets an image (a multi-channel 1x1 map)",
        flatten_candidates, head="global", breaks_in="head"),
    "groups_indivisible": Fault(
        "convolution groups that do not divide the input channels",
        groups_candidates, stem_first="conv", breaks_in="here"),
    "depthwise_width": Fault(
        "a convolution made depthwise (`groups: depthwise`) whose width is not a multiple of its input "
        "channels", depthwise_candidates, stem_first="conv", breaks_in="here"),
    "shuffle_groups_indivisible": Fault(
        "channel_shuffle groups that do not divide the channels", shuffle_candidates, stem_first="shuffle",
        breaks_in="here"),
    "bad_concatenation": Fault(
        "an even kernel in an inception branch: that branch's map is one pixel larger than the "
        "others, so they cannot be concatenated", concat_candidates,
        kinds=lambda s: [k for k in ("inception",) if k in s], breaks_in="here"),
    "pool_padding": Fault(
        "pooling padding larger than half the kernel", pool_padding_candidates, stem_first="pool",
        breaks_in="here"),
}


def candidates(name: str, document: dict, trace: Trace) -> list[Candidate]:
    return FAULTS[name].candidates(document, trace)
