"""A long fuzz campaign: hostile and random specs through load, check and build.

    python -m tests.fuzz_campaign                 # 10,000 cases, the figure the README reports
    python -m tests.fuzz_campaign --cases 2000 --seed 7

Four sources of cases, in the proportions 3 : 2 : 2 : 3:
- hostile text: random byte edits of the shipped specs (tests/test_fuzz.py's `mutate_bytes`);
- hostile structure: deleted keys, wrong types, swapped values, duplicated items, unknown keys,
  other numbers and colliding or reserved module names in the shipped specs;
- hostile block definitions (tests/fuzz_blocks.py): expressions that try to run code or overflow,
  deep and cyclic nesting, huge results, many nodes, malformed definitions, in the shipped specs;
- random networks: specs drawn with archspec's public strategies (`archspec.testing.valid_specs`,
  half of them with block kinds written in YAML, `defined_blocks`), most of them mutated the same
  way. Every one of these and of the block cases that `check` accepts is compiled and compared with
  its report: parameters, every module's output shape on a real forward, the output shape, and the
  state_dict's module names against the table's.

A case passes when it ends in a report or a located `SpecError`, within the hang guard, and, where the
check accepted it, the built network equals the report. Anything else is printed with the case and
counted; the exit status is 1 if any case failed. The suite runs the same code on fewer cases
(tests/test_fuzz.py); this script is for the long runs whose count and result the README records.
"""

from __future__ import annotations

import argparse
import copy
import random
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

import archspec
from archspec import SpecError
from archspec.graph import walk
from archspec.loader import dump, load_document
from archspec.testing import defined_blocks, valid_specs
from archspec.verify import verify_against_forward

sys.path.insert(0, str(Path(__file__).parent))  # tests/test_fuzz.py imports `conftest` as the suite does
from fuzz_blocks import PWNED, hostile_blocks
from test_fuzz import MUTATIONS, SECONDS_PER_CASE, SHIPPED, mutate_bytes, parent_and_key, paths

# Names that collide with defaults (layerN, conv1, fc, a block's index), with each other, or with
# attributes of nn.Module and of archspec's compiled network.
NAMES = ["layer1", "layer2", "layer3", "fc", "conv1", "bn1", "relu", "maxpool", "avgpool", "flatten",
         "0", "1", "downsample", "forward", "training", "_modules", "add_module", "dump_patches",
         "T_destination", "spec_name", "state_dict", "stem", "head", "a", "a"]


def rename(rng: random.Random, data: Any, path: tuple) -> None:
    """Gives the mapping at or above `path` a colliding or reserved `name`."""
    parent, key = parent_and_key(data, path)
    target = parent[key] if isinstance(parent[key], dict) else parent
    if isinstance(target, dict) and ("layer" in target or "block" in target or "blocks" in target):
        target["name"] = rng.choice(NAMES)


STRUCTURAL: list[Callable[[random.Random, Any, tuple], None]] = [*MUTATIONS, rename, rename]


def mutate(rng: random.Random, data: Any, times: int) -> None:
    for _ in range(times):
        all_paths = list(paths(data))
        if all_paths:
            rng.choice(STRUCTURAL)(rng, data, rng.choice(all_paths))


class Hang(Exception):
    pass


def _alarm(signum: int, frame: object) -> None:
    raise Hang


def small_input(document: dict) -> bool:
    """Whether a spec's input is at most 64 pixels a side: the block cases build only those (a
    shipped ImageNet-size spec with a hostile block added takes seconds to build and run)."""
    size = document.get("input", {}).get("size") if isinstance(document.get("input"), dict) else None
    sides = size if isinstance(size, list) else [size]
    return all(isinstance(side, int) and side <= 64 for side in sides)


