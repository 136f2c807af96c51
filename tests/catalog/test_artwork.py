"""Artwork uploads: only real images within the budgets, and never the bytes that were sent."""

import io

import pytest
from PIL import Image

from catalog.artwork import (
    ARTWORK_SIDE_PX,
    MAX_ARTWORK_BYTES,
    ArtworkRejected,
    artwork_from_bytes,
)
from tests import media


def _image(fmt: str, size=(800, 500), mode="RGB", colour=(200, 30, 40), **save) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, colour).save(out, fmt, **save)
    return out.getvalue()


def _decoded(jpeg: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(jpeg))
    image.load()
    return image


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_a_real_image_becomes_a_square_jpeg_of_at_most_600_px(fmt):
    out = _decoded(artwork_from_bytes(_image(fmt, size=(1600, 1000))))
    assert out.format == "JPEG" and out.mode == "RGB"
    assert out.size == (ARTWORK_SIDE_PX, ARTWORK_SIDE_PX)


def test_a_small_image_is_cropped_square_but_never_enlarged():
    assert _decoded(artwork_from_bytes(_image("PNG", size=(300, 200)))).size == (200, 200)


def test_transparency_is_flattened_onto_white():
    out = _decoded(artwork_from_bytes(_image("PNG", size=(100, 100), mode="RGBA", colour=(0, 0, 0, 0))))
    assert min(out.getpixel((50, 50))) >= 250


def test_metadata_and_trailing_payloads_are_not_served():
    """A polyglot: a valid JPEG with EXIF (a GPS position, a comment) and a script appended."""
    exif = Image.Exif()
    exif[0x010E] = "secret description"  # ImageDescription
    payload = b"<script>alert(1)</script>"
    sent = _image("JPEG", exif=exif.tobytes(), comment=b"<?php system($_GET[0]); ?>") + payload
    out = artwork_from_bytes(sent)
    assert b"secret description" not in out and b"<?php" not in out and payload not in out
    assert not _decoded(out).getexif()


@pytest.mark.parametrize(
    ("data", "code", "status"),
    [
        (b"", "empty", 400),
        (b"GIF89a" + b"\0" * 100, "not_image", 415),
        (b"%PDF-1.4 not an image", "not_image", 415),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "not_image", 415),
    ],
)
def test_what_is_not_a_jpeg_png_or_webp_is_refused(data, code, status):
    with pytest.raises(ArtworkRejected) as refused:
        artwork_from_bytes(data)
    assert (refused.value.code, refused.value.http_status) == (code, status)


def test_a_gif_is_refused_even_though_pillow_reads_it():
    with pytest.raises(ArtworkRejected) as refused:
        artwork_from_bytes(_image("GIF"))
    assert refused.value.code == "not_image"


def test_a_truncated_image_is_refused():
    with pytest.raises(ArtworkRejected) as refused:
        artwork_from_bytes(_image("PNG", size=(400, 400), colour=(10, 200, 90))[:300])
    assert refused.value.code == "decode_failed"


def test_more_bytes_than_the_budget_are_refused_before_decoding():
    with pytest.raises(ArtworkRejected) as refused:
        artwork_from_bytes(b"\xff\xd8\xff" + b"\0" * MAX_ARTWORK_BYTES)
    assert (refused.value.code, refused.value.http_status) == ("too_large", 413)


def test_a_decompression_bomb_is_refused_from_its_header():
    """50 000 × 50 000 pixels (7.5 GB decoded) in under 100 bytes: refused unread."""
    with pytest.raises(ArtworkRejected) as refused:
        artwork_from_bytes(media.png_header_only(50_000, 50_000))
    assert (refused.value.code, refused.value.http_status) == ("too_many_pixels", 422)


def test_a_tiny_image_is_refused():
    with pytest.raises(ArtworkRejected) as refused:
        artwork_from_bytes(_image("PNG", size=(32, 400)))
    assert refused.value.code == "too_small"
