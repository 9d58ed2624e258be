"""The memory budget is an upper bound: for every layer and block kind, at a few shapes, the real peak
of a forward pass is at most the estimate (`archspec.budget`).

The real peak is what PyTorch's CPU allocator holds at once during an eval forward of one image in
no_grad, read from torch.profiler's allocation events, plus the input image (allocated before). It is
measured with oneDNN on (as many threads as torch uses, then one) and off, since PyTorch picks a
convolution's kernel by those and by the input's size. The network's own state is not part of it:
its parameters and buffers (BatchNorm's running statistics) are compared exactly, in bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from torch.profiler import ProfilerActivity, profile

import archspec
from archspec.blocks import BLOCKS
from archspec.budget import BYTES_PER_VALUE, format_bytes
from archspec.errors import SpecError
from archspec.layer_rules import ONEDNN_THREADS
from archspec.layers import LAYERS
from archspec.testing import to_spec, valid_specs

pytestmark = pytest.mark.filterwarnings("ignore:TF32 acceleration on top of oneDNN")  # mkldnn.flags' note

Shape = tuple[int, int, int]
SHAPES: tuple[Shape, ...] = ((3, 8, 8), (16, 20, 20), (5, 33, 17))
BLOCK_SHAPES: tuple[Shape, ...] = ((8, 20, 20), (8, 33, 17))

# Every registered layer kind, in a few settings; `flat` ones get a flatten in front.
LAYER_CASES: dict[str, list[dict[str, Any]]] = {
    "conv": [{"width": 8}, {"width": 24, "kernel": 1, "stride": 2}, {"width": 4, "kernel": [5, 3], "padding": 2},
             {"width": 32, "kernel": 7, "stride": 2, "padding": 3}, {"width": 16, "kernel": 3, "padding": 2,
                                                                    "dilation": 2, "bias": False}],
    "batchnorm": [{}],
    "relu": [{}, {"inplace": False}],
    "sigmoid": [{}], "tanh": [{}], "gelu": [{}], "silu": [{}], "leaky_relu": [{}], "dropout": [{}],
    "local_response_norm": [{}, {"size": 2}, {"size": 64}],
    "maxpool": [{}, {"kernel": 3, "stride": 1, "padding": 1, "ceil_mode": True}],
    "avgpool": [{}, {"kernel": 3, "stride": 2, "padding": 1}],
    "adaptive_avgpool": [{}, {"size": 3}, {"size": [2, 5]}],
    "global_avgpool": [{}],
    "flatten": [{}],
    "linear": [{"width": 10}, {"width": 300, "bias": False}],
    "relu6": [{}, {"inplace": False}], "hardswish": [{}, {"inplace": False}], "hardsigmoid": [{}],
    "identity": [{}], "stochastic_depth": [{"p": 0.2}, {"p": 0.5, "mode": "batch"}],
    "channel_shuffle": [{"groups": 1}],  # the only groups that divide every shape's channels (3, 16, 5)
    "layernorm": [{}, {"eps": 1e-6}], "layer_scale": [{}, {"scale": 0.5}],
    "adaptive_maxpool": [{}, {"size": 3}, {"size": [2, 5]}], "global_maxpool": [{}],
    "pointwise_linear": [{"width": 24}, {"width": 3, "bias": False}],
}
FLAT_CASES = {"linear": [{"width": 10}, {"width": 300, "bias": False}], "batchnorm": [{}], "relu": [{}],
              "layernorm": [{}], "identity": [{}], "hardswish": [{}], "stochastic_depth": [{"p": 0.1}]}
GROUPED = {"conv": [{"width": 48, "groups": 3}, {"width": 16, "kernel": 1, "groups": 16},  # on 48 channels
                    {"width": 48, "groups": "depthwise", "padding": 1},
                    {"width": 96, "kernel": 5, "stride": 2, "groups": "depthwise"}],
           "channel_shuffle": [{"groups": 2}, {"groups": 3}, {"groups": 48}]}

# Every registered block kind: its shortcuts and options, on an input of BLOCK_SHAPES (8 channels).
BLOCK_CASES: dict[str, list[dict[str, Any]]] = {
    "basic": [{"width": 8}, {"width": 16, "stride": 2}, {"width": 16, "stride": 2, "shortcut": "A"},
              {"width": 16, "stride": 2, "shortcut": "A", "zero_pad": "both"}, {"width": 8, "shortcut": "C"},
              {"width": 8, "shortcut": "identity", "activation_before_add": True},
              {"width": 12, "shortcut": "none", "repeats": 2},
              {"width": 16, "stride": 2, "projection_norm": False, "projection_bias": True}],
    "bottleneck": [{"width": 4}, {"width": 8, "stride": 2, "stride_on": "1x1"},
                   {"width": 8, "groups": 4, "width_per_group": 8, "stride": 2, "repeats": 2}],
    "vgg": [{"width": 8}, {"width": 12, "repeats": 3, "batchnorm": True}],
    "nin": [{"width": 8, "kernel": 3, "padding": 1}, {"width": 16, "kernel": [5, 3], "stride": 2}],
    "inception": [{"c1": 4, "c2": [4, 8], "c3": [2, 4], "c4": 4},
                  {"c1": 8, "c2": [4, 8], "c3": [4, 8], "c4": 8, "c3_kernel": 3, "batchnorm": True,
                   "bias": False, "pool_ceil_mode": True}],
}


@contextmanager
def cpu_settings(onednn: bool, threads: int | None) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(threads or before)
    try:
        with torch.backends.mkldnn.flags(enabled=onednn):
            yield
    finally:
        torch.set_num_threads(before)


SETTINGS = ((True, None), (True, 1), (False, 1))  # oneDNN at torch's threads, at one; PyTorch's own kernels
ONE_SETTING = SETTINGS[:1]  # for kernels that neither oneDNN nor the thread count changes


def allocator_peak(run: Callable[[], Any]) -> int:
    """The most bytes the CPU allocator held at once while `run` ran, beyond what it held before."""
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as profiler:
        result = run()
    del result
    allocations: list[tuple[int, int]] = []
    stack = list(profiler.profiler.kineto_results.experimental_event_tree())
    while stack:
        event = stack.pop()
        if event.name == "[memory]" and event.extra_fields.device.type == "cpu":
            allocations.append((event.start_time_ns, event.extra_fields.alloc_size))
        stack.extend(event.children)
    held = peak = 0
    for _, size in sorted(allocations):
        held += size
        peak = max(peak, held)
    return peak


def forward_peak(network: torch.nn.Module, shape: tuple[int, ...], warm_up: bool = True) -> int:
    """Bytes an eval forward of one image holds at once: the input, and the forward's allocations."""
    image = torch.randn(1, *shape)
    with torch.no_grad():
        if warm_up:
            network(image)  # once first: nothing lazily set up is counted
        return image.numel() * image.element_size() + allocator_peak(lambda: network(image))


