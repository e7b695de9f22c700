"""The one ephemeral Great Expectations context of a process, with its pandas batch
definition: the suites validate on it (gx_suites.py) and the Data Docs site is built from
it (data_docs.py). GX is imported on first use: it is slow to import."""

from functools import cache
from typing import Any


@cache
def gx_context() -> tuple[Any, Any]:
    """The context and the whole-dataframe batch definition every suite validates with."""
    import great_expectations as gx

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = gx.data_context.types.base.ProgressBarsConfig(globally=False)
    source = context.data_sources.add_pandas("pandas_batches")
    asset = source.add_dataframe_asset("batch")
    return context, asset.add_batch_definition_whole_dataframe("whole_batch")
