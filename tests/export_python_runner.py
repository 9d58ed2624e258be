"""Runs generated model files in a process where archspec cannot be imported.

Used by tests/test_export_python.py, which also imports `deterministic_state` from here so that both
processes fill the same weights. Run as a script: `python -I export_python_runner.py manifest.json`.
The manifest lists, per spec: the generated file, its class, the state_dict keys with shapes and dtypes
of the archspec-compiled module, the input shape, and where to save the output.
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys

import torch

# Both processes compute with one thread: the same reduction order, and no threads spinning idle on
# these small inputs (on a busy 2-core machine that cost ten times the work itself).
THREADS = 1


def deterministic_state(entries: list[list], seed: int) -> dict[str, torch.Tensor]:
    """Weights from (name, shape, dtype) entries: the same in every process, with finite outputs.

    Values are cut from one random pool of prime length at a different offset per tensor: as varied as
    an equality test needs, at the speed of a copy (the shipped specs hold about a billion weights).
    """
    pool = torch.randn(1_000_003, generator=torch.Generator().manual_seed(seed))
    state = {}
    for number, (name, shape, dtype) in enumerate(entries):
        if dtype != "torch.float32":  # BatchNorm's num_batches_tracked
            state[name] = torch.full(shape, 7, dtype=getattr(torch, dtype.split(".")[1]))
            continue
        if name.endswith("running_var"):
            scale, shift, source = 1.0, 0.5, pool.abs()
        elif len(shape) <= 1:  # biases, BatchNorm scales (near 1) and shifts, running means
            scale, shift, source = 0.1, 1.0 if name.endswith("weight") else 0.0, pool
        else:  # He initialisation's scale keeps activations finite through deep networks
            scale, shift, source = math.sqrt(2.0 / math.prod(shape[1:])), 0.0, pool
        count = math.prod(shape)
        offset = (number * 7_919) % len(pool)
        if count + offset <= len(pool):
            values = source[offset:offset + count] * scale + shift
        else:  # a large layer: scale the pool once, then repeat it
            values = (source * scale + shift).repeat(-(-(count + offset) // len(pool)))[offset:offset + count]
        state[name] = values.reshape(shape)
    return state


def example_input(shape: list[int], seed: int) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def main(manifest_path: str) -> None:
    torch.set_num_threads(THREADS)
    # Block archspec before any generated file runs. `python -I` keeps the repository off sys.path, but
    # an installed archspec (pip install -e .) would still be found through site-packages.
    sys.modules["archspec"] = None  # type: ignore[assignment]
    try:
        import archspec  # noqa: F401
    except ImportError:
        reachable = False
    else:
        reachable = True
    with open(manifest_path, encoding="utf-8") as file:
        manifest = json.load(file)
    for entry in manifest:
        spec = importlib.util.spec_from_file_location(f"generated_{entry['class']}", entry["file"])
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        with torch.device("meta"):  # no initialisation: every tensor is loaded next
            model = getattr(module, entry["class"])()
        model.load_state_dict(deterministic_state(entry["state"], entry["seed"]), strict=True, assign=True)
        model.eval()
        with torch.no_grad():
            output = model(example_input(entry["input"], entry["seed"]))
        torch.save({"keys": list(model.state_dict()), "output": output}, entry["output"])
        del model, module
    print(json.dumps({"archspec_importable": reachable}))


if __name__ == "__main__":
    main(sys.argv[1])