def outcome_of(source: str | Path, build: bool) -> str:
    """'refused', 'invalid', 'ok' or 'built'; raises AssertionError on any disagreement."""
    try:
        report = archspec.check(archspec.load(source), max_memory=256 * 2**20 if build else 4 * 2**30)
    except SpecError as error:
        assert error.errors and all(d.line is not None and d.column is not None for d in error.errors), error
        return "refused"
    if not report.ok:
        assert all(d.line is not None for d in report.errors), report.errors
        return "invalid"
    if not build:
        return "ok"
    model = archspec.compile(report.spec, max_memory=None).eval()
    assert sum(p.numel() for p in model.parameters()) == report.params
    problems = verify_against_forward(report, model)
    assert not problems, problems
    with torch.no_grad():
        out = model(torch.zeros(2, *report.input_shape))
    assert tuple(out.shape[1:]) == report.output_shape
    table = {r.qualname for top in report.resolved for _, r in walk(top)}
    owners = {key.rpartition(".")[0] for key in model.state_dict()}
    assert owners <= table, sorted(owners - table)
    return "built"


def run(cases: int, base_seed: int) -> int:
    rng = random.Random(base_seed)
    counts: Counter[str] = Counter()
    failures: list[str] = []
    previous = signal.signal(signal.SIGALRM, _alarm)

    def one(label: str, source: str | Path, build: bool, shown: str) -> None:
        signal.alarm(SECONDS_PER_CASE * (6 if build else 1))
        try:
            counts[f"{label}:{outcome_of(source, build)}"] += 1
        except Exception as error:  # every other outcome is a finding
            counts[f"{label}:FAILED"] += 1
            failures.append(f"{label} case {sum(counts.values())}: {type(error).__name__}: {error}\n{shown[:1500]}")
        finally:
            signal.alarm(0)

    byte_cases = cases * 3 // 10
    text_cases = block_cases = cases * 2 // 10
    random_cases = cases - byte_cases - text_cases - block_cases
    sources = [path.read_bytes() for path in SHIPPED]
    documents = [load_document(path).data for path in SHIPPED]
    target = Path(f"/tmp/archspec-fuzz-{base_seed}.yaml")
    for _ in range(byte_cases):
        raw = mutate_bytes(rng, rng.choice(sources))
        target.write_bytes(raw)
        one("bytes", target, False, repr(raw))
    for _ in range(text_cases):
        data = copy.deepcopy(rng.choice(documents))
        mutate(rng, data, rng.choice([1, 1, 1, 2, 3]))
        text = dump(data)
        one("structure", text, False, text)
    with_blocks = [data for data in documents if "blocks" in data]
    for _ in range(block_cases):
        data = hostile_blocks(rng, rng.choice(with_blocks if with_blocks and rng.random() < 0.5 else documents))
        text = dump(data)
        one("blocks", text, small_input(data), text)

    @seed(base_seed)
    @settings(max_examples=random_cases, database=None, deadline=None, derandomize=False,
              suppress_health_check=list(HealthCheck))
    @given(valid_specs(max_stages=3, max_width=12, input_sizes=st.integers(1, 24),
                       user_blocks=st.one_of(st.just({}), defined_blocks(max_kinds=2, max_patterns=4))),
           st.randoms(use_true_random=False))
    def random_network(document: dict, draw_rng: random.Random) -> None:
        mutate(draw_rng, document, draw_rng.choice([0, 0, 0, 1, 1, 2]))
        text = dump(document)
        one("random", text, True, text)

    torch.set_num_threads(1)
    random_network()
    signal.signal(signal.SIGALRM, previous)
    if Path(PWNED).exists():  # an expression ran code
        failures.append(f"{PWNED} exists: an expression in a spec ran code")
    total = sum(counts.values())
    for line in failures[:20]:
        print(line, "\n", file=sys.stderr)
    print(f"{total:,} cases (seed {base_seed}): " + ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items())))
    print(f"{len(failures)} failed, {total - len(failures)} passed")
    return 1 if failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=20_261_203)
    args = parser.parse_args()
    started = time.perf_counter()
    status = run(args.cases, args.seed)
    print(f"{time.perf_counter() - started:.0f} s")
    return status


if __name__ == "__main__":
    sys.exit(main())
