"""Quick-look: empty and loaded tankers outlined in their own colours, with a legend."""

import io

import numpy as np
from PIL import Image

from tankerwatch.infer.runtime.quicklook import CLASS_STYLE, detection_class, render_quicklook


def colours_near(picture: np.ndarray, x: float, y: float, radius: int = 3) -> set[tuple[int, int, int]]:
    patch = picture[int(y) - radius:int(y) + radius + 1, int(x) - radius:int(x) + radius + 1]
    return {tuple(int(c) for c in p) for p in patch.reshape(-1, 3)}


def test_classes_get_their_colours_and_the_legend_counts_them():
    image = np.full((1, 400, 600), 30, np.uint8)  # one band: drawn grey
    boxes = np.array([[400.0, 300.0, 200.0, 40.0, 0.0], [1000.0, 600.0, 200.0, 40.0, 0.0],
                      [200.0, 700.0, 4.0, 2.0, 0.0]])  # source pixels; the picture is half size
    classes = [detection_class("tanker", "empty"), detection_class("tanker", "loaded"),
               detection_class("other", "unknown")]
    picture = np.asarray(Image.open(io.BytesIO(render_quicklook(image, boxes, classes, 0.5, "scene.tif"))))
    assert picture.shape == (400, 600, 3)
    assert CLASS_STYLE["empty"][1] in colours_near(picture, 250, 150)  # right end of the empty tanker
    assert CLASS_STYLE["loaded"][1] in colours_near(picture, 550, 300)
    assert CLASS_STYLE["loaded"][1] not in colours_near(picture, 250, 150)
    assert CLASS_STYLE["other"][1] in colours_near(picture, 100 + 6, 350)  # tiny vessel: a ring
    legend = picture[:60, :150]
    assert (legend == 0).all(axis=2).mean() > 0.5 and (legend > 150).all(axis=2).any()  # text on black


def test_classes_of_detections():
    assert detection_class("tanker", "uncertain") == "uncertain"
    assert detection_class("other", "unknown") == "other"
