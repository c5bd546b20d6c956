"""The public home of route access declarations: ``from opsfn.access import allow, table``.

The implementation lives in :mod:`opsfn.core.access`; this module keeps the documented import path.
``check("s3:GetObject")`` holds a call made without an AWS client (a signed URL, a raw request) to
the running route's declarations, as every client's calls are held.
"""

from __future__ import annotations

from opsfn.core.access import (
    ANY,
    Access,
    Grant,
    Resource,
    allow,
    arn,
    arn_pattern,
    bucket,
    objects,
    parameter,
    queue,
    secret,
    table,
)
from opsfn.core.access_check import check

__all__ = ["ANY", "Access", "Grant", "Resource", "allow", "arn", "arn_pattern", "bucket", "check",
           "objects", "parameter", "queue", "secret", "table"]
