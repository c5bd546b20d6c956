"""The base of every normalised event a route may ask for by its parameter's type.

The binder recognises an envelope parameter by this base class, so it never has to import the
envelope modules of sources the function is not handling (a cold start pays for one source).
"""

from __future__ import annotations


class Envelope:
    """Marker base (no state): ``HttpRequest``, ``S3Object``, ``SqsMessage``, ``SnsMessage``,
    ``EventBridgeEvent``, ``ScheduleEvent``, ``CustomResourceRequest``, ``SesMessage``."""

    __slots__ = ()
