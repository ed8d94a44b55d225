"""hca_dtl: deep transfer learning of mechanisms of action from per-cell image features.

The science lives in plain sub-packages that import nothing from Kedro:
``data`` (readers, curation, Pset split), ``model`` (stacked autoassociators, transfer),
``evaluation`` (leave-one-compound-out, voting, statistics, baselines) and ``reporting``
(tables, figures, HTML). ``pipelines`` wires them into Kedro.
"""

__version__ = "0.1.0"
