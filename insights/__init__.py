"""Insights: support metrics from conversation events, SLA clocks and escalation, reports.

The recorder folds each conversation's events into pre-aggregated day buckets in Redis, so a
report over a date range reads O(days x dimensions) keys, never the conversations themselves.
"""
