"""The report as plain text for a terminal (100 columns)."""

from __future__ import annotations

import textwrap

from satchel.audit.records import AuditReport, PluginAccess
from satchel.audit.rows import app_rows, components, coverage_rows, shared_rows


def _origin(a: PluginAccess) -> str:
    kind = "built-in" if a.builtin else "THIRD-PARTY"
    return f"{a.name} (plugin {a.plugin}, {a.distribution} {a.version}".rstrip() + f", {kind})"


def _pairs(rows: list[tuple[str, str]], indent: str = "  ") -> list[str]:
    """Aligned ``key  value`` lines, values wrapped at 100 columns."""
    width = max(len(k) for k, _ in rows)
    return [line for k, v in rows for line in _wrapped(f"{k.ljust(width)}  ", v, indent)]


def _wrapped(label: str, text: str, indent: str) -> list[str]:
    """``text`` wrapped at 100 columns after ``indent`` + ``label``, continued under the label's end."""
    hanging = indent + " " * len(label)
    return textwrap.wrap(
        text,
        100,
        initial_indent=indent + label,
        subsequent_indent=hanging,
        break_long_words=False,
        break_on_hyphens=False,
    ) or [(indent + label).rstrip()]


def render_text(report: AuditReport) -> str:
    """The report for a terminal (plain text, 100 columns)."""
    a = report.app
    counts = ", ".join(f"{n} {label}" for label, n in report.summary().items() if n) or "none"
    lines = [f"satchel privacy audit: {a.name} ({a.app_id})", f"findings: {counts}", "", "APP"]
    lines += _pairs(app_rows(report))
    for p in report.pipelines:
        lines += [
            "",
            f"PIPELINE {p.name}" + (f": {p.description}" if p.description else ""),
            f"  purposes: {', '.join(p.purposes)}",
            "  components:",
        ]
        lines += _pairs([(c.role, _origin(c)) for c in components(p)], "    ")
        lines.append("  event types read:")
        lines += _pairs(
            [(e.name, f"{', '.join(e.categories)}: {e.description}") for e in p.event_types], "    "
        )
        lines.append("  data categories:")
        lines += _pairs([(c.name, c.description) for c in p.categories], "    ")
        lines.append("  consent coverage:")
        lines += _pairs(coverage_rows(p.coverage), "    ")
        lines.append("  plugins and the data they may read:")
        for x in p.plugins:
            lines += [f"    {x.role}: {_origin(x)}", *_wrapped("reads: ", x.reads, "      ")]
    for m in report.shared_models:
        lines += ["", f"SHARED MODEL {m.pipeline} (federated)"]
        lines += _pairs(shared_rows(m))
    lines += ["", f"FINDINGS ({len(report.findings)}, most severe first)"]
    if not report.findings:
        lines.append("  none")
    for i, f in enumerate(report.findings, 1):
        where = f", pipeline {f.pipeline}" if f.pipeline else ""
        heading = _wrapped(f"{i}. {f.severity.label.upper()}  ", f.title, "  ")
        lines += [
            "",
            *heading,
            f"     [{f.code}{where}]",
            *_wrapped("", f.detail, "     "),
            *_wrapped("fix: ", f.fix, "     "),
        ]
    return "\n".join(lines) + "\n"
