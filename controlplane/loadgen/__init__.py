"""Load generator: replay a request trace against OpenAI-compatible endpoints.

``run_load(trace, targets, compress=..., max_requests=..., max_seconds=...)`` sends
streaming completions open loop, routes each to the target with the fewest
outstanding requests (a fixed list, or a Prometheus file_sd file re-read every
second), measures TTFT and end-to-end latency, and returns a summary dict.
Sends only to loopback addresses unless ``allow_remote``.
"""

from controlplane.loadgen.request import RequestRecord
from controlplane.loadgen.runner import fit_tokens, run_load
from controlplane.loadgen.summary import format_summary, summarize
from controlplane.loadgen.targets import RemoteTargetError, TargetPool

__all__ = [
    "run_load",
    "fit_tokens",
    "RequestRecord",
    "format_summary",
    "summarize",
    "TargetPool",
    "RemoteTargetError",
]
