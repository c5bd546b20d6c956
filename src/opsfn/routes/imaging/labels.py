"""Rekognition labels for the browser image, inside the service's limits, in its own shape.

DetectLabels reads JPEG or PNG from S3 up to 15 MB, at least 80 px on each side. Bigger images are
downscaled into a JPEG copy (``converted/{jobId}/labels.jpg``) that only Rekognition reads; smaller
ones cannot be labelled and get no labels and a message saying why, rather than a failed job.
Labels keep DetectLabels' own shape (``{"Name", "Confidence", "Parents": [{"Name"}]}``, what pages
written for the original function read) without the bounding boxes and other noise nobody reads.
"""

from __future__ import annotations

import io
from typing import Any

from opsfn.services import aws

REKOGNITION_MAX_S3_BYTES = 15 * 1024 * 1024
REKOGNITION_MIN_SIDE = 80


def needs_copy(size_bytes: int, width: int, height: int, max_side: int) -> bool:
    """True when the image must be downscaled before Rekognition may read it."""
    return size_bytes > REKOGNITION_MAX_S3_BYTES or max(width, height) > max_side


def too_small(width: int, height: int) -> bool:
    """Rekognition refuses images under 80 px on a side."""
    return min(width, height) < REKOGNITION_MIN_SIDE


def downscale_jpeg(data: bytes, max_side: int, max_pixels: int) -> bytes:
    """A JPEG copy whose longer side is at most ``max_side`` (never below 80 px on the shorter)."""
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = max_pixels
    with Image.open(io.BytesIO(data)) as image:
        image.draft("RGB", (max_side, max_side))  # JPEG: decode at a reduced scale when possible
        # Greyscale (every rendered MONOCHROME DICOM) is resized before it becomes RGB: the
        # same pixels, as Pillow filters each band alike, at a quarter of the memory.
        picture = image.convert("L" if image.mode == "L" else "RGB")
    width, height = picture.size
    scale = min(1.0, max_side / max(width, height))
    scale = max(scale, REKOGNITION_MIN_SIDE / max(1, min(width, height)))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if size != picture.size:
        picture = picture.resize(size, Image.Resampling.LANCZOS)
    rgb = picture.convert("RGB")
    out = io.BytesIO()
    quality = 90
    while True:
        out.seek(0)
        out.truncate()
        rgb.save(out, "JPEG", quality=quality)
        if out.tell() <= REKOGNITION_MAX_S3_BYTES or quality <= 40:
            return out.getvalue()
        quality -= 20


TOO_SMALL_MESSAGE = (f"The image is smaller than the {REKOGNITION_MIN_SIDE} pixels a side "
                     "Rekognition needs, so it has no labels.")
DICOM_REFUSED_MESSAGE = ("Rekognition could not analyse the image rendered from this DICOM file, "
                         "so it has no labels.")


def none_found_message(min_confidence: float) -> str:
    """Why a labelled image has no labels: nothing reached the confidence threshold."""
    return f"Rekognition found no labels with at least {min_confidence:g}% confidence."


def summarise(response: dict[str, Any]) -> list[dict[str, Any]]:
    """Each label as DetectLabels returns it: ``Name``, ``Confidence`` and parent ``Name``s."""
    labels = []
    for label in response.get("Labels", []):
        labels.append({
            "Name": str(label.get("Name", "")),
            "Confidence": float(label.get("Confidence", 0.0)),
            "Parents": [{"Name": str(p.get("Name", ""))} for p in label.get("Parents", [])],
        })
    return labels


def detect(bucket: str, key: str, *, max_labels: int, min_confidence: float) -> list[dict[str, Any]]:
    """DetectLabels on an S3 object (the object must already respect Rekognition's limits)."""
    response = aws.client("rekognition").detect_labels(
        Image={"S3Object": {"Bucket": bucket, "Name": key}},
        MaxLabels=max_labels, MinConfidence=min_confidence,
    )
    return summarise(dict(response))
