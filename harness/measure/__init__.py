"""Measuring a trained combination: task metrics, evaluation, efficiency, intervals, tradeoffs."""
