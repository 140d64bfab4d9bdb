"""The probe order of glassbox's dissection equals torchvision ImageFolder's, which CLIP-Dissect's
data_utils.get_data reads its probe sets with: on the Broden tree the quick reproduce run extracted from the test
mirror's broden1_224.zip (no PNG mask is a probe image), and on a tree made to trip sorting.
Runs in the export environment (torchvision); scripts/test-reproduce.sh sets GLASSBOX_BIN and
GLASSBOX_REPRODUCE_OUT:
    GLASSBOX_BIN=target/debug/glassbox GLASSBOX_REPRODUCE_OUT=target/reproduce-test \\
        python -m unittest discover -s tests/reproduce -p 'test_probe_order.py'
"""

import os
import subprocess
import tempfile
import unittest
import zipfile
from pathlib import Path

from torchvision import datasets

GLASSBOX = os.environ.get("GLASSBOX_BIN", "target/debug/glassbox")
OUT = Path(os.environ.get("GLASSBOX_REPRODUCE_OUT", "target/reproduce-test"))


def glassbox_order(root: Path, every: int | None = None) -> list[str]:
    command = [GLASSBOX, "dissect", "--list-probe", str(root)]
    if every:
        command += ["--probe-every", str(every)]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout.splitlines()


def image_folder_order(root: Path) -> list[str]:
    # The paths only: a loader that opens nothing, so that empty test files do.
    folder = datasets.ImageFolder(str(root), loader=lambda path: path)
    return [Path(path).relative_to(root).as_posix() for path, _ in folder.samples]


class ProbeOrderTest(unittest.TestCase):
    def test_the_extracted_broden_tree_is_read_in_image_folder_order_without_masks(self):
        root = OUT / "cache" / "broden1_224" / "images"
        self.assertTrue(root.is_dir(), f"{root}: run the quick reproduce run first")
        ours = glassbox_order(root)
        self.assertEqual(ours, image_folder_order(root))
        self.assertEqual([p for p in ours if not p.lower().endswith(".jpg")], [])
        with zipfile.ZipFile(OUT / "cache" / "broden1_224.zip") as z:
            masks = [n for n in z.namelist() if n.startswith("broden1_224/images/") and n.endswith(".png")]
        self.assertGreater(len(masks), len(ours), "the archive carries the PNG masks dlbroden.sh deletes")
        self.assertEqual(glassbox_order(root, every=3), ours[::3])

    def test_a_tree_that_trips_sorting_is_read_in_image_folder_order(self):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            files = ["a/3.JPG", "a/x/1.jpg", "a/x-y/2.jpeg", "a/x/y/4.png", "a/x/Z.webp", "a/readme.txt",
                     "a-b/5.jpg", "a_b/6.bmp", "B/7.jpg", "B/8.tif", "a/x/.hidden.jpg", "b/c/9.jpg"]
            for name in files:
                (root / name).parent.mkdir(parents=True, exist_ok=True)
                (root / name).write_bytes(b"")
            self.assertEqual(glassbox_order(root), image_folder_order(root))


if __name__ == "__main__":
    unittest.main()
