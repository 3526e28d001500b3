"""Prometheus text exposition format, as node_exporter's textfile collector reads it."""

from __future__ import annotations

import math

from ansible_collections.slipway.ops.plugins.plugin_utils._audit_metrics import (
    Family,
    Histogram,
    format_value,
    render,
)


def test_a_family_renders_help_type_and_sorted_escaped_labels():
    family = Family("slipway_x", "gauge", "An example.").add(3, playbook='a"b\\c\nd', host="h1")
    assert render([family]) == (
        "# HELP slipway_x An example.\n"
        "# TYPE slipway_x gauge\n"
        'slipway_x{host="h1",playbook="a\\"b\\\\c\\nd"} 3\n'
    )


def test_empty_families_are_left_out():
    assert render([Family("slipway_none", "gauge", "Nothing.")]) == ""


def test_values_render_as_prometheus_reads_them():
    assert [format_value(v) for v in (True, 7, 0.25, math.inf, math.nan)] == [
        "1",
        "7",
        "0.25",
        "+Inf",
        "NaN",
    ]


def test_a_histogram_has_cumulative_buckets_sum_and_count():
    histogram = Histogram(buckets=(0.1, 1.0))
    for value in (0.05, 0.1, 0.5, 3.0):
        histogram.observe(value)
    text = render([Family("t", "histogram", "T.").add_histogram(histogram, p="x")])
    assert 't_bucket{le="0.1",p="x"} 2' in text
    assert 't_bucket{le="1.0",p="x"} 3' in text
    assert 't_bucket{le="+Inf",p="x"} 4' in text
    assert 't_sum{p="x"} 3.65' in text
    assert 't_count{p="x"} 4' in text
