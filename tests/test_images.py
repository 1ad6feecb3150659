import numpy as np
import pytest

from anomalyagent.images import ImageError, read_image, read_mask, write_png

from conftest import object_image, write_image


def test_roundtrip_rgb_and_gray(tmp_path, rng):
    rgb = object_image(rng, 64)
    write_png(tmp_path / "a.png", rgb)
    assert np.array_equal(read_image(tmp_path / "a.png"), rgb)
    gray = object_image(rng, 64, gray=True)
    write_png(tmp_path / "g.png", gray)
    back = read_image(tmp_path / "g.png")
    assert back.ndim == 2 and np.array_equal(back, gray)


def test_gray_saved_as_rgb_reads_as_gray(tmp_path, rng):
    gray = object_image(rng, 32, gray=True)
    write_image(tmp_path / "g3.png", np.stack([gray] * 3, axis=2))
    assert read_image(tmp_path / "g3.png").ndim == 2


@pytest.mark.parametrize("content,message", [(b"", "empty"), (b"not an image at all", "not a readable image")])
def test_bad_files_name_the_file(tmp_path, content, message):
    path = tmp_path / "bad.png"
    path.write_bytes(content)
    with pytest.raises(ImageError, match=message) as info:
        read_image(path)
    assert "bad.png" in str(info.value)


def test_missing_and_tiny(tmp_path):
    with pytest.raises(ImageError, match="no such file"):
        read_image(tmp_path / "nope.png")
    write_png(tmp_path / "tiny.png", np.zeros((8, 8), np.uint8))
    with pytest.raises(ImageError, match="smaller than 16"):
        read_image(tmp_path / "tiny.png")


def test_mask_threshold_and_size_check(tmp_path):
    m = np.zeros((20, 30), np.uint8)
    m[5:10, 5:10] = 200
    m[0, 0] = 100
    write_png(tmp_path / "m.png", m)
    mask = read_mask(tmp_path / "m.png", (20, 30))
    assert mask.sum() == 25
    with pytest.raises(ImageError, match="mask is 30x20"):
        read_mask(tmp_path / "m.png", (30, 30))


def test_atomic_writes_are_world_readable(tmp_path):
    import stat

    write_png(tmp_path / "p.png", np.zeros((20, 20), np.uint8))
    assert stat.S_IMODE((tmp_path / "p.png").stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["p.png"]
