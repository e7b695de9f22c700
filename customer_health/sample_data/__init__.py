"""Sample landing data for the customer-health pipeline (see `generator`).

Run `python -m customer_health.sample_data --help` for the command line.
"""

from customer_health.sample_data.generator import BAD_CLASSES, GenerationSummary, generate

__all__ = ["BAD_CLASSES", "GenerationSummary", "generate"]
