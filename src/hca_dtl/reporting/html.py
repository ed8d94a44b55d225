"""One self-contained HTML report (plotly.js inline, viewable offline) and its Markdown twin.

Both open with the data source: synthetic data are announced as such on the very first line.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

import pandas as pd
from plotly.basedatatypes import BaseFigure
from plotly.offline import get_plotlyjs

from hca_dtl.data.schema import InputDataError
from hca_dtl.reporting.common import format_cell, visible_frame
from hca_dtl.reporting.tables import to_markdown
from hca_dtl.runtime import device_description, keras_backend, package_versions

Section = tuple[str, object]

_BACKEND_PACKAGES = {"tensorflow": ("tensorflow", "tensorflow-cpu"), "jax": ("jax", "jaxlib"),
                     "torch": ("torch",)}
_REPORTED_PACKAGES = ("python", "hca_dtl", "kedro", "kedro-datasets", "keras", "numpy", "pandas",
                      "scikit-learn", "plotly")

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 0 2rem 2rem; color: #1a1a1a; }
.banner { margin: 0 -2rem 1rem; padding: 0.8rem 2rem; font-size: 1.2rem; }
.banner p { margin: 0.2rem 0; }
.banner ul { margin: 0.3rem 0 0; font-size: 0.85rem; }
.synthetic { background: #b00020; color: #fff; border-bottom: 6px solid #ffcc00; }
.real { background: #e8f0fe; color: #0b2a5b; border-bottom: 3px solid #0b57d0; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; font-size: 0.85rem; }
th, td { border: 1px solid #ccc; padding: 0.2rem 0.5rem; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
.text { white-space: pre-wrap; }
.wide { max-width: 100%; overflow-x: auto; }
pre { background: #f6f6f6; padding: 0.6rem; overflow-x: auto; font-size: 0.8rem; }
"""


