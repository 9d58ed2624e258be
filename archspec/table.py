"""The per-layer table that `check` and `compile` print."""

from __future__ import annotations

from archspec.check import Report
from archspec.shapes import show


def render_table(report: Report, depth: int | None = 1) -> str:
    cells = [("name", "kind", "output", "params", "MACs")]
    cells += [("  " * r.depth + r.name, r.kind, show(r.output_shape), f"{r.params:,}", f"{r.macs:,}")
              for r in report.rows(depth)]
    widths = [max(len(row[i]) for row in cells) for i in range(5)]
    lines = [f"{report.spec.name}: input {show(report.input_shape)}"]
    for n, row in enumerate(cells):
        lines.append("  ".join(c.ljust(w) if i < 3 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(row, widths))).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines.append(f"total: {report.params:,} parameters, {report.macs:,} MACs "
                 f"({report.macs / 1e9:.3f} G), output {show(report.output_shape or ())}")
    accepted = report.input_range
    if accepted:
        lines.append(f"accepts: {accepted.describe()}")
    lines += [f"note: {note}" for note in report.notes]
    return "\n".join(lines)