def assert_within_estimate(document: dict[str, Any], shape: tuple[int, ...],
                           settings: tuple[tuple[bool, int | None], ...] = SETTINGS, warm_up: bool = True) -> None:
    spec = to_spec(document)
    report = archspec.check(spec, max_memory=None)
    assert report.ok, [error.message for error in report.errors]
    estimate = report.memory
    network = archspec.compile(spec, max_memory=None).eval()
    assert sum(p.numel() for p in network.parameters()) * BYTES_PER_VALUE == estimate.parameter_bytes
    assert sum(b.numel() * b.element_size() for b in network.buffers()) == estimate.buffer_bytes
    for onednn, threads in settings:
        with cpu_settings(onednn, threads):
            measured = forward_peak(network, shape, warm_up)
        assert measured <= estimate.activation_bytes, (
            f"{document} at {shape} (oneDNN {onednn}, threads {threads}): the forward holds "
            f"{measured:,} bytes, the estimate says {estimate.activation_bytes:,} ({estimate.describe()})")


def network(shape: tuple[int, ...], stem: list[dict[str, Any]], stages: list[dict[str, Any]] | None = None
            ) -> dict[str, Any]:
    channels, *size = shape
    document: dict[str, Any] = {"name": "bound", "input": {"channels": channels, "size": size}}
    if stem:
        document["stem"] = stem
    if stages:
        document["stages"] = stages
    return document


def test_every_registered_kind_has_cases():
    assert sorted(LAYER_CASES) == sorted(LAYERS.names())
    assert sorted(BLOCK_CASES) == sorted(BLOCKS.names())


@pytest.mark.parametrize("shape", SHAPES, ids=lambda shape: "x".join(map(str, shape)))
@pytest.mark.parametrize("kind", sorted(LAYER_CASES))
def test_each_layer_kind_stays_within_its_estimate(kind: str, shape: Shape):
    for fields in LAYER_CASES[kind]:
        stem = [{"layer": kind, **fields}]
        if kind == "linear":
            stem.insert(0, {"layer": "flatten"})
        assert_within_estimate(network(shape, stem), shape, SETTINGS if kind == "conv" else ONE_SETTING)


@pytest.mark.parametrize("kind", sorted({*FLAT_CASES, *GROUPED}))
def test_flat_and_grouped_layers_stay_within_their_estimate(kind: str):
    for fields in FLAT_CASES.get(kind, []):
        assert_within_estimate(network((4, 6, 6), [{"layer": "flatten"}, {"layer": kind, **fields}]), (4, 6, 6),
                               ONE_SETTING)
    for fields in GROUPED.get(kind, []):
        assert_within_estimate(network((48, 14, 14), [{"layer": kind, **fields}]), (48, 14, 14))


