"""Metrics: latency percentiles and statistics; ROUGE and multiple-choice extraction arrive with their workloads."""
