"""Request traces: the :class:`Trace` arrays and loaders for public trace formats.

Pure: loaders take a path or text and return arrays; no network, no clock.
"""

from controlplane.traces.model import Trace

__all__ = ["Trace"]
