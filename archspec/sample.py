"""`archspec sample`: draws specs from a design space (archspec.space), checks each and keeps those
within the budgets.

Each sample goes from the drawn plain data straight to the resolve, validate and check passes: no
YAML is written or read per sample, only each accepted spec's YAML once, for the output folder. A
sample that is not a valid spec is the space's error (exit 2, located, the sample named): the space
should exclude it with a constraint. A valid one that the check refuses, that is over a budget, or
that a generator cannot express exactly is a rejected sample, counted with its reason.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

from archspec.check import check_plain
from archspec.errors import Diagnostic, SpecError, SpecPath, outside
from archspec.expr import ExprError, Node, evaluate, parse, split
from archspec.figures_memo import remembering_figures
from archspec.generators import GeneratorError, Inexpressible, expand
from archspec.imports import with_imports
from archspec.loader import Document, dump, load_document
from archspec.overrides import ResolvedDocument, resolve
from archspec.quick_dump import quick_dump
from archspec.sample_resolve import SampleResolver
from archspec.shapes import Shape
from archspec.space import CONSTRAINTS, MAX_TRIES, Space, parse_space, sample_rng
from archspec.validate import validate
from archspec.validation_memo import remembering_validations

SAMPLES, PLOT = "samples.jsonl", "samples.png"
REASONS = ("inexpressible", "check", "params", "macs", "memory")


@dataclass(frozen=True)
class Budget:
    params: int | None = None
    macs: int | None = None
    memory: int | None = None


@dataclass
class Sample:
    index: int
    tries: int
    values: dict[str, object]
    status: str = "accepted"
    reason: str | None = None
    detail: str | None = None
    params: int | None = None
    macs: int | None = None
    memory: int | None = None
    data: dict[str, Any] | None = field(default=None, repr=False)  # the spec, when accepted

    def row(self) -> dict[str, object]:
        return {"index": self.index, "status": self.status, "reason": self.reason, "params": self.params,
                "macs": self.macs, "memory": self.memory, "values": self.values, "tries": self.tries,
                "file": file_name(self.index) if self.status == "accepted" else None, "detail": self.detail}


def file_name(index: int) -> str:
    return f"sample-{index:05d}.yaml"


class Sampler:
    """Draws sample `index` of a space for a seed, the same whatever other samples are drawn."""

    def __init__(self, source: str | Path, seed: int, input_shape: Shape | None = None,
                 budget: Budget = Budget()):
        self.document = with_imports(load_document(source))
        self.space: Space = parse_space(self.document)
        self.seed, self.input_shape, self.budget = seed, input_shape, budget
        self._parsed_constraints = _parsed(self.space.constraints)
        self._resolver = SampleResolver(self.document, self.space.distributions)

    def sample(self, index: int) -> Sample:
        data, values, tries = self._draw(index)
        resolved = self._resolver.resolve(data)
        failed: list[Diagnostic] = []  # the resolve pass's errors, reported with validation's (as `load` does)
        failed_at: list[SpecPath] = []  # where they are: validation's errors there only repeat them
        if resolved is None:  # what the prepared pass does not cover: the full one
            full, failed, failed_at = resolve(self._with(data))
            resolved, document = full.data, partial(replace, full)
        else:
            document = self._resolver.document
        try:
            expanded = expand(resolved)
        except GeneratorError as error:
            raise SpecError([_in_sample(d, index) for d in [*failed, document(data=resolved).diagnostic(
                error.path, error.message, error.hint)]]) from None
        except Inexpressible as error:
            if failed:
                raise SpecError([_in_sample(d, index) for d in failed]) from None
            return Sample(index, tries, values, "rejected", "inexpressible", str(error))
        try:
            spec = validate(document(data=expanded))
        except SpecError as error:
            raise SpecError([_in_sample(d, index) for d in [*failed, *outside(error.errors, failed_at)]]) from None
        if failed:
            raise SpecError([_in_sample(d, index) for d in failed])
        report = check_plain(spec, self.input_shape or spec.input.shape(), None)
        if not report.ok:
            return Sample(index, tries, values, "rejected", "check", report.errors[0].message)
        sample = Sample(index, tries, values, params=report.params, macs=report.macs, memory=report.memory_bytes)
        budgets = (("params", sample.params, self.budget.params), ("macs", sample.macs, self.budget.macs),
                   ("memory", sample.memory, self.budget.memory))
        over = [f"{name} {found:,} > {limit:,}" for name, found, limit in budgets if limit is not None
                and found is not None and found > limit]
        if over:
            sample.status, sample.reason, sample.detail = "rejected", over[0].split()[0], "; ".join(over)
        else:
            sample.data = expanded
        return sample

    def _with(self, data: object) -> Document:
        source = self.document
        return Document(data, source.file, source.text, source.marks, source.key_marks, source.imported,
                        imported_files=source.imported_files)

    def _checked(self, resolved: tuple[ResolvedDocument, list[Diagnostic], Any], index: int) -> ResolvedDocument:
        document, errors, _ = resolved
        if errors:
            raise SpecError([_in_sample(d, index) for d in errors])
        return document

    def _draw(self, index: int) -> tuple[dict[str, Any], dict[str, object], int]:
        """A draw that meets the constraints (the data without them), its values, and the tries it took."""
        rng = sample_rng(self.seed, index)
        broken: Counter[int] = Counter()
        for tries in range(1, MAX_TRIES + 1):  # constraints read only the vars: drawn again alone
            drawn, variables = self.space.draw_vars(rng)
            failed = self._failed_constraint(self._constraint_results(variables, index), index)
            if failed is None:
                data, values = self.space.draw_rest(rng, drawn)
                data.pop(CONSTRAINTS, None)
                return data, values, tries
            broken[failed] += 1
        worst = broken.most_common(1)[0][0]
        raise SpecError([_in_sample(self.document.diagnostic(
            (CONSTRAINTS, worst), f"no draw of {MAX_TRIES:,} met the constraints (this one failed "
            f"{broken[worst]:,} times)", "widen the ranges or loosen the constraints"), index)])

    def _constraint_results(self, variables: object, index: int) -> list[object]:
        """The constraints' values for drawn vars: evaluated directly where the vars are plain values
        (the common case, for up to MAX_TRIES draws a sample), else through the resolve pass, which
        also places any error in the file."""
        plain = isinstance(variables, dict) and all(
            isinstance(value, (int, float)) or (isinstance(value, str) and "${" not in value)
            for value in variables.values())
        if not self.space.constraints:
            return []
        if plain and self._parsed_constraints is not None:
            try:
                return [evaluate(node, text, variables) for node, text in self._parsed_constraints]  # type: ignore[arg-type]
            except ExprError:
                pass  # reported below, at its place
        constraints = list(self.space.constraints)
        checked = self._checked(resolve(self._with({"vars": variables, CONSTRAINTS: constraints})), index).data
        return checked[CONSTRAINTS]  # type: ignore[index]

    def _failed_constraint(self, results: list[object], index: int) -> int | None:
        for position, result in enumerate(results):
            if not isinstance(result, bool):
                raise SpecError([_in_sample(self.document.diagnostic(
                    (CONSTRAINTS, position), f"expected true or false, found {result!r}",
                    "compare values: `${w1 <= w2}`, `${w % 8 == 0}`"), index)])
            if not result:
                return position
        return None

    def run(self, count: int, progress: Callable[[int], None] | None = None) -> list[Sample]:
        samples = []
        # samples share most blocks and parts (archspec.figures_memo, archspec.validation_memo)
        with remembering_figures(), remembering_validations():
            for index in range(count):
                samples.append(self.sample(index))
                if progress is not None:
                    progress(index + 1)
        return samples


def _parsed(constraints: tuple[str, ...]) -> list[tuple[Node, str]] | None:
    """Each constraint's syntax tree and text; None if any is not one whole `${...}` that parses."""
    parsed = []
    for text in constraints:
        pieces = split(text.strip()) if "${" in text else []
        if len(pieces) != 2 or pieces[0].literal or pieces[1].literal or pieces[0].expression is None:
            return None
        try:
            parsed.append((parse(pieces[0].expression), pieces[0].expression))
        except ExprError:
            return None
    return parsed


