"""report.html shows every defect type, the failures, and small defects (issue 13, item 11)."""
import base64
import re

import cv2
import numpy as np

from anomalyagent.images import encode_png, write_png
from anomalyagent.records import Sample
from anomalyagent.report import THUMB, overlay, pick, write_report, zoom


def sample(task_id, passed=True, kept="test", image="", mask=""):
    cat, defect, _ = task_id.split("/")
    return Sample(task_id=task_id, category=cat, defect_type=defect, source="/nonexistent.png", image=image, mask=mask,
                  trajectory="", seed=0, passed=passed, score=7.0 if passed else 2.0, turns=4, seconds=0.1, kept=kept)


def test_every_defect_type_is_shown_and_failures_have_a_section(tmp_path):
    # 4 types x 60 samples, sorted by task id: the first 48 used to be all "crack".
    samples = [sample(f"hazelnut/{d}/{i:03d}") for d in ("crack", "cut", "hole", "print") for i in range(60)]
    samples += [sample("hazelnut/hole/900", passed=False, kept="dropped"), sample("hazelnut/cut/901", passed=False, kept="dropped")]
    page = write_report(tmp_path, samples).read_text()
    for d in ("crack", "cut", "hole", "print"):
        assert f"hazelnut/{d}/000" in page
    assert "Not passed" in page and "hazelnut/hole/900" in page and "hazelnut/cut/901" in page
    assert "2 sample(s) never passed QE" in page and "image dropped" in page
    shown, failed = pick(samples, per_type=3, limit=6)
    assert {s.defect_type for s in shown} == {"crack", "cut", "hole", "print"} and len(shown) == 6


def red_pixels(rgb):
    return int(((rgb[:, :, 0] > 200) & (rgb[:, :, 1] < 80) & (rgb[:, :, 2] < 80)).sum())


def test_a_few_pixel_defect_is_visible_in_the_thumbnails(tmp_path):
    image = np.full((1024, 1024, 3), 120, np.uint8)
    mask = np.zeros((1024, 1024), bool)
    mask[500:503, 700:702] = True  # 3 x 2 px: 0.6 thumbnail pixels once shrunk to 192 px
    image[mask] = 60
    small = overlay(image, mask, THUMB)
    assert small.shape[:2] == (THUMB, THUMB) and red_pixels(small) >= 1
    close = zoom(image, mask)
    assert close is not None and red_pixels(close) >= 20
    write_png(tmp_path / "hazelnut/test/crack/000.png", image)
    write_png(tmp_path / "hazelnut/ground_truth/crack/000_mask.png", mask.astype(np.uint8) * 255)
    s = sample("hazelnut/crack/000", image="hazelnut/test/crack/000.png", mask="hazelnut/ground_truth/crack/000_mask.png")
    page = write_report(tmp_path, [s]).read_text()
    pictures = re.findall(r"<img src='data:image/png;base64,([^']+)'><figcaption>([^<]+)<", page)
    by_caption = {cap: cv2.imdecode(np.frombuffer(base64.b64decode(data), np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1]
                  for data, cap in pictures}
    assert red_pixels(by_caption["mask overlay"]) >= 1
    assert red_pixels(by_caption["zoom on the defect"]) >= 20
    assert encode_png(by_caption["result"])  # the plain result thumbnail is there too
