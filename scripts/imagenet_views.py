"""The photographs for the ImageNet dump and their deterministic views.

Images are read straight from files that installed wheels ship (never through loaders that may
download). A view is a square crop on a grid at one of a few scales, resized to 224 x 224 with
PIL's bicubic filter, then one photometric/geometric variant; everything is fixed, so the same
files give the same pixels.

Preprocessing (TensorFlow EfficientNet-Lite, from which the weights were converted): RGB,
x = (pixel - 127) / 128, NCHW float32. The "standard" view (scale 0.875, centred) is the usual
ImageNet evaluation crop: the central 224/256 of the short side.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

__all__ = [
    "ImageError",
    "MissingFileError",
    "package_file",
    "IMAGES",
    "SCALES",
    "VARIANTS",
    "View",
    "all_views",
    "locate",
    "read_image",
    "render",
    "INPUT_SIZE",
    "MEAN",
    "STD",
]

INPUT_SIZE = 224
MEAN, STD = 127.0, 128.0

#: name -> (package, path inside the package). Photographs only (no synthetic test patterns).
IMAGES = {
    "astronaut": ("skimage", "data/astronaut.png"),
    "brick": ("skimage", "data/brick.png"),
    "camera": ("skimage", "data/camera.png"),
    "chelsea": ("skimage", "data/chelsea.png"),
    "coffee": ("skimage", "data/coffee.png"),
    "coins": ("skimage", "data/coins.png"),
    "grass": ("skimage", "data/grass.png"),
    "gravel": ("skimage", "data/gravel.png"),
    "horse": ("skimage", "data/horse.png"),
    "hubble_deep_field": ("skimage", "data/hubble_deep_field.jpg"),
    "moon": ("skimage", "data/moon.png"),
    "motorcycle_left": ("skimage", "data/motorcycle_left.png"),
    "retina": ("skimage", "data/retina.jpg"),
    "rocket": ("skimage", "data/rocket.jpg"),
    "china": ("sklearn", "datasets/images/china.jpg"),
    "flower": ("sklearn", "datasets/images/flower.jpg"),
    "grace_hopper": ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg"),
}

#: (crop side as a fraction of the image's short side, grid points per axis).
SCALES = ((0.875, 1), (0.75, 2), (0.6, 3), (0.45, 4))
#: plain; mirrored left-right; rotated +10 degrees (counter-clockwise) about the crop centre
#: before cropping (bicubic, black outside the photo); brightness times 0.7.
VARIANTS = ("plain", "hflip", "rot10", "dim70")
ROTATION_DEG = 10.0
DIM_FACTOR = 0.7


class ImageError(ValueError):
    """An image that cannot be read; the message names the file."""


class MissingFileError(ValueError):
    """A file that should come from an installed package and is not there."""


@dataclass(frozen=True)
class View:
    scale: float
    grid: int
    gx: int
    gy: int
    variant: str

    @property
    def name(self) -> str:
        return f"s{self.scale:.3f}_g{self.grid}_x{self.gx}_y{self.gy}_{self.variant}"

    @property
    def standard(self) -> bool:
        return self.scale == SCALES[0][0] and self.grid == 1 and self.variant == "plain"


def all_views() -> list[View]:
    """Every view, standard first: 30 crops x 4 variants = 120 per image."""
    return [
        View(scale, grid, gx, gy, variant)
        for scale, grid in SCALES
        for gy in range(grid)
        for gx in range(grid)
        for variant in VARIANTS
    ]


def package_file(package: str, rel: str, site: Path | None) -> Path:
    """A file shipped in a package: under `site` (a pip --target install) if present there, else
    in the package as installed for this Python (found without importing it)."""
    if site is not None and (site / package / rel).is_file():
        return site / package / rel
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        where = f" nor under {site}" if site is not None else ""
        raise MissingFileError(f"{package}/{rel}: package {package!r} is not installed{where} (see data/README.md)")
    path = Path(list(spec.submodule_search_locations)[0]) / rel
    if not path.is_file():
        raise MissingFileError(f"{path} does not exist (package {package!r} installed without it?)")
    return path


def locate(name: str, site: Path | None) -> Path:
    """The file of the photograph IMAGES[name]."""
    return package_file(*IMAGES[name], site)


def read_image(path: Path) -> Image.Image:
    """The image as 8-bit RGB (grey images replicated to three channels)."""
    try:
        with Image.open(path) as im:
            im.load()
            return im.convert("RGB")
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise ImageError(f"{path}: cannot read the image: {exc}") from None


def _box(w: int, h: int, view: View) -> tuple[float, float, float, float]:
    side = view.scale * min(w, h)
    fx = 0.5 if view.grid == 1 else view.gx / (view.grid - 1)
    fy = 0.5 if view.grid == 1 else view.gy / (view.grid - 1)
    x0, y0 = fx * (w - side), fy * (h - side)
    return (x0, y0, x0 + side, y0 + side)


def render(img: Image.Image, view: View) -> np.ndarray:
    """The normalised network input float32 [3, 224, 224] of one view of an RGB image."""
    box = _box(*img.size, view)
    src = img
    if view.variant == "rot10":
        centre = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
        src = img.rotate(ROTATION_DEG, resample=Image.Resampling.BICUBIC, center=centre)
    out = src.resize((INPUT_SIZE, INPUT_SIZE), Image.Resampling.BICUBIC, box=box)
    if view.variant == "hflip":
        out = out.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    x = np.asarray(out, dtype=np.float32)
    if view.variant == "dim70":
        x = np.round(x * DIM_FACTOR)  # stays an 8-bit picture
    elif view.variant not in ("plain", "hflip", "rot10"):
        raise ValueError(f"unknown view variant {view.variant!r}")
    return ((x - MEAN) / STD).transpose(2, 0, 1)
