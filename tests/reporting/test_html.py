"""The HTML report and its Markdown twin: data source first, plotly.js once, every section."""

from __future__ import annotations

import platform
import re
from html.parser import HTMLParser

import pandas as pd
import plotly.graph_objects as go
import pytest
from plotly.offline import get_plotlyjs

from hca_dtl.data.schema import InputDataError
from hca_dtl.reporting.html import provenance, render_markdown_report, render_report

SYNTHETIC = {"synthetic": True, "description": "embedded BBBC021-shaped generator, seed 0",
             "layout": "cytominer_sqlite"}
REAL = {"synthetic": False, "description": "real data: BBBC021 per-well profiles (Ljosa 2013)"}


class _VisibleText(HTMLParser):
    """Text a browser shows: everything outside <head>, <script> and <style>."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden = 0
        self.lines: list[str] = []

    def handle_starttag(self, tag, attrs) -> None:
        self.hidden += tag in ("head", "script", "style")

    def handle_endtag(self, tag) -> None:
        self.hidden -= tag in ("head", "script", "style")

    def handle_data(self, data) -> None:
        if not self.hidden and data.strip():
            self.lines.append(data.strip())


def _visible(html: str) -> list[str]:
    parser = _VisibleText()
    parser.feed(html)
    return parser.lines


@pytest.fixture(scope="module")
def environment() -> dict:
    return provenance({"saa": {"hidden_units": [48] * 7, "seed": 0}}, seeds={"saa": 0})


def _sections() -> list[tuple[str, object]]:
    figure = go.Figure(go.Bar(x=["a"], y=[1]), layout={"title": "Figure 3<br><sup>Data: x</sup>"})
    return [
        ("Table 1 — baseline vs DTL", pd.DataFrame({"Approach": ["BL"], "Accuracy": ["84.29 (3.21)"]})),
        ("Figure 3 — accuracy per setting", figure),
        ("Figure 4 — confusion matrices", go.Figure(go.Heatmap(z=[[1, 0], [0, 1]]))),
        ("Notes", "First paragraph <b>not bold</b>.\n\nSecond paragraph."),
        ("Ingestion", pd.DataFrame({"value": [6000]}, index=pd.Index(["n_cells"]))),
    ]


def test_provenance_collects_versions_backend_device_and_seeds(environment) -> None:
    versions = environment["versions"]
    assert versions["python"] == platform.python_version()
    for package in ("kedro", "keras", "numpy", "pandas", "scikit-learn", "plotly"):
        assert versions[package][0].isdigit()
    backend = environment["keras_backend"]
    assert backend in ("tensorflow", "jax", "torch")
    assert any(name.startswith(backend) for name in versions)
    assert environment["device"]
    assert environment["seeds"] == {"saa": 0}
    assert environment["timestamp"].startswith("20")


def test_html_report_synthetic_banner_first_plotly_once_and_all_sections(environment) -> None:
    sections = _sections()
    page = render_report(title="Report", data_source=SYNTHETIC, sections=sections, provenance=environment)
    text = _visible(page)
    assert text[0].startswith("SYNTHETIC DATA — not BBBC021 results:")
    assert SYNTHETIC["description"] in text[0]
    assert page.count(get_plotlyjs()[:200]) == 1  # inline, once, for two figures
    assert re.search(r"<script[^>]*\bsrc=", page) is None  # nothing fetched from the network
    assert page.count('class="plotly-graph-div"') == 2
    # every table sits in a box that scrolls sideways, so a wide table never widens the page
    assert page.count("<table") == page.count('<div class="wide"><table') == 3  # 2 + environment
    for heading, _ in sections:
        assert f"<h2>{heading}</h2>" in page
    assert "<h2>Provenance</h2>" in page
    assert "&lt;b&gt;not bold&lt;/b&gt;" in page  # strings are escaped, not injected
    assert "n_cells" in text and "84.29 (3.21)" in text
    assert any('"hidden_units": [\n' in line for line in text)  # configuration, pretty-printed
    assert environment["keras_backend"] in text and environment["device"] in text


def test_html_report_real_data_is_not_called_synthetic(environment) -> None:
    page = render_report(title="Report", data_source=REAL, sections=_sections()[:1], provenance=environment)
    text = _visible(page)
    assert text[0] == f"Data source: {REAL['description']}"
    assert not any("SYNTHETIC" in line for line in text)
    assert get_plotlyjs()[:200] not in page  # no figure, no plotly.js


def test_markdown_report_first_line_tables_and_figure_links(environment) -> None:
    text = render_markdown_report(title="Report", data_source=SYNTHETIC, sections=_sections(),
                                  provenance=environment)
    lines = text.splitlines()
    assert "SYNTHETIC DATA — not BBBC021 results" in lines[0]
    assert "| Approach | Accuracy |" in lines
    assert "| n_cells | 6000 |" in lines
    assert any("*Figure 3 Data: x*" in line and "report.html#figure-3-accuracy-per-setting" in line
               for line in lines)
    assert "## Provenance" in lines
    real = render_markdown_report(title="Report", data_source=REAL, sections=[], provenance=environment)
    assert "SYNTHETIC" not in real.splitlines()[0] and REAL["description"] in real.splitlines()[0]


def test_report_rejects_unknown_content_and_unlabelled_source(environment) -> None:
    with pytest.raises(ValueError, match="'Odd'"):
        render_report(title="R", data_source=REAL, sections=[("Odd", 3)], provenance=environment)
    with pytest.raises(InputDataError, match="synthetic"):
        render_markdown_report(title="R", data_source={"description": "?"}, sections=[],
                               provenance=environment)
