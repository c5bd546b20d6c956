"""Settings of the image-analysis pipeline (uploads, jobs, DICOM, labels)."""

from __future__ import annotations

from typing import Literal

from opsfn.settings import MiB, SettingsSection, env_field

__all__ = ["ImagingSettings"]


class ImagingSettings(SettingsSection):
    """Image pipeline settings."""

    upload_bucket: str | None = env_field("UPLOAD_BUCKET", "Bucket for browser uploads and results.")
    table_name: str | None = env_field("TABLE_NAME", "DynamoDB jobs table (partition key jobId, S).")
    imaging_max_upload_bytes: int = env_field(
        "IMAGING_MAX_UPLOAD_BYTES",
        "Largest upload: S3 refuses more through the presigned POST (content-length-range); "
        "a presigned PUT without fileSize is bounded by processing, which deletes a larger "
        "object and ends its job as error.",
        50 * MiB, gt=0, le=5 * 1024 * MiB,
    )
    imaging_upload_url_expiry_s: int = env_field(
        "IMAGING_UPLOAD_URL_EXPIRY_S", "Lifetime of a presigned upload (seconds).", 300,
        ge=30, le=3600,
    )
    imaging_result_url_expiry_s: int = env_field(
        "IMAGING_RESULT_URL_EXPIRY_S",
        "Lifetime of the presigned imageUrl made by GET /get-results (seconds).", 300,
        ge=30, le=3600,
    )
    imaging_job_ttl_s: int = env_field(
        "IMAGING_JOB_TTL_S", "Job items expire (DynamoDB TTL attribute `ttl`) this long after "
        "creation (seconds).", 7 * 24 * 3600, ge=3600,
    )
    imaging_max_labels: int = env_field(
        "IMAGING_MAX_LABELS", "Rekognition DetectLabels MaxLabels.", 10, ge=1, le=1000,
    )
    imaging_min_confidence: float = env_field(
        "IMAGING_MIN_CONFIDENCE", "Rekognition DetectLabels MinConfidence (percent).", 70.0,
        ge=0, le=100,
    )
    imaging_max_pixel_bytes: int = env_field(
        "IMAGING_MAX_PIXEL_BYTES",
        "Refuse DICOM whose declared decoded pixel data (rows x columns x samples x bytes x "
        "frames) is larger than this, before decoding anything.",
        512 * MiB, gt=0,
    )
    imaging_max_frame_pixels: int = env_field(
        "IMAGING_MAX_FRAME_PIXELS",
        "Refuse images (DICOM frames, JPEG, PNG) with more pixels than this; also Pillow's "
        "decompression-bomb limit.",
        64 * 1024 * 1024, gt=0,
    )
    imaging_label_max_side: int = env_field(
        "IMAGING_LABEL_MAX_SIDE",
        "Images with a longer side (pixels) are downscaled to this in a copy sent to Rekognition.",
        4096, ge=80,
    )
    imaging_sandbox: Literal["process", "inline"] = env_field(
        "IMAGING_SANDBOX",
        "Where uploaded bytes are decoded: `process`, a child process started by exec without "
        "AWS credentials and under the limits below (the default everywhere); `inline`, in the "
        "function's own process, for debugging only.",
        "process",
    )
    imaging_sandbox_timeout_s: float = env_field(
        "IMAGING_SANDBOX_TIMEOUT_S",
        "Wall-clock limit of one decode in the sandbox child (seconds); the child is killed and "
        "the upload refused past it.",
        120.0, gt=0, le=900,
    )
    imaging_sandbox_cpu_s: int = env_field(
        "IMAGING_SANDBOX_CPU_S",
        "CPU time limit of the sandbox child (seconds, RLIMIT_CPU, counted from its start).",
        90, ge=1, le=900,
    )
    imaging_sandbox_memory_mib: int = env_field(
        "IMAGING_SANDBOX_MEMORY_MIB",
        "Address-space limit of the sandbox child (MiB, RLIMIT_AS): a decode needing more fails "
        "its upload.",
        1024, ge=64,
    )