def _in_sample(diagnostic: Diagnostic, index: int) -> Diagnostic:
    return replace(diagnostic, message=f"{diagnostic.message} (in sample {index})")


def spec_text(sample: Sample, source: str, seed: int) -> str:
    """An accepted sample's YAML: the header names where it came from and the drawn values."""
    assert sample.data is not None
    data = dict(sample.data)
    if isinstance(data.get("name"), str):
        data["name"] = f"{data['name'][:90]}-{sample.index:05d}"
    header = [(f"# Sample {sample.index} of {source} (--seed {seed}): {sample.params:,} parameters, "
               f"{sample.macs:,} MACs."), *(f"#   {path}: {value!r}" for path, value in sample.values.items())]
    return "\n".join(header) + "\n" + (quick_dump(data) or dump(data))


def summary(samples: list[Sample]) -> str:
    accepted = sum(1 for s in samples if s.status == "accepted")
    reasons = Counter(s.reason for s in samples if s.reason)
    lines = [f"sampled {len(samples):,}, accepted {accepted:,}, rejected {len(samples) - accepted:,}"]
    lines += [f"  {reason}: {reasons[reason]:,}" for reason in REASONS if reasons[reason]]
    return "\n".join(lines)


def outputs(samples: list[Sample], source: str, seed: int) -> Iterator[tuple[str, str]]:
    """(file name, text) of every text output: the accepted specs and samples.jsonl."""
    for sample in samples:
        if sample.status == "accepted":
            yield file_name(sample.index), spec_text(sample, source, seed)
    yield SAMPLES, "".join(json.dumps(sample.row()) + "\n" for sample in samples)
