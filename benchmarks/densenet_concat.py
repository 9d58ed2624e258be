"""Why archspec's compiled densenet121 forward is faster than torchvision's (issue 14): the dense blocks'
concatenation pattern, isolated.

Four models with the same weights, timed alternately round after round (eval forward, or with `--train`
forward+backward): archspec's densenet121, torchvision's, a second torchvision (the control), and
torchvision's with each `_DenseBlock.forward` rewritten as archspec's running concatenation
(`x = torch.cat([x, layer(x)], 1)`: each layer appends its new maps to its input). Nothing else differs
from torchvision's model, so its ratio is the concatenation pattern's doing alone. Under torch.compile it
also reads inductor's generated code: kernel calls, bytes written into concatenation slices and the peak
of the buffers alive at once.

    python benchmarks/densenet_concat.py --size 128 --rounds 41 [--eager] [--train] [--output FILE.json]
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import re
import types
from typing import Any

import torch
from runtime import _inputs, same_models, step_functions
from timing import interleaved, ratio_summary
from torch import nn
from torch._inductor.utils import run_and_get_code


def running_concatenation(block: nn.ModuleDict, features: torch.Tensor) -> torch.Tensor:
    """archspec's dense block: every layer reads the running tensor and appends its new maps to it."""
    for layer in block.values():
        features = torch.cat([features, layer(features)], 1)
    return features


def with_running_concatenation(torchvision_densenet: nn.Module) -> nn.Module:
    model = copy.deepcopy(torchvision_densenet)
    for module in model.modules():
        if type(module).__name__ == "_DenseBlock":
            module.forward = types.MethodType(running_concatenation, module)
    return model


def _nbytes(shape: str) -> int:
    return 4 * math.prod(int(size) for size in shape.split(",") if size.strip())


def generated_code_facts(code: str) -> dict[str, Any]:
    """From inductor's `call()`: buffers are made by empty_strided_cpu or returned by a convolution (its
    assert_tensor_metadata line), freed by `del`, kept across `# reuse`; `# alias` views are the slices
    a kernel writes into a concatenation's buffer. float32 throughout."""
    body = [line.strip() for line in code.split("def call(self, args):")[1].splitlines()]
    live: dict[str, int] = {}
    peak = slices = 0
    for line in body:
        if made := (re.match(r"(buf\d+) = empty_strided_cpu\(\(([\d, ]+)\)", line)
                    or re.match(r"assert_tensor_metadata\((buf\d+), \(([\d, ]+)\)", line)):
            live.setdefault(made[1], _nbytes(made[2]))
        elif alias := re.match(r"buf\d+ = reinterpret_tensor\(buf\d+, \(([\d, ]+)\).*# alias", line):
            slices += _nbytes(alias[1])
        elif (reuse := re.match(r"(buf\d+) = (buf\d+); del buf\d+  # reuse", line)) and reuse[2] in live:
            live[reuse[1]] = live.pop(reuse[2])
        elif freed := re.match(r"del (buf\d+)$", line):
            live.pop(freed[1], None)
        peak = max(peak, sum(live.values()))
    calls = sum(1 for line in body if re.search(r"\bcpp_fused\w*\(|extern_kernels\.\w+\(", line))
    return {"kernel_calls": calls, "concat_slices_MiB": round(slices / 2**20, 1),
            "peak_live_buffers_MiB": round(peak / 2**20, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=41)
    parser.add_argument("--eager", action="store_true", help="eager mode (default: torch.compile fullgraph)")
    parser.add_argument("--train", action="store_true", help="forward+backward in train mode (default: forward)")
    parser.add_argument("--output", help="also write the result as JSON here")
    arguments = parser.parse_args()
    torch.set_num_threads(1)
    ours, theirs = same_models("densenet121")
    models = {"archspec": ours, "torchvision": theirs, "control": copy.deepcopy(theirs),
              "torchvision, running concatenation": with_running_concatenation(theirs)}
    images, labels = _inputs(arguments.batch, arguments.size)
    for model in models.values():
        model.train(arguments.train)

    steps, code_facts = {}, {}
    for name, model in models.items():
        run = model if arguments.eager else torch.compile(model, fullgraph=True, dynamic=False)
        steps[name] = step_functions(run, images, labels)["forward+backward" if arguments.train else "forward"]
        if not arguments.eager:  # the first call compiles; its generated code (forward, then backward)
            _, codes = run_and_get_code(steps[name])
            code_facts[name] = [generated_code_facts(code) for code in codes]
    load_before = os.getloadavg()
    samples = interleaved(steps, rounds=arguments.rounds, warmup=2)
    result = {
        "config": vars(arguments), "load_average_before_after": [load_before, os.getloadavg()],
        "median_ms": {name: round(sample.median * 1e3, 1) for name, sample in samples.items()},
        "ratio_to_torchvision [quartiles]": {
            name: {key: round(value, 3) for key, value in ratio_summary(sample, samples["torchvision"]).items()}
            for name, sample in samples.items() if name != "torchvision"},
        "generated_code": code_facts}
    print(json.dumps(result, indent=1))
    if arguments.output:
        with open(arguments.output, "w") as file:
            json.dump(result, file, indent=1)


if __name__ == "__main__":
    main()
