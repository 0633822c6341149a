"""Optimistic concurrency for policies: the version as ``ETag``, ``If-Match`` on writes.

Owns: :func:`etag` and :func:`expected_version`. A policy's ETag is its version,
quoted (``"3"``). ``If-Match: "3"`` on a PUT, DELETE or rollback makes the write
conditional: the store compares it with the current version inside the write's
transaction and a stale one answers 412 with the current version. ``If-Match: *``
only asks that the policy exists. Without the header the write is unconditional,
unless :attr:`~controlplane.api.settings.ApiOptions.require_if_match` is set
(then 428).
"""

from __future__ import annotations

import re

from fastapi import HTTPException
from fastapi.exceptions import RequestValidationError

__all__ = ["etag", "expected_version", "IF_MATCH_DESCRIPTION"]

IF_MATCH_DESCRIPTION = (
    'the version the change is based on, as its ETag ("3"); 412 when it is no longer current,'
    " * for any version"
)
_TAG = re.compile(r'^"([1-9][0-9]{0,15})"$')


def etag(version: int) -> str:
    return f'"{version}"'


def expected_version(if_match: str | None, required: bool) -> int | None:
    """The version ``If-Match`` names; None for ``*`` or no header (allowed unless ``required``)."""
    if if_match is None:
        if required:
            raise HTTPException(
                428, 'this server requires If-Match: send the ETag of the version you read ("3")'
            )
        return None
    value = if_match.strip()
    if value == "*":
        return None
    match = _TAG.match(value)
    if match is None:
        raise RequestValidationError(
            [
                {
                    "type": "value_error",
                    "loc": ("header", "If-Match"),
                    "msg": 'expected one ETag of this API, a quoted version such as "3", or *',
                    "input": if_match[:100],
                }
            ]
        )
    return int(match.group(1))
