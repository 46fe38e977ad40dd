"""The report as one self-contained HTML page (inline CSS; no scripts or external resources)."""

from __future__ import annotations

import html

from satchel.audit.records import (
    AuditReport,
    Finding,
    PipelineSection,
    PluginAccess,
    Severity,
    SharedModelSection,
)
from satchel.audit.rows import app_rows, components, coverage_rows, shared_rows, time_or_never

_CSS = """
*{box-sizing:border-box}
body{margin:0;background:#f4f5f7;color:#1d2330;
font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:26px;margin:0 0 4px}h2{font-size:20px;margin:32px 0 12px}h3{font-size:16px;margin:20px 0 8px}
.sub{color:#5b6474;margin:0 0 16px}
.card{background:#fff;border:1px solid #dde1e7;border-radius:8px;padding:16px 20px;margin:0 0 16px}
.counts{display:flex;gap:10px;flex-wrap:wrap;margin:12px 0 0}
.count{border-radius:6px;padding:6px 12px;font-weight:600;border:1px solid #dde1e7;background:#fff}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;vertical-align:top;padding:6px 10px;border-bottom:1px solid #eceef2}
th{color:#5b6474;font-weight:600;white-space:nowrap}
table.kv th{width:230px}
code{font:13px ui-monospace,SFMono-Regular,Menlo,monospace;background:#f0f2f5;padding:1px 4px;
border-radius:3px}
td code{white-space:nowrap}.finding p,table.kv td{overflow-wrap:anywhere}
.card>h2:first-child{margin-top:4px}
.sev{display:inline-block;min-width:74px;text-align:center;border-radius:4px;padding:1px 8px;font-size:12px;
font-weight:700;letter-spacing:.04em;text-transform:uppercase;color:#fff}
.sev-critical{background:#a3161a}.sev-high{background:#d9480f}.sev-medium{background:#b7791f}
.sev-low{background:#2b6cb0}.sev-info{background:#5b6474}
.finding{border-left:6px solid #5b6474}
.finding.critical{border-left-color:#a3161a}.finding.high{border-left-color:#d9480f}
.finding.medium{border-left-color:#b7791f}.finding.low{border-left-color:#2b6cb0}
.finding h3{margin:6px 0}.finding p{margin:6px 0}.fix{background:#eef6ee;border-radius:4px;padding:6px 10px}
.meta{color:#5b6474;font-size:13px}
.ok{color:#1e7b34;font-weight:600}.bad{color:#a3161a;font-weight:600}
.tag{display:inline-block;border-radius:4px;padding:0 6px;font-size:12px;font-weight:600}
.builtin{background:#e3f1e6;color:#1e6b30}.third{background:#fde8d7;color:#9c3d05}
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _kv_table(rows: list[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
    return f'<table class="kv">{body}</table>'


def _table(head: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """A table whose cells are already-escaped HTML."""
    th = "".join(f"<th>{_e(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _sev(s: Severity) -> str:
    return f'<span class="sev sev-{s.label}">{s.label}</span>'


def _origin_html(a: PluginAccess) -> str:
    tag = (
        '<span class="tag builtin">built-in</span>'
        if a.builtin
        else '<span class="tag third">third-party</span>'
    )
    return f"<code>{_e(a.plugin)}</code> · {_e(a.distribution)} {_e(a.version)} {tag}"


def _finding_html(i: int, f: Finding) -> str:
    where = f" · pipeline <code>{_e(f.pipeline)}</code>" if f.pipeline else ""
    return (
        f'<section class="card finding {f.severity.label}"><div>{_sev(f.severity)} '
        f'<span class="meta">#{i} · <code>{_e(f.code)}</code>{where}</span></div>'
        f"<h3>{_e(f.title)}</h3><p>{_e(f.detail)}</p>"
        f'<p class="fix"><strong>Fix:</strong> {_e(f.fix)}</p></section>'
    )


def _pipeline_html(p: PipelineSection) -> str:
    comps = _table(
        ("role", "component", "plugin"),
        [(_e(c.role), f"<code>{_e(c.name)}</code>", _origin_html(c)) for c in components(p)],
    )
    types = _table(
        ("event type", "categories", "description"),
        [
            (f"<code>{_e(e.name)}</code>", _e(", ".join(e.categories)), _e(e.description))
            for e in p.event_types
        ],
    )
    cats = _table(
        ("category", "what it is"), [(f"<code>{_e(c.name)}</code>", _e(c.description)) for c in p.categories]
    )
    access = _table(
        ("role", "name", "plugin", "may read"),
        [
            (
                _e(x.role),
                f"<code>{_e(x.name)}</code>",
                _origin_html(x),
                _e(x.reads) if x.personal_data else f'<span class="meta">{_e(x.reads)}</span>',
            )
            for x in p.plugins
        ],
    )
    desc = f'<p class="sub">{_e(p.description)}</p>' if p.description else ""
    return (
        f'<section class="card" id="pipeline-{_e(p.name)}">'
        f"<h2>Pipeline <code>{_e(p.name)}</code></h2>{desc}"
        f"{_kv_table([('purposes', ', '.join(p.purposes))])}"
        f"<h3>Components</h3>{comps}<h3>Event types read</h3>{types}<h3>Data categories</h3>{cats}"
        f"<h3>Consent coverage</h3>{_kv_table(coverage_rows(p.coverage))}"
        f"<h3>Plugins and the data they may read</h3>{access}</section>"
    )


def _shared_html(m: SharedModelSection) -> str:
    return (
        f'<section class="card" id="shared-{_e(m.pipeline)}"><h2>Shared model <code>{_e(m.pipeline)}</code> '
        f"(federated)</h2>{_kv_table(shared_rows(m))}</section>"
    )


def render_html(report: AuditReport) -> str:
    """One self-contained HTML page (inline CSS; no scripts, fonts or other external resources)."""
    a = report.app
    counts = "".join(
        f'<span class="count">{_sev(Severity.parse(label))} {n}</span>'
        for label, n in report.summary().items()
    )
    log = report.audit_log
    log_html = (
        f'<span class="ok">verified</span> · {log.entries} entries'
        if log.ok
        else f'<span class="bad">FAILED</span> after {log.entries} entries: {_e(log.problem)}'
    )
    findings = "".join(_finding_html(i, f) for i, f in enumerate(report.findings, 1))
    title = f"Privacy audit: {a.name} ({a.app_id})"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title><style>{_CSS}</style></head>
<body><main>
<h1>{_e(title)}</h1>
<p class="sub">Generated {_e(time_or_never(a.generated_at))} by satchel {_e(a.satchel_version)}.
Learners appear only as counts and pseudonyms; keys only as fingerprints.</p>
<section class="card"><strong>{len(report.findings)} finding(s)</strong>, most severe first below.
<div class="counts">{counts}</div>
<p>Audit log: {log_html}</p></section>
<h2>Findings</h2>
{findings or '<p class="card">No findings.</p>'}
<h2>App and protection</h2>
<section class="card">{_kv_table(app_rows(report))}</section>
<h2>Pipelines</h2>
{"".join(_pipeline_html(p) for p in report.pipelines)}
{"".join(_shared_html(m) for m in report.shared_models)}
</main></body></html>
"""
