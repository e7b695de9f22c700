"""Sample landing data for the customer-health pipeline (see `generator`).

Run `python -m orchestration.sample_data --help` for the command line.
"""

from orchestration.sample_data.generator import BAD_CLASSES, GenerationSummary, generate

__all__ = ["BAD_CLASSES", "GenerationSummary", "generate"]
