"""Gallery Arena: human preference and automatic metrics for image generators."""

__version__ = "0.1.0"
