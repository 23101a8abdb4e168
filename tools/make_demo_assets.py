"""Write the demo's bundled examples (issue #24 item 5): public-domain paintings as thumbnails of at most 320 px,
and four photographs released into the public domain or under CC0 that scikit-image ships, with their credits.

Only what may be shipped: the paintings that ../shared/data/MANIFEST.md marks public domain (not `seated_nude`,
which is public domain in the US only), shrunk to thumbnails; the photos' licences are quoted from scikit-image's
own docstrings (skimage/data/_fetchers.py). Run once by a maintainer; the outputs are committed.

    pip download --no-deps scikit-image -d /tmp/skw && python tools/make_demo_assets.py --skimage-wheel /tmp/skw/*.whl
"""

from __future__ import annotations

import argparse
import io
import json
import zipfile
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[1]
STYLES = REPO.parent / "shared" / "data" / "styles"
OUT = REPO / "demo" / "assets"
THUMB = 320  # the most a painting's thumbnail may measure
PHOTO = 512

PAINTINGS = {  # file: (title, artist, year, status as MANIFEST.md gives it)
    "starry_night.jpg": ("The Starry Night", "Vincent van Gogh", "1889", "public domain (artist d. 1890)"),
    "wheat_field_with_cypresses.jpg": ("Wheat Field with Cypresses", "Vincent van Gogh", "1889", "public domain"),
    "night_cafe.jpg": ("The Night Cafe", "Vincent van Gogh", "1888", "public domain"),
    "great_wave.jpg": ("The Great Wave off Kanagawa", "Katsushika Hokusai", "c. 1830-1832",
                       "public domain (artist d. 1849)"),
    "composition_vii.jpg": ("Composition VII", "Wassily Kandinsky", "1913", "public domain (artist d. 1944)"),
    "udnie.jpg": ("Udnie", "Francis Picabia", "1913", "public domain (US pre-1930; life+70 since 2024)"),
    "the_scream.jpg": ("The Scream", "Edvard Munch", "1893", "public domain (artist d. 1944)"),
    "shipwreck.jpg": ("The Shipwreck", "J. M. W. Turner", "1805", "public domain (artist d. 1851)"),
    "woman_with_hat.jpg": ("Woman with a Hat", "Henri Matisse", "1905",
                           "public domain (US pre-1930; life+70 since 2025)"),
    "gauguin_tahiti.jpg": ("Tahitian Women", "Paul Gauguin", "1890s", "public domain (artist d. 1903)"),
    "mondrian_composition.jpg": ("Cubist grid composition", "Piet Mondrian", "c. 1913-1914",
                                 "public domain (artist d. 1944)"),
}  # fmt: skip

PHOTOS = {  # skimage file: (our name, what, credit and licence as scikit-image states it)
    "astronaut.png": ("astronaut.jpg", "Astronaut Eileen Collins", "NASA; no known copyright restrictions, "
                      "released into the public domain"),
    "chelsea.png": ("cat.jpg", "Chelsea the cat", "Stefan van der Walt; CC0"),
    "coffee.png": ("coffee.jpg", "Coffee cup (courtesy of Pikolo Espresso Bar)", "Rachel Michetti; CC0"),
    "rocket.jpg": ("rocket.jpg", "Falcon 9 launching DSCOVR", "SpaceX; released into the public domain"),
}  # fmt: skip


def _save(im: Image.Image, side: int, path: Path) -> None:
    im = im.convert("RGB")
    im.thumbnail((side, side), Image.Resampling.LANCZOS)
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, quality=85, optimize=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--skimage-wheel", type=Path, required=True)
    a = ap.parse_args()
    lines = ["# Credits for the demo's bundled examples", "",
             "Written by `tools/make_demo_assets.py`. Paintings: thumbnails (at most 320 px) of public-domain works.",
             "", "| file | title | artist | year | status |", "|---|---|---|---|---|"]  # fmt: skip
    for name, (title, artist, year, status) in PAINTINGS.items():
        with Image.open(STYLES / name) as im:
            _save(im, THUMB, OUT / "paintings" / name)
        lines.append(f"| paintings/{name} | {title} | {artist} | {year} | {status} |")
    labels = {f"paintings/{n}": f"{t}, {a} ({y})" for n, (t, a, y, _) in PAINTINGS.items()}
    lines += ["", "Photos: from scikit-image's sample data (`skimage.data`), licences as its documentation states.",
              "", "| file | what | credit and licence |", "|---|---|---|"]  # fmt: skip
    with zipfile.ZipFile(a.skimage_wheel) as wheel:
        for src, (name, what, credit) in PHOTOS.items():
            with Image.open(io.BytesIO(wheel.read(f"skimage/data/{src}"))) as im:
                _save(im, PHOTO, OUT / "photos" / name)
            lines.append(f"| photos/{name} | {what} | {credit} |")
            labels[f"photos/{name}"] = f"{what} ({credit.split(';')[0]})"
    (OUT / "CREDITS.md").write_text("\n".join(lines) + "\n")
    (OUT / "credits.json").write_text(json.dumps(labels, indent=1) + "\n")  # the page's captions


if __name__ == "__main__":
    main()
