"""Tables, plotly figures and the self-contained HTML report.

``paper`` (the published numbers, labelled as such), ``tables`` (Table 1, 2, S3, Markdown),
``figures`` (Figure 3, 4, vote shares, method comparison) and ``html`` (report, provenance).
"""
