"""TLS materials on the shared file system: action, custom resource and rotation schedule.

Replaces the ECS task that ran the web image's certificate script: the same files appear under
``SSL_DIR`` (``private/selfsigned.key.pem`` 0600, ``certs/selfsigned.cert.pem`` 0644, the
``webserver.*`` copies the web container reads, and the ``docker-selfsigned-configured`` marker).
``SSL_DIR`` may be the root of the mounted file system: the OpenEMR container mounts its TLS file
system at ``/etc/ssl``, so the function mounts the same file system and writes at its root.
Material is regenerated only when missing, unreadable, not matching its key, expiring within
``SSL_RENEW_BEFORE_DAYS``, or (for a deploy that names them) issued for other names or key type.
A key others may read is made 0600 (or reported when the function may not change it). A
directory the function may not use is a :class:`~opsfn.routes.tls.access.FileAccessDenied` that
names it, the access needed and the uid. A custom resource Delete leaves the files in place: the
web container still needs them.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_pascal

from opsfn import Context, Router
from opsfn.errors import UpstreamError
from opsfn.events import CustomResourceRequest, CustomResourceResult, ScheduleEvent
from opsfn.routes.tls import certs
from opsfn.routes.tls.access import denied, require, secure_key, translated
from opsfn.routes.tls.files import FileLock, atomic_write_many, read_bytes
from opsfn.routes.tls.layout import Layout
from opsfn.routes.tls.settings import KeyType, TlsSettings

router = Router()

_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DNS_NAME = re.compile(rf"^(\*\.)?{_LABEL}(\.{_LABEL})*$")
_PRINTABLE = re.compile(r"^[^\x00-\x1f\x7f]+$")


class SslInput(BaseModel):
    """Payload of ``generate_ssl_materials`` and properties of ``Custom::SslMaterials``.

    Fields left out come from the existing certificate (so a renewal keeps its names) or, when
    there is none, from the settings. Properties use CloudFormation's PascalCase names.
    """

    model_config = ConfigDict(alias_generator=to_pascal, populate_by_name=True, extra="forbid",
                              defer_build=True)

    common_name: str | None = Field(None, min_length=1, max_length=64, pattern=_PRINTABLE.pattern)
    subject_alt_names: list[str] | None = Field(None, max_length=50)
    key_type: KeyType | None = None
    validity_days: int | None = Field(None, ge=1, le=3650)
    renew_before_days: int | None = Field(None, ge=0, le=3650)
    organization: str | None = Field(None, min_length=1, max_length=64, pattern=_PRINTABLE.pattern)
    organizational_unit: str | None = Field(None, min_length=1, max_length=64,
                                            pattern=_PRINTABLE.pattern)
    country: str | None = Field(None, pattern=r"^[A-Za-z]{2}$")
    state: str | None = Field(None, min_length=1, max_length=128, pattern=_PRINTABLE.pattern)
    locality: str | None = Field(None, min_length=1, max_length=128, pattern=_PRINTABLE.pattern)
    force: bool = False

    @field_validator("subject_alt_names", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        """CloudFormation users may pass ``"a.example,b.example"`` instead of a list."""
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("subject_alt_names")
    @classmethod
    def _names(cls, value: list[str] | None) -> list[str] | None:
        for name in value or []:
            if not valid_san(name):
                raise ValueError("each name must be a DNS name or an IP address")
        return value

    def names_given(self) -> bool:
        """Whether the caller chose names or key type (then existing material must match them)."""
        return any(v is not None for v in (self.common_name, self.subject_alt_names, self.key_type))


class KeyModeReport(BaseModel):
    """A private key that group or others could read: made 0600 (``fixed``) or not, and why."""

    model_config = ConfigDict(defer_build=True)

    path: str
    mode: str
    owner_uid: int
    fixed: bool
    problem: str | None = None


class SslResult(BaseModel):
    """The reply: where the files are and what the certificate is; never the key."""

    model_config = ConfigDict(defer_build=True)

    regenerated: bool
    reason: str
    fingerprint_sha256: str
    not_before: str
    not_after: str
    common_name: str
    subject_alt_names: list[str]
    key_type: str
    paths: dict[str, str]
    copies_refreshed: bool
    stale_lock_broken: bool
    key_modes: list[KeyModeReport] = []

    @property
    def key_permissions(self) -> str:
        """``ok``, ``fixed`` (a readable key was made 0600) or ``reported`` (it could not be)."""
        if any(not report.fixed for report in self.key_modes):
            return "reported"
        return "fixed" if self.key_modes else "ok"


def valid_san(name: str) -> bool:
    """A DNS name (optionally ``*.``-prefixed) or an IP address (without a ``%zone``: a
    certificate's iPAddress carries only the address)."""
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return len(name) <= 253 and bool(_DNS_NAME.match(name))
    return "%" not in name


def _split_names(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def plan_spec(request: SslInput, existing: certs.CertInfo | None) -> certs.CertSpec:
    """The certificate to issue: payload, else the existing certificate's names, else settings."""
    settings = TlsSettings.current()
    carried = existing if existing is not None and not request.names_given() else None
    if carried is not None and carried.key_type in ("rsa-2048", "ecdsa-p256"):
        common_name = carried.common_name or settings.ssl_common_name
        sans = carried.subject_alt_names
        key_type: KeyType = carried.key_type  # type: ignore[assignment]
    else:
        common_name = request.common_name or settings.ssl_common_name
        sans = (tuple(request.subject_alt_names) if request.subject_alt_names is not None
                else _split_names(settings.ssl_subject_alt_names))
        key_type = request.key_type or settings.ssl_key_type
    return certs.CertSpec(
        common_name=common_name, subject_alt_names=sans, key_type=key_type,
        validity_days=request.validity_days or settings.ssl_validity_days,
        organization=request.organization, organizational_unit=request.organizational_unit,
        country=request.country.upper() if request.country else None, state=request.state,
        locality=request.locality,
    )


def _prepare_dirs(layout: Layout) -> None:
    """Create SSL_DIR inside its mounted parent on first use; a missing parent means no mount.

    The lock file and the marker live in SSL_DIR itself, so it must be writable before anything
    starts; ``private/`` and ``certs/`` are checked when something is to be written there.
    """
    try:
        layout.root.mkdir(mode=0o755, exist_ok=True)
    except FileNotFoundError:
        raise UpstreamError("SSL_DIR is not on a mounted file system") from None
    except PermissionError:
        raise denied(layout.root.parent, "write") from None
    if not layout.root.is_dir():
        raise UpstreamError("SSL_DIR is not a directory")
    require("write", layout.root)
    with translated(layout.root, "write"):
        (layout.root / "private").mkdir(mode=0o700, exist_ok=True)
        (layout.root / "certs").mkdir(mode=0o755, exist_ok=True)
    require("read", layout.root / "private", layout.root / "certs")


def _read(path: Path) -> bytes | None:
    """A file's bytes (None when missing); a refused read is FileAccessDenied, not "missing".

    Taking an unreadable key for a missing one would replace a working key with a new one.
    """
    try:
        return read_bytes(path)
    except PermissionError:
        raise denied(path, "read") from None


def _write(writes: list[tuple[Path, bytes, int]]) -> None:
    """Write everything atomically after checking each target directory."""
    directories = list(dict.fromkeys(path.parent for path, _, _ in writes))
    require("write", *directories)
    try:
        atomic_write_many(writes)
    except PermissionError:
        refused = [d for d in directories if not os.access(d, os.W_OK | os.X_OK)] or directories
        raise denied(refused[0], "write", *refused[1:]) from None


def _secure_keys(layout: Layout) -> list[KeyModeReport]:
    """Make readable keys 0600 where allowed; report the others."""
    reports = []
    for path in (layout.key, layout.web_key):
        found = secure_key(path)
        if found is not None:
            reports.append(KeyModeReport(path=found.path, mode=found.mode,
                                         owner_uid=found.owner_uid, fixed=found.fixed,
                                         problem=found.problem))
    return reports


def ensure_materials(layout: Layout, request: SslInput, *, now: dt.datetime | None = None
                     ) -> SslResult:
    """Check the material under the lock and regenerate or repair only what needs it."""
    settings = TlsSettings.current()
    _prepare_dirs(layout)
    renew_before = dt.timedelta(days=request.renew_before_days
                                if request.renew_before_days is not None
                                else settings.ssl_renew_before_days)
    lock = FileLock(layout.lock, stale_after=settings.ssl_lock_stale_seconds,
                    wait=settings.ssl_lock_wait_seconds)
    with translated(layout.root, "write"), lock.held():
        key_pem, cert_pem = _read(layout.key), _read(layout.cert)
        assessment = certs.assess(cert_pem, key_pem, renew_before=renew_before, now=now)
        spec = plan_spec(request, assessment.info)
        reason: str = assessment.state
        if not assessment.needs_renewal and request.force:
            reason = "forced"
        elif (not assessment.needs_renewal and assessment.info is not None
              and request.names_given() and not certs.matches_spec(assessment.info, spec)):
            reason = "spec_changed"
        regenerate = reason != "current"
        writes: list[tuple[Path, bytes, int]] = []
        info = assessment.info
        if regenerate:
            materials = certs.generate(spec, now=now)
            key_pem, cert_pem, info = materials.key_pem, materials.cert_pem, materials.info
            writes += [(layout.key, key_pem, 0o600), (layout.cert, cert_pem, 0o644)]
        assert key_pem is not None and cert_pem is not None  # set on both branches
        copies_stale = (_read(layout.web_key) != key_pem
                        or _read(layout.web_cert) != cert_pem)
        if regenerate or copies_stale:
            writes += [(layout.web_key, key_pem, 0o600), (layout.web_cert, cert_pem, 0o644)]
        if not layout.marker.is_file():
            writes.append((layout.marker, b"", 0o644))
        if writes:
            _write(writes)
        key_modes = _secure_keys(layout)
    if info is None:  # pragma: no cover - kept material always parsed (else it is regenerated)
        info = certs.describe(cert_pem)
    return SslResult(
        regenerated=regenerate, reason=reason, fingerprint_sha256=info.fingerprint_sha256,
        not_before=info.not_before.isoformat(), not_after=info.not_after.isoformat(),
        common_name=info.common_name, subject_alt_names=list(info.subject_alt_names),
        key_type=info.key_type, paths=layout.paths(), copies_refreshed=copies_stale and not regenerate,
        stale_lock_broken=lock.broke_stale, key_modes=key_modes,
    )


def _layout() -> Layout:
    return Layout(Path(TlsSettings.current().required("SSL_DIR")))


def _run(request: SslInput, context: Context) -> SslResult:
    result = ensure_materials(_layout(), request)
    context.logger.info("tls materials checked", extra={
        "regenerated": result.regenerated, "reason": result.reason,
        "fingerprint_sha256": result.fingerprint_sha256, "not_after": result.not_after,
        "key_permissions": result.key_permissions,
    })
    for report in result.key_modes:
        if not report.fixed:
            context.logger.warning("private key readable by others", extra={
                "path": report.path, "mode": report.mode, "problem": report.problem})
    return result


@router.action("generate_ssl_materials", queue=True,
               description="Create or renew the self-signed TLS key and certificate under SSL_DIR.")
def generate_ssl_materials(payload: SslInput, context: Context) -> SslResult:
    """Direct invoke: the current material, regenerated when needed (or when ``force``)."""
    return _run(payload, context)


@router.schedule("rotate-ssl-materials", expression="rate(2 days)")
def rotate_ssl_materials(event: ScheduleEvent, context: Context) -> dict[str, Any]:
    """Every two days: renew material that expires within SSL_RENEW_BEFORE_DAYS, keeping its names."""
    return _run(SslInput(), context).model_dump()


@router.custom_resource("Custom::SslMaterials")
def ssl_materials_resource(props: SslInput, request: CustomResourceRequest, context: Context
                           ) -> CustomResourceResult:
    """Create/Update make sure matching material exists; Delete leaves the files for the web tier."""
    if request.request_type == "Delete":
        return CustomResourceResult(data={})
    result = _run(props, context)
    return CustomResourceResult(data={
        "Fingerprint": result.fingerprint_sha256,
        "NotAfter": result.not_after,
        "CertificatePath": result.paths["cert"],
        "KeyPath": result.paths["key"],
        "WebserverCertificatePath": result.paths["webserver_cert"],
        "WebserverKeyPath": result.paths["webserver_key"],
        "Regenerated": str(result.regenerated).lower(),
        "KeyPermissions": result.key_permissions,
    })
