import numpy as np

from anomalyagent.change import change_mask, delta_e, iou, noise_floor

from conftest import object_image


def soft_blob(shape, center, radius, feather=3.0):
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    d = np.sqrt((xx - center[0]) ** 2 + (yy - center[1]) ** 2)
    return np.clip((radius - d) / feather + 0.5, 0, 1).astype(np.float32)


def blend(image, alpha, value):
    a = alpha[..., None] if image.ndim == 3 else alpha
    return np.clip(image * (1 - a) + value * a, 0, 255).astype(np.uint8)


def test_recovers_soft_alpha(rng):
    for gray in (False, True):
        img = object_image(rng, 128, gray)
        alpha = soft_blob(img.shape[:2], (60, 64), 12)
        edited = blend(img.astype(np.float32), alpha, 30.0)
        mask = change_mask(img, edited, hint=(60 / 127, 64 / 127))
        assert iou(mask, alpha > 0.5) >= 0.85


def test_drops_changes_far_from_hint_and_handles_noise(rng):
    img = object_image(rng, 128)
    alpha = soft_blob(img.shape[:2], (40, 40), 8) + soft_blob(img.shape[:2], (110, 110), 6)
    edited = blend(img.astype(np.float32), np.clip(alpha, 0, 1), 240.0)
    # a generative editor re-encodes everything: add global low-level noise
    noisy = np.clip(edited.astype(np.float32) + rng.normal(0, 1.0, edited.shape), 0, 255).astype(np.uint8)
    mask = change_mask(img, noisy, hint=(40 / 127, 40 / 127), hint_radius=0.2)
    assert mask[40, 40] and not mask[110, 110]
    assert iou(mask, soft_blob(img.shape[:2], (40, 40), 8) > 0.5) > 0.7


def test_no_change_is_empty(rng):
    img = object_image(rng, 64)
    assert not change_mask(img, img.copy()).any()
    assert delta_e(img, img).max() == 0
    assert noise_floor(np.zeros((10, 10), np.float32)) == 2.0


def test_iou_edge_cases():
    a = np.zeros((4, 4), bool)
    assert iou(a, a) == 1.0
    b = a.copy(); b[0, 0] = True
    assert iou(a, b) == 0.0
