"""Request traces: the :class:`Trace` arrays and loaders for public trace formats.

Pure: loaders take a path and return arrays; no network, no clock. Formats:
Azure LLM inference (``azure``), Mooncake JSONL (``mooncake``), ServeGen
window files (``servegen``), BurstGPT (``burstgpt``) and any CSV with a column
mapping (``generic``); :func:`load_trace` sniffs which.
"""

from controlplane.traces.errors import TraceFormatError
from controlplane.traces.generic import ColumnMap
from controlplane.traces.load import FORMATS, load_trace, sniff_format
from controlplane.traces.model import Trace
from controlplane.traces.servegen import RateSeries, TokenSizes, load_servegen_rates

__all__ = [
    "Trace",
    "TraceFormatError",
    "ColumnMap",
    "FORMATS",
    "load_trace",
    "sniff_format",
    "RateSeries",
    "TokenSizes",
    "load_servegen_rates",
]
