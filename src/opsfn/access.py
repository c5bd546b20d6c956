"""The public home of route access declarations: ``from opsfn.access import allow, table``.

The implementation lives in :mod:`opsfn.core.access`; this module keeps the documented import path.
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

__all__ = ["ANY", "Access", "Grant", "Resource", "allow", "arn", "arn_pattern", "bucket", "objects",
           "parameter", "queue", "secret", "table"]
