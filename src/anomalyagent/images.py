"""Reading and writing images: clear errors naming the file, atomic writes.

Images are uint8 numpy arrays: (H, W) for grayscale, (H, W, 3) RGB for colour. A
grayscale file stays (H, W) and is written back as single-channel; colour files with an
alpha channel lose the alpha; 16-bit files are scaled to 8 bits.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import cv2
import numpy as np

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


class ImageError(ValueError):
    """An input image could not be used; the message names the file and the problem."""


def is_image_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def to_uint8(array: np.ndarray, source: str = "array") -> np.ndarray:
    """Normalise a decoded array to (H, W) or (H, W, 3) uint8 RGB."""
    if array.dtype == np.uint16:
        array = (array / 257.0).round().astype(np.uint8)
    elif array.dtype != np.uint8:
        raise ImageError(f"{source}: unsupported pixel type {array.dtype}")
    if array.ndim == 3:
        if array.shape[2] == 1:
            array = array[:, :, 0]
        elif array.shape[2] == 4:
            array = cv2.cvtColor(array, cv2.COLOR_BGRA2RGB)
        elif array.shape[2] == 3:
            array = cv2.cvtColor(array, cv2.COLOR_BGR2RGB)
        else:
            raise ImageError(f"{source}: unsupported channel count {array.shape[2]}")
        if array.ndim == 3 and _is_gray(array):
            array = np.ascontiguousarray(array[:, :, 0])
    if min(array.shape[:2]) < 16:
        raise ImageError(f"{source}: image is {array.shape[1]}x{array.shape[0]} px, smaller than 16 px")
    return np.ascontiguousarray(array)


def _is_gray(rgb: np.ndarray) -> bool:
    """True when all three channels are identical (a grayscale image saved as RGB)."""
    return bool(np.array_equal(rgb[:, :, 0], rgb[:, :, 1]) and np.array_equal(rgb[:, :, 1], rgb[:, :, 2]))


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file; raise ImageError naming the file when it cannot be used."""
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{path}: no such file")
    data = np.fromfile(str(path), dtype=np.uint8)
    if data.size == 0:
        raise ImageError(f"{path}: file is empty")
    array = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if array is None:
        raise ImageError(f"{path}: not a readable image (corrupt or unsupported format)")
    return to_uint8(array, str(path))


def read_mask(path: str | os.PathLike, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Read a mask as (H, W) bool (pixel > 127), optionally checking its size."""
    path = Path(path)
    data = np.fromfile(str(path), dtype=np.uint8) if path.is_file() else np.zeros(0, np.uint8)
    array = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE) if data.size else None
    if array is None:
        raise ImageError(f"{path}: not a readable mask")
    if shape is not None and array.shape != tuple(shape):
        raise ImageError(f"{path}: mask is {array.shape[1]}x{array.shape[0]}, image is {shape[1]}x{shape[0]}")
    return array > 127


def encode_png(image: np.ndarray) -> bytes:
    """PNG bytes of a (H, W) or (H, W, 3) RGB uint8 image (deterministic)."""
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return buf.tobytes()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a reader sees the old file or the whole new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)  # mkstemp creates 0600; outputs are ordinary readable files
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_png(path: str | os.PathLike, image: np.ndarray) -> None:
    atomic_write_bytes(path, encode_png(image))


def to_gray(image: np.ndarray) -> np.ndarray:
    """(H, W) uint8 luminance of any image."""
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def to_rgb(image: np.ndarray) -> np.ndarray:
    return image if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
