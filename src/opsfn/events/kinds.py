"""The names of where an event came from, in one place.

* a :data:`Kind` is the shape an event arrives in, which detection tells apart and which decides
  the reply (an API Gateway REST and an HTTP API request are both HTTP, but answer differently);
* a :data:`Source` is what a route listens to (``@router.get`` is ``http``, ``@router.action``
  is ``action``); :data:`SOURCE_OF` says which routes an event of each kind reaches;
* a :data:`Via` is the path a route's input took, which the route sees as ``context.source``:
  the kind, or ``sns_sqs`` for an SNS message that came through an SQS subscription.

Every tuple here is derived from its ``Literal``: a name is written once.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

Kind = Literal[
    "http_v1", "http_v2", "function_url", "alb", "s3", "s3_eventbridge", "sqs", "sns",
    "schedule", "eventbridge", "custom_resource", "invoke", "ses",
]
KINDS: Final[tuple[Kind, ...]] = get_args(Kind)
HTTP_KINDS: Final[frozenset[Kind]] = frozenset({"http_v1", "http_v2", "function_url", "alb"})

Source = Literal["http", "action", "s3", "schedule", "eventbridge", "custom_resource", "sqs", "sns",
                 "ses"]
SOURCES: Final[tuple[Source, ...]] = get_args(Source)

SOURCE_OF: Final[dict[Kind, Source]] = {
    **dict.fromkeys(HTTP_KINDS, "http"), "invoke": "action", "s3": "s3", "s3_eventbridge": "s3",
    "sqs": "sqs", "sns": "sns", "schedule": "schedule", "eventbridge": "eventbridge",
    "custom_resource": "custom_resource", "ses": "ses",
}
"""The routes an event of each kind reaches first (an SQS or SNS record may carry an S3 event or
an action: its dispatcher looks further)."""

Via = Literal[Kind, "sns_sqs"]
VIAS: Final[tuple[str, ...]] = (*KINDS, "sns_sqs")
