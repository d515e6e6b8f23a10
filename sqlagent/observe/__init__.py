"""What sqlagent tells an operator: traces (OpenTelemetry) and metrics."""
