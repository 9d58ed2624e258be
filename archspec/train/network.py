"""The network a training run or an evaluation uses: the compiled spec, checked against the dataset."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from archspec.check import Report
from archspec.commands import UsageError
from archspec.definitions import field_read
from archspec.errors import SpecError
from archspec.spec import Spec
from archspec.train.checkpoint import state_mismatch


def checked_spec(spec_path: str | Path, overrides: Sequence[str] = ()) -> tuple[Spec, Report, str]:
    """The spec (after `--set` overrides), its static report and its YAML text as written; SpecError
    (exit 2) if the spec is invalid. `spec_path` is a file's path even as a str with a `:` in it (never
    YAML text)."""
    from archspec import check, load
    from archspec.loader import read_source

    spec_path = Path(spec_path)
    spec = load(spec_path, overrides)
    report = check(spec)
    if not report.ok:
        raise SpecError(report.errors)
    text, _ = read_source(spec_path)
    return spec, report, text


def check_classes(spec: Spec, report: Report, classes: int, data_name: str) -> None:
    """The spec's output must be a flat vector with one score per class of the dataset."""
    output = report.output_shape or ()
    last = len(spec.head) - 1
    where: tuple[str | int, ...] = ("head", last, "width") if last >= 0 else ("head",)
    document = spec.document
    if len(output) != 1:
        message = (f"the network outputs {'x'.join(map(str, output))}, but a classifier for "
                   f"{data_name} must output {classes} class scores")
        hint = f"end the head with `{{layer: flatten}}` and `{{layer: linear, width: {classes}}}`"
    elif output[0] != classes:
        message = f"the network outputs {output[0]} class scores, but {data_name} has {classes} classes"
        where, hint = _class_width(spec, output[0], classes)
    else:
        return
    if document is None:
        from archspec.errors import Diagnostic

        raise SpecError([Diagnostic(where, message, hint)])
    raise SpecError([document.diagnostic(where, message, hint)])


def _class_width(spec: Spec, scores: int, classes: int) -> tuple[tuple[str | int, ...], str]:
    """Where the class count is set and what to write there: the head's last layer or block with a
    `width` (squeezenet's classifier is a conv followed by a pool and a flatten, which have none),
    or the var its width is (`width: "${classes}"`)."""
    last = len(spec.head) - 1
    for index in range(last, -1, -1):
        width = getattr(spec.head[index], "width", None)
        if width is None:
            continue
        if width != scores:  # the layers after it change the count: no single width to change
            break
        where = ("head", index, "width")
        expressions = getattr(spec.document, "expressions", {})  # only a document with vars has them
        var = field_read(expressions.get(where))
        if var:
            return where, f"set the var `{var}: {classes}` (on the command line `--set {var}={classes}`)"
        if index == last:
            return where, f"set the last layer's `width: {classes}`"
        return where, (f"set `width: {classes}` on head[{index}], the head's last `width` "
                       f"(on the command line `--set head[{index}].width={classes}`)")
    return (("head", last, "width") if last >= 0 else ("head",),
            f"end the head with `{{layer: linear, width: {classes}}}`")


def build_network(report: Report, device: Any, channels_last: bool) -> Any:
    from archspec.build import build_module

    network = build_module(report).to(device)
    if channels_last:
        import torch

        network = network.to(memory_format=torch.channels_last)
    return network


def load_trained_weights(network: Any, checkpoint: dict[str, Any], problem: str) -> None:
    """The checkpoint's weights into `network`, strictly; a UsageError `problem: what does not fit`."""
    problems = state_mismatch(network.state_dict(), checkpoint["model"])
    if problems:
        raise UsageError(f"{problem}: {problems}")
    try:
        network.load_state_dict(checkpoint["model"])
    except RuntimeError as error:  # PyTorch lists every mismatch; its second line names the first
        lines = str(error).strip().splitlines()
        raise UsageError(f"{problem}: {lines[1].strip() if len(lines) > 1 else lines[0]}") from None
