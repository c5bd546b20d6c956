"""The built-in routes: one package per system opsfn replaces, plus ``health``.

Each domain is declared once, in :data:`~opsfn.routes.domains.DECLARED`; its router, its settings
sections, its commands and its part of the route manifest follow from that declaration.

=============  ==================================================================
``imaging``    the image-analysis pipeline (browser uploads, DICOM, Rekognition)
``incidents``  the incident backend's remediation actions
``database``   the dashboard's on-demand database (start, status, auto-stop)
``etl``        the Glue ETL trigger and its alerts
``tls``        OpenEMR's TLS materials on the shared file system
``ses``        OpenEMR's SES SMTP credentials, receipt rule set and inbound relay
``exports``    OpenEMR's data exports: RDS snapshots, EFS to S3, AWS Backup
=============  ==================================================================
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from opsfn.lazy import attributes
from opsfn.routes.domains import DECLARED, DOMAINS, Domain, builtin_routers, command_modules

if TYPE_CHECKING:
    from opsfn.routes.manifest import builtin, default_app

__all__ = ["DECLARED", "DOMAINS", "Domain", "builtin", "builtin_routers", "command_modules",
           "default_app"]

# Loaded on first use, so that ``python -m opsfn.routes.manifest`` runs a module not yet imported.
__getattr__, __dir__ = attributes(globals(), {
    "builtin": "opsfn.routes.manifest:builtin", "default_app": "opsfn.routes.manifest:default_app"})