def provenance(parameters: Mapping[str, Any], seeds: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What a report's numbers depend on: the configuration, seeds, package versions (python,
    kedro, keras, the active backend's package, numpy, pandas, scikit-learn, plotly), the Keras
    backend, the device (GPU name, else CPU model and core count) and a UTC timestamp."""
    backend = keras_backend()
    wanted = {*_REPORTED_PACKAGES, *_BACKEND_PACKAGES.get(backend, (backend,))}
    return {
        "parameters": dict(parameters),
        "seeds": dict(seeds or {}),
        "versions": {name: v for name, v in package_versions().items() if name in wanted},
        "keras_backend": backend,
        "device": device_description(),
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def data_source(ingestion_report: Mapping[str, Any]) -> dict[str, Any]:
    """The data source a report shows, from the ingestion report written with the cells table:
    ``synthetic``, ``description`` and where the export was read from.

    Raises:
        InputDataError: The report does not say whether its data are synthetic.
    """
    missing = [k for k in ("synthetic", "data_source") if k not in ingestion_report]
    if missing:
        raise InputDataError(f"The ingestion report lacks {missing}; rerun the ingestion pipeline.")
    return {"synthetic": bool(ingestion_report["synthetic"]),
            "description": ingestion_report["data_source"],
            **{k: ingestion_report[k] for k in ("layout", "export") if k in ingestion_report}}


def data_source_line(data_source: Mapping[str, Any]) -> str:
    """The report's first line: ``SYNTHETIC DATA — not BBBC021 results: …`` for synthetic
    data, else ``Data source: …`` (from the manifest's ``synthetic`` and ``description``)."""
    if "synthetic" not in data_source:
        raise InputDataError(f"The data source manifest lacks 'synthetic' (keys: {sorted(data_source)}); "
                             "a report must say whether its data are synthetic.")
    description = str(data_source.get("description") or "no description given")
    if data_source["synthetic"]:
        return f"SYNTHETIC DATA — not BBBC021 results: {description}"
    return f"Data source: {description}"


def render_report(
    *,
    title: str,
    data_source: Mapping[str, Any],
    sections: Sequence[Section],
    provenance: Mapping[str, Any],
) -> str:
    """One self-contained HTML page.

    Args:
        title: Page heading.
        data_source: The raw-data manifest (``synthetic``, ``description``, and other details
            listed in the banner).
        sections: ``(heading, content)`` pairs; content is a DataFrame (an HTML table; a
            non-default index is shown), a plotly figure, or a plain/Markdown string.
        provenance: Output of ``provenance``.

    Returns:
        The HTML text: the data-source banner first (a red warning for synthetic data), a
        contents list, the sections and the provenance; plotly.js embedded once, inline.
    """
    first_line = data_source_line(data_source)
    synthetic = bool(data_source["synthetic"])
    details = "".join(f"<li>{_e(k)}: {_e(format_cell(v))}</li>" for k, v in data_source.items()
                      if k not in ("synthetic", "description"))
    anchors = _anchors([heading for heading, _ in sections])
    body = [
        f'<div class="banner {"synthetic" if synthetic else "real"}">',
        f"<p><strong>{_e(first_line)}</strong></p>",
        f"<ul>{details}</ul>" if details else "",
        "</div>",
        f"<h1>{_e(title)}</h1>",
        "<ul>" + "".join(f'<li><a href="#{a}">{_e(h)}</a></li>' for (h, _), a in zip(sections, anchors))
        + '<li><a href="#provenance">Provenance</a></li></ul>',
    ]
    for (heading, content), anchor in zip(sections, anchors):
        body += [f'<section id="{anchor}">', f"<h2>{_e(heading)}</h2>", _html_content(heading, content),
                 "</section>"]
    body += ['<section id="provenance">', "<h2>Provenance</h2>", _html_provenance(provenance), "</section>"]
    has_figure = any(isinstance(content, BaseFigure) for _, content in sections)
    head = [
        '<meta charset="utf-8">',
        f"<title>{_e(('SYNTHETIC — ' if synthetic else '') + title)}</title>",
        f"<style>{_STYLE}</style>",
        f'<script type="text/javascript">{get_plotlyjs()}</script>' if has_figure else "",
    ]
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n" + "\n".join(head) + "\n</head>\n<body>\n"
            + "\n".join(body) + "\n</body>\n</html>\n")


def render_markdown_report(
    *,
    title: str,
    data_source: Mapping[str, Any],
    sections: Sequence[Section],
    provenance: Mapping[str, Any],
) -> str:
    """The report as Markdown (same arguments as ``render_report``): first line the data source,
    tables as Markdown, each figure as its title and a link to its section of ``report.html``."""
    lines = [f"> **{data_source_line(data_source)}**", "", f"# {title}", ""]
    for (heading, content), anchor in zip(sections, _anchors([h for h, _ in sections])):
        lines += [f"## {heading}", ""]
        if isinstance(content, pd.DataFrame):
            lines.append(to_markdown(content))
        elif isinstance(content, BaseFigure):
            lines += [f"Figure: *{_figure_title(content)}* — interactive in "
                      f"[report.html#{anchor}](report.html#{anchor}).", ""]
        elif isinstance(content, str):
            lines += [content, ""]
        else:
            raise ValueError(_unsupported(heading, content))
    lines += ["## Provenance", "", "### Configuration", "", "```json",
              json.dumps(provenance.get("parameters", {}), indent=2, default=str, ensure_ascii=False),
              "```", "", "### Environment", "", to_markdown(_environment(provenance))]
    return "\n".join(lines)


def _html_content(heading: str, content: object) -> str:
    if isinstance(content, pd.DataFrame):
        return _html_table(visible_frame(content).map(format_cell))
    if isinstance(content, BaseFigure):
        return content.to_html(full_html=False, include_plotlyjs=False, default_height="560px")
    if isinstance(content, str):
        paragraphs = [p.strip() for p in re.split(r"\n\s*\n", content) if p.strip()]
        return "".join(f'<p class="text">{_e(p)}</p>' for p in paragraphs)
    raise ValueError(_unsupported(heading, content))


def _html_table(frame: pd.DataFrame) -> str:
    """``frame`` as an HTML table in a box that scrolls sideways: a wide table never widens the page."""
    return f'<div class="wide">{frame.to_html(index=False, escape=True, border=0)}</div>'


def _html_provenance(provenance: Mapping[str, Any]) -> str:
    configuration = json.dumps(provenance.get("parameters", {}), indent=2, default=str, ensure_ascii=False)
    return ("<h3>Environment</h3>" + _html_table(_environment(provenance))
            + f"<h3>Configuration</h3><pre>{_e(configuration)}</pre>")


def _environment(provenance: Mapping[str, Any]) -> pd.DataFrame:
    """Backend, device, seeds, time and package versions as (item, value) rows."""
    rows = [("Keras backend", provenance.get("keras_backend")), ("Device", provenance.get("device")),
            ("Generated (UTC)", provenance.get("timestamp"))]
    rows += [(f"Seed: {k}", v) for k, v in (provenance.get("seeds") or {}).items()]
    rows += [(f"Version: {k}", v) for k, v in (provenance.get("versions") or {}).items()]
    return pd.DataFrame([(k, format_cell(v)) for k, v in rows], columns=["item", "value"])


def _figure_title(figure: BaseFigure) -> str:
    text = figure.layout.title.text or "untitled figure"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text)).strip()


def _anchors(headings: Sequence[str]) -> list[str]:
    anchors: list[str] = []
    for heading in headings:
        base = re.sub(r"[^a-z0-9]+", "-", heading.lower()).strip("-") or "section"
        anchor, n = base, 2
        while anchor in anchors or anchor == "provenance":
            anchor, n = f"{base}-{n}", n + 1
        anchors.append(anchor)
    return anchors


def _unsupported(heading: str, content: object) -> str:
    return (f"Report section {heading!r} holds a {type(content).__name__}; expected a DataFrame, "
            "a plotly figure or a string.")


def _e(text: object) -> str:
    return html.escape(str(text))
