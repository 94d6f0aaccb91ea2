"""The dashboard's churn-risk by value matrix: counts per cell, each a link to a new segment."""

import json
from urllib.parse import urlencode

from django.urls import reverse
from django.utils.translation import gettext as _

from predictions.labels import CHURN_BANDS
from predictions.sections import money_shown
from predictions.selectors import CHURN_BOUNDS, matrix_cell_rule


def _value_columns(bounds: list[float]) -> list[dict]:
    low, high = bounds
    return [
        {"label": _("Low value (< %(b)s)") % {"b": money_shown(low)}, "range": (None, low)},
        {
            "label": _("Mid value (%(a)s – %(b)s)")
            % {"a": money_shown(low), "b": money_shown(high)},
            "range": (low, high),
        },
        {"label": _("High value (≥ %(a)s)") % {"a": money_shown(high)}, "range": (high, None)},
    ]


def matrix_table(data: dict) -> dict | None:
    """Return the matrix for the template: column heads, rows of cells with counts and links.

    ``data`` is ``predictions.selectors.churn_value_matrix()``; None when nobody is scored.
    """
    if not data.get("total"):
        return None
    columns = _value_columns(data["clv_bounds"])
    churn_edges = [None, *CHURN_BOUNDS, None]
    rows = []
    for row, (slug, _low, _high, band_label) in enumerate(CHURN_BANDS):
        churn_range = (churn_edges[row], churn_edges[row + 1])
        cells = []
        for col, column in enumerate(columns):
            rule = matrix_cell_rule(
                field_bounds={"churn_risk": churn_range, "clv_365d": column["range"]}
            )
            query = {
                "rule": json.dumps(rule, ensure_ascii=False),
                "name": f"{band_label} · {column['label']}",
            }
            cells.append(
                {
                    "count": data["cells"][row][col],
                    "share": data["cells"][row][col] / data["total"],
                    "url": f"{reverse('segments:create')}?{urlencode(query)}",
                    "key": f"{slug}-{col}",
                }
            )
        rows.append({"label": str(band_label), "cells": cells})
    return {"columns": [c["label"] for c in columns], "rows": rows, "total": data["total"]}
