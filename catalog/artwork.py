"""Artwork: an image a rights holder sends, checked and re-encoded before anyone is served it.

What is stored is never the bytes that were sent. An upload must be a real JPEG, PNG or WebP
within a byte and a pixel budget (the pixels are read from the header, before anything is
decoded, so a small file that decodes to gigabytes is refused unopened); it is then decoded once,
turned upright, flattened onto white, cropped to a square and written again as a baseline JPEG
without metadata. A payload hidden in the original (a polyglot, EXIF, trailing bytes) does not
survive that, and every cover a page shows has the same shape and type.
"""

from __future__ import annotations

import io
import warnings

from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = [
    "ARTWORK_CONTENT_TYPE",
    "MAX_ARTWORK_BYTES",
    "MAX_ARTWORK_PIXELS",
    "ArtworkRejected",
    "artwork_from_bytes",
    "checked_upload",
    "upload_bytes",
]

# Under the 5 MiB body limit of every path but the upload paths (the album form is not one),
# with room for the rest of a multipart form; a 3000 px photo as a JPEG is about 2 MB.
MAX_ARTWORK_BYTES = 4 * 1024 * 1024
# 6000 × 6000: above any cover a label sends (streaming services ask for 3000 × 3000), and at
# 4 bytes a pixel 144 MB decoded, which a web process can afford once at a time.
MAX_ARTWORK_PIXELS = 36_000_000
MIN_ARTWORK_SIDE_PX = 64
# What is served: square, at most this wide; 2× the largest place a page shows it (15 rem).
ARTWORK_SIDE_PX = 600
ARTWORK_CONTENT_TYPE = "image/jpeg"
_FORMATS = ("JPEG", "PNG", "WEBP")

# The texts shown to the person who sent the image, by code (the HTTP status the API answers).
MESSAGES = {
    "empty": "The image is empty.",
    "too_large": f"The image is larger than {MAX_ARTWORK_BYTES // (1024 * 1024)} MiB.",
    "not_image": "This is not a JPEG, PNG or WebP image.",
    "too_many_pixels": f"The image has more than {MAX_ARTWORK_PIXELS // 1_000_000} million pixels.",
    "too_small": f"The image must be at least {MIN_ARTWORK_SIDE_PX} pixels wide and high.",
    "decode_failed": "The image could not be read (is it truncated?).",
}
HTTP_STATUS = {"empty": 400, "too_large": 413, "not_image": 415, "too_many_pixels": 422, "too_small": 422}


class ArtworkRejected(Exception):
    """An image refused as artwork; `code` is stable for programs, `message` fit for people."""

    def __init__(self, code: str):
        super().__init__(MESSAGES[code])
        self.code = code
        self.message = MESSAGES[code]
        self.http_status = HTTP_STATUS.get(code, 422)


def upload_bytes(upload) -> bytes:
    """Return an uploaded file's bytes, at most one past the budget: enough for artwork_from_bytes
    to refuse a file that is over it without reading the rest."""
    upload.seek(0)
    return upload.read(MAX_ARTWORK_BYTES + 1)


def checked_upload(upload) -> bytes:
    """Read an uploaded file (upload_bytes), check that it would make artwork (ArtworkRejected
    otherwise) and return it as sent: a form says why at once, and the service that stores it
    re-encodes the original, once (a second JPEG encode would lose detail again)."""
    data = upload_bytes(upload)
    artwork_from_bytes(data)
    return data


def artwork_from_bytes(data: bytes) -> bytes:
    """Return `data`, an image, as the JPEG that is stored and served; raise ArtworkRejected."""
    if not data:
        raise ArtworkRejected("empty")
    if len(data) > MAX_ARTWORK_BYTES:
        raise ArtworkRejected("too_large")
    with warnings.catch_warnings():
        # Pillow warns of a decompression bomb only past its own global limit; ours is lower and
        # is checked first, so a warning here is an error too.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=_FORMATS) as image:
                width, height = image.size
                if width * height > MAX_ARTWORK_PIXELS:
                    raise ArtworkRejected("too_many_pixels")
                if min(width, height) < MIN_ARTWORK_SIDE_PX:
                    raise ArtworkRejected("too_small")
                image.draft("RGB", (ARTWORK_SIDE_PX, ARTWORK_SIDE_PX))  # JPEG: decode at a reduced scale
                image.load()
                return _reencoded(image)
        except UnidentifiedImageError:
            raise ArtworkRejected("not_image") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ArtworkRejected("too_many_pixels") from None
        except (OSError, ValueError, SyntaxError, EOFError):
            raise ArtworkRejected("decode_failed") from None


def _reencoded(image: Image.Image) -> bytes:
    upright = ImageOps.exif_transpose(image)
    if upright.mode in ("RGBA", "LA", "PA") or (upright.mode == "P" and "transparency" in upright.info):
        rgba = upright.convert("RGBA")
        flat = Image.new("RGB", rgba.size, "white")
        flat.paste(rgba, mask=rgba.getchannel("A"))
    else:
        flat = upright.convert("RGB")
    side = min(ARTWORK_SIDE_PX, *flat.size)
    square = ImageOps.fit(flat, (side, side), Image.Resampling.LANCZOS)
    square.info = {}  # Pillow writes a JPEG comment, EXIF or ICC profile it carries from the original
    out = io.BytesIO()
    square.save(out, "JPEG", quality=85, optimize=True)
    return out.getvalue()
