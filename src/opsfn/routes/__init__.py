"""The built-in routes: one package per system opsfn replaces, plus ``health``.

=============  ==================================================================
``imaging``    the image-analysis pipeline (browser uploads, DICOM, Rekognition)
``incidents``  the incident backend's remediation actions
``database``   the dashboard's on-demand database (start, status, auto-stop)
``etl``        the Glue ETL trigger and its alerts
``tls``        OpenEMR's TLS materials on the shared file system
``ses``        OpenEMR's SES SMTP credentials and receipt rule set
``exports``    OpenEMR's data exports: RDS snapshots, EFS to S3, AWS Backup
=============  ==================================================================
"""

from __future__ import annotations

from importlib import import_module

from opsfn.core.router import Router

DOMAINS = ("health", "imaging", "incidents", "database", "etl", "tls", "ses", "exports")


def builtin_routers() -> list[Router]:
    """Every built-in router (imports every route module: the manifest spares the handler this).

    Modules import only light things at import time: AWS clients, imaging, crypto and cache
    libraries are imported inside the functions that use them.
    """
    return [import_module(f"opsfn.routes.{domain}").router for domain in DOMAINS]
