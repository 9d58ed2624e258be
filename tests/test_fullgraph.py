"""`torch.compile(fullgraph=True)` takes every compiled network as one graph: no graph break.

One small network per block kind of the standard library (the list is the library's own, so a new
kind is covered the day it ships), and the module of a zoo network at a small input, each compiled
with fullgraph=True (which raises at the first graph break) in eval mode and in train mode with a
backward pass. The "eager" backend: dynamo traces the whole module, and nothing is code-generated,
which keeps the test short on a small CPU. In a process of its own: dynamo patches torch.nn's
classes for the rest of the process.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import archspec
from archspec.library import library_kinds

SPECS = Path(__file__).resolve().parent.parent / "specs"
ZOO_NETWORK, ZOO_SIZE = "mobilenet_v2", 32  # 32x32: mobilenet_v2's five stride-2 steps leave a 1x1 map

# (input channels, width, stride, repeats): the first one a kind accepts is its test network; the
# first copy strides, the second keeps the shape (where a residual kind adds its identity).
STAGE_CANDIDATES = ((16, 16, 2, 2), (16, 32, 2, 2), (16, 16, 1, 1))


def stage_network(kind: str) -> str:
    """A spec whose one stage uses `kind` (at its default fields), in a conv stem and a linear head."""
    for channels, width, stride, repeats in STAGE_CANDIDATES:
        text = (f"name: fullgraph-{kind}\ninput: {{channels: 3, size: 16}}\n"
                f"stem: [{{layer: conv, width: {channels}, kernel: 3, padding: 1}}]\n"
                f"stages:\n  - {{block: {kind}, width: {width}, stride: {stride}, repeats: {repeats}}}\n"
                "head: [{layer: global_avgpool}, {layer: flatten}, {layer: linear, width: 10}]\n")
        if archspec.check(archspec.load(text)).ok:
            return text
    raise AssertionError(f"no small test network for library kind {kind}: add a STAGE_CANDIDATES entry")


_COMPILE_EACH = """
import json, sys, torch, archspec
torch.manual_seed(0)
results = {}
for name, path, size in json.loads(sys.argv[1]):
    network = archspec.compile(path)
    x = torch.randn(2, 3, size, size)
    fast = torch.compile(network, fullgraph=True, backend="eager", dynamic=False)
    network.eval()
    with torch.no_grad():
        same = torch.allclose(fast(x), network(x), atol=1e-6)
    network.train()
    fast(x).square().sum().backward()  # train mode: batch statistics, dropout, stochastic depth
    gradients = all(p.grad is not None for p in network.parameters() if p.requires_grad)
    results[name] = [same, gradients]
    torch._dynamo.reset()
print(json.dumps(results))
"""


def test_every_library_kind_and_a_zoo_network_compile_as_one_graph(tmp_path):
    networks = []
    for kind in sorted(library_kinds()):
        path = tmp_path / f"{kind}.yaml"
        path.write_text(stage_network(kind))
        networks.append((kind, str(path), 16))
    networks.append((ZOO_NETWORK, str(SPECS / f"{ZOO_NETWORK}.yaml"), ZOO_SIZE))
    done = subprocess.run([sys.executable, "-c", _COMPILE_EACH, json.dumps(networks)], capture_output=True,
                          text=True, timeout=600, check=False)
    # fullgraph=True raises torch._dynamo's Unsupported at a graph break: its message names the break.
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.splitlines()[-1])
    assert results == {name: [True, True] for name, _, _ in networks}
