#!/usr/bin/env python3
"""The real run checks its own decoding: every image glassbox decodes for a result that stands in for a Python
reference must have Pillow's pixels (Image.open(path).convert("RGB"), no EXIF transpose), which is what
CLIP-Dissect's ImageFolder, lime's and pytorch-grad-cam's tutorials read.

  models/check_decoding.py --glassbox BIN --folder DIR [--every K]

runs `glassbox dissect --list-probe DIR --pixels` (the images in the order the dissection reads them, each with
the sha256 of the RGB bytes glassbox decodes it to) and decodes every image with Pillow; the first difference
stops it with the file's name (exit 1). Run by scripts/reproduce.py in the export environment (Pillow comes with
torchvision).
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image


def pillow_rgb(path: Path) -> tuple[int, int, str]:
    with Image.open(path) as img:
        rgb = np.ascontiguousarray(np.asarray(img.convert("RGB")))
    return rgb.shape[1], rgb.shape[0], hashlib.sha256(rgb.tobytes()).hexdigest()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--glassbox", required=True, help="the glassbox binary")
    parser.add_argument("--folder", type=Path, required=True, help="a folder of images (ImageFolder order)")
    parser.add_argument("--every", type=int, help="every k-th image only, as the dissection reads them")
    args = parser.parse_args(argv)
    command = [args.glassbox, "dissect", "--list-probe", str(args.folder), "--pixels"]
    if args.every and args.every > 1:
        command += ["--probe-every", str(args.every)]
    started = time.monotonic()
    # glassbox's own errors (an unreadable image, the pixel limit) pass through to the user as it prints them.
    listed = subprocess.run(command, stdout=subprocess.PIPE, text=True)
    if listed.returncode != 0:
        print(f"check_decoding: `{' '.join(map(str, command))}` failed (exit status {listed.returncode}); its "
              "message is above", file=sys.stderr)
        return 1
    listing = listed.stdout.splitlines()
    for n, line in enumerate(listing, 1):
        name, width, height, ours = line.split("\t")
        theirs = pillow_rgb(args.folder / name)
        if (int(width), int(height), ours) != theirs:
            print(f"check_decoding: {args.folder / name}: glassbox decodes it to {width}x{height} pixels with sha256 "
                  f"{ours}, Pillow to {theirs[0]}x{theirs[1]} with sha256 {theirs[2]}. Results made from it would "
                  "not be the reference's; stopping. Please report the file.", file=sys.stderr)
            return 1
        if n % 5000 == 0:
            print(f"  check_decoding: {n}/{len(listing)} images equal Pillow's", file=sys.stderr, flush=True)
    print(f"  check_decoding: all {len(listing)} images of {args.folder} decode to Pillow's pixels "
          f"({time.monotonic() - started:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
