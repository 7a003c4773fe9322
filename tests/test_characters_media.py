from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from bostonia.characters.media import ImageLimits, MediaStore, image_format, placeholder_png, process_image
from bostonia.errors import InvalidInput, PayloadTooLarge

LIMITS = ImageLimits(max_bytes=5 * 1024 * 1024, max_pixels=10_000_000)


def encoded(kind: str, size: tuple[int, int] = (40, 30), mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, (200, 10, 10, 128)[: len(mode)]).save(out, kind)
    return out.getvalue()


@pytest.mark.parametrize("kind", ["PNG", "JPEG", "GIF", "WEBP"])
def test_supported_images_are_reencoded(kind: str) -> None:
    data = encoded(kind)
    assert image_format(data) == kind
    image = process_image(data, LIMITS)
    assert image.png.startswith(b"\x89PNG") and image.thumbnail[8:12] == b"WEBP" and len(image.digest) == 32
    assert Image.open(io.BytesIO(image.png)).size == (40, 30)


def test_big_pictures_are_scaled_and_transparency_kept() -> None:
    image = process_image(encoded("PNG", (3000, 1500), "RGBA"), LIMITS)
    with Image.open(io.BytesIO(image.png)) as full, Image.open(io.BytesIO(image.thumbnail)) as thumb:
        assert full.size == (1024, 512) and full.mode == "RGBA" and thumb.size == (256, 128)


def test_metadata_does_not_survive() -> None:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("chara", "c2VjcmV0")
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, "PNG", pnginfo=info)
    assert b"chara" in out.getvalue() and b"chara" not in process_image(out.getvalue(), LIMITS).png


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", InvalidInput),
        (b"%PDF-1.7", InvalidInput),
        (encoded("PNG")[:60], InvalidInput),
        (b"\xff\xd8\xff" + b"\0" * 50, InvalidInput),
        (encoded("PNG", (4000, 3000)), PayloadTooLarge),  # 12 M pixels > 10 M
        (b"\x89PNG\r\n\x1a\n" + b"x" * (6 * 1024 * 1024), PayloadTooLarge),
    ],
    ids=["svg", "pdf", "truncated", "jpeg-garbage", "too-many-pixels", "too-many-bytes"],
)
def test_bad_images_are_refused(data: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        process_image(data, LIMITS)


def test_store_is_content_addressed(tmp_path: Path) -> None:
    media = MediaStore(tmp_path / "media")
    image = process_image(encoded("PNG"), LIMITS)
    path = media.save_avatar(image)
    assert path == f"{image.digest[:2]}/{image.digest}.png" and media.save_avatar(image) == path
    assert media.read_avatar(path) == image.png and media.read_avatar("../../etc/passwd") is None
    digest = media.save_asset(b"asset bytes")
    assert media.read_asset(digest) == b"asset bytes" and media.read_asset("nope") is None


def test_placeholder_is_a_portrait_png() -> None:
    with Image.open(io.BytesIO(placeholder_png("Ada Lovelace", 200))) as image:
        assert image.size == (400, 600) and image.format == "PNG"