@pytest.mark.parametrize("shape", BLOCK_SHAPES, ids=lambda shape: "x".join(map(str, shape)))
@pytest.mark.parametrize("kind", sorted(BLOCK_CASES))
def test_each_block_kind_stays_within_its_estimate(kind: str, shape: Shape):
    """The block alone (no stem), so that its own peak, not another layer's, is measured."""
    for fields in BLOCK_CASES[kind]:
        assert_within_estimate(network(shape, [], [{"block": kind, **fields}]), shape)


def test_a_whole_network_stays_within_its_estimate():
    """Stages nest: a list stage of layers and blocks, then block stages, then a head."""
    stages = [{"blocks": [{"layer": "maxpool", "kernel": 3, "stride": 1, "padding": 1},
                          {"block": "basic", "width": 8, "shortcut": "C"}, {"layer": "relu"}]},
              {"block": "bottleneck", "width": 4, "stride": 2, "repeats": 2},
              {"block": "inception", "c1": 4, "c2": [4, 8], "c3": [2, 4], "c4": 4}]
    stem = [{"layer": "conv", "width": 8, "kernel": 7, "stride": 2, "padding": 3}, {"layer": "batchnorm"},
            {"layer": "relu"}, {"layer": "local_response_norm"}]
    document = network((3, 64, 48), stem, stages)
    document["head"] = [{"layer": "global_avgpool"}, {"layer": "flatten"}, {"layer": "linear", "width": 10}]
    assert_within_estimate(document, (3, 64, 48))


def test_strided_1x1_convolutions_within_their_estimate_at_the_threads_counted():
    """oneDNN gives each thread its own strided copy of the input; the estimate counts ONEDNN_THREADS."""
    document = network((16, 40, 40), [{"layer": "conv", "width": 32, "kernel": 1, "stride": 2}])
    assert_within_estimate(document, (16, 40, 40), settings=((True, ONEDNN_THREADS),))


@pytest.mark.parametrize(("shape", "fields"), [((6, 8, 27), {"width": 6, "groups": 2}),
                                               ((6, 32, 32), {"width": 6, "groups": 2}),
                                               ((15, 10, 10), {"width": 15, "groups": 5}),
                                               ((30, 9, 9), {"width": 60, "groups": 2})])
def test_grouped_convolutions_of_few_channels_within_their_estimate_at_any_thread_count(shape, fields):
    """oneDNN convolves groups of a few channels with its gemm kernel, one unfolded group per
    thread (found by the explore profile: se_bottleneck of width 3 with groups 2, at oneDNN's 2 threads)."""
    document = network(shape, [{"layer": "conv", **fields}])
    assert_within_estimate(document, shape, settings=tuple((True, threads) for threads in (1, 2, 4, 8, 16)))


@pytest.mark.parametrize(("channels", "width"), [(10, 1), (10, 8), (16, 16)])
def test_a_convolution_after_a_pointwise_linear_within_its_estimate(channels: int, width: int):
    """`pointwise_linear` permutes: the convolution after it reads a channels-last input, and copies its
    weights for it (found by the explore profile: a vgg block after a pointwise_linear)."""
    shape = (channels, 8, 8)
    stem = [{"layer": "pointwise_linear", "width": channels}, {"layer": "conv", "width": width, "padding": 1}]
    assert_within_estimate(network(shape, stem), shape)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_specs(max_width=12))
def test_drawn_networks_stay_within_their_estimate(document: dict):
    spec = to_spec(document)
    shape = archspec.check(spec).input_shape
    assert_within_estimate(document, shape, settings=ONE_SETTING)


LRN_4096 = network((1, 256, 256), [{"layer": "local_response_norm", "size": 4096}])


def test_a_huge_local_response_norm_is_estimated_at_its_real_peak():
    """F.local_response_norm pads the squared input with size - 1 zero channels: 4096 planes here."""
    estimate = archspec.check(to_spec(LRN_4096), max_memory=None).memory
    assert estimate.activation_bytes >= 4097 * 256 * 256 * BYTES_PER_VALUE  # the padded squares, the input
    # One forward (about 8 s: avg_pool3d over 4096 channels), not warmed up: LRN sets nothing up lazily.
    assert_within_estimate(LRN_4096, (1, 256, 256), settings=ONE_SETTING, warm_up=False)


def test_a_huge_local_response_norm_is_refused_under_one_gib():
    spec = to_spec(LRN_4096)
    report = archspec.check(spec, max_memory=1024**3)
    assert not report.ok
    assert f"{format_bytes(1024**3)} of memory (the budget)" in report.errors[0].message
    assert "while lrn runs" in report.errors[0].message
    with pytest.raises(SpecError, match="memory"):
        archspec.compile(spec, max_memory=1024**3)
