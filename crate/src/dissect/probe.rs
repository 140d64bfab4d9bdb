//! The probe set (a folder of images) and the pooled activations of a target model's layers on it.

use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context, Result};
use ndarray::{Array2, ArrayD, Axis, Ix2, Ix3, Ix4};
use sha2::{Digest, Sha256};

/// torchvision's `IMG_EXTENSIONS`: what `ImageFolder` takes (a case-insensitive suffix of the file name).
const IMAGE_EXTENSIONS: [&str; 9] = [
    ".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp",
];

/// One probe image: its path relative to the probe folder (the image id in tables) and its size.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ProbeImage {
    pub id: String,
    pub bytes: u64,
}

/// A folder of probe images in torchvision `ImageFolder` order, the order CLIP-Dissect reads its probe sets in
/// (`data_utils.get_data`), so that image `i` here is image `i` there:
/// class folders in sorted order; in each, `sorted(os.walk(class_folder))` (folders by path) and the files of a
/// folder sorted by name; only names ending in one of torchvision's image extensions. A folder without class
/// sub-folders (the 1000 ImageNet samples) is read as one class: its files in sorted order. A folder with images
/// both at its top and in class folders is refused: `ImageFolder` would silently drop the top ones.
#[derive(Debug, Clone)]
pub struct ProbeSet {
    pub root: PathBuf,
    pub images: Vec<ProbeImage>,
    /// sha256 over every (relative path, size, modification time): changes whenever any file does.
    pub fingerprint: String,
    /// How the listed images were cut (`every 4th image`, `first 32`), empty for the whole folder.
    pub subset: String,
    /// What the set is, for the tables (`Broden 1.0 …`); empty unless the job says.
    pub description: String,
}

impl ProbeSet {
    pub fn from_dir(root: &Path) -> Result<ProbeSet> {
        ensure!(
            root.is_dir(),
            "probe set {} is not a folder of images",
            root.display()
        );
        let (top_files, class_dirs) = list_dir(root)?;
        let top_images: Vec<(String, PathBuf)> = top_files
            .into_iter()
            .filter(|(name, _)| is_image_name(name))
            .collect();
        let mut found = Vec::new();
        for (_, class_dir) in &class_dirs {
            image_folder_walk(class_dir, &mut found)?;
        }
        if found.is_empty() {
            found = top_images.into_iter().map(|(_, path)| path).collect();
        } else {
            ensure!(
                top_images.is_empty(),
                "probe folder {} has {} images at its top (e.g. {}) beside class folders: torchvision's \
                 ImageFolder reads only the class folders. Move them into a folder of their own",
                root.display(),
                top_images.len(),
                top_images[0].0
            );
        }
        ensure!(
            !found.is_empty(),
            "probe folder {} has no images ({})",
            root.display(),
            IMAGE_EXTENSIONS.join(" ")
        );
        let mut hasher = Sha256::new();
        let mut images = Vec::with_capacity(found.len());
        for path in found {
            let meta = std::fs::metadata(&path)
                .with_context(|| format!("cannot stat {}", path.display()))?;
            let id = path
                .strip_prefix(root)
                .expect("walked from root")
                .to_str()
                .with_context(|| format!("probe image path {} is not UTF-8", path.display()))?
                .replace('\\', "/");
            let mtime_ns = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            hasher.update(id.as_bytes());
            hasher.update([0]);
            hasher.update(meta.len().to_le_bytes());
            hasher.update(mtime_ns.to_le_bytes());
            images.push(ProbeImage {
                id,
                bytes: meta.len(),
            });
        }
        Ok(ProbeSet {
            root: root.to_path_buf(),
            images,
            fingerprint: hex::encode(hasher.finalize()),
            subset: String::new(),
            description: String::new(),
        })
    }

    pub fn len(&self) -> usize {
        self.images.len()
    }

    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }

    pub fn path(&self, index: usize) -> PathBuf {
        self.root.join(&self.images[index].id)
    }

    /// Images `range` only, as a set of their own (a shard of the pass over the probe set); same root and
    /// fingerprint.
    pub fn part(&self, range: std::ops::Range<usize>) -> ProbeSet {
        ProbeSet {
            root: self.root.clone(),
            images: self.images[range].to_vec(),
            fingerprint: self.fingerprint.clone(),
            subset: self.subset.clone(),
            description: self.description.clone(),
        }
    }

    /// Every `k`-th image (0, k, 2k, …): a deterministic subset spread over every source of the set.
    pub fn every(mut self, k: usize) -> Result<ProbeSet> {
        ensure!(k >= 1, "probe subset: every k-th image needs k >= 1");
        if k == 1 {
            return Ok(self);
        }
        let total = self.images.len();
        self.images = self.images.into_iter().step_by(k).collect();
        self.refingerprint(format!("every {k}").as_bytes());
        self.describe_cut(format!(
            "every {} image ({} of {total})",
            ordinal(k),
            self.images.len()
        ));
        Ok(self)
    }

    /// The first `n` images only (quick runs and tests).
    pub fn truncated(mut self, n: usize) -> ProbeSet {
        let total = self.images.len();
        self.images.truncate(n);
        self.refingerprint(&(n as u64).to_le_bytes());
        if n < total {
            self.describe_cut(format!("the first {n}"));
        }
        self
    }

    /// A cut set is another set: its activations are cached apart.
    fn refingerprint(&mut self, cut: &[u8]) {
        let mut hasher = Sha256::new();
        hasher.update(self.fingerprint.as_bytes());
        hasher.update(cut);
        self.fingerprint = hex::encode(hasher.finalize());
    }

    fn describe_cut(&mut self, cut: String) {
        self.subset = if self.subset.is_empty() {
            cut
        } else {
            format!("{}, then {cut}", self.subset)
        };
    }
}

/// `2nd`, `3rd`, `4th`, `11th`, `22nd`.
fn ordinal(k: usize) -> String {
    let suffix = match (k % 10, k % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{k}{suffix}")
}

fn is_image_name(name: &str) -> bool {
    let lower = name.to_lowercase();
    IMAGE_EXTENSIONS.iter().any(|e| lower.ends_with(e))
}

/// A folder's files and sub-folders (symbolic links followed, as `os.walk(followlinks=True)` and `ImageFolder`'s
/// `scandir().is_dir()` do), each sorted by name.
type Named = Vec<(String, PathBuf)>;
fn list_dir(dir: &Path) -> Result<(Named, Named)> {
    let mut files = Vec::new();
    let mut dirs = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .with_context(|| format!("probe path {} is not UTF-8", path.display()))?
            .to_string();
        if path.is_dir() {
            dirs.push((name, path));
        } else {
            files.push((name, path));
        }
    }
    // Python sorts `str` by code point; Rust's `String` order (UTF-8 bytes) is the same order.
    files.sort();
    dirs.sort();
    Ok((files, dirs))
}

/// `for root, _, fnames in sorted(os.walk(dir)): for fname in sorted(fnames)`: folders in the order of their
/// full path strings (`a/b` before `a/b-c` before `a/b/c`), not depth-first.
fn image_folder_walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let mut folders: Vec<(String, Vec<PathBuf>)> = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        let (files, dirs) = list_dir(&folder)?;
        let key = folder
            .to_str()
            .with_context(|| format!("probe path {} is not UTF-8", folder.display()))?
            .to_string();
        folders.push((
            key,
            files
                .into_iter()
                .filter(|(name, _)| is_image_name(name))
                .map(|(_, p)| p)
                .collect(),
        ));
        pending.extend(dirs.into_iter().map(|(_, p)| p));
    }
    folders.sort_by(|a, b| a.0.cmp(&b.0));
    out.extend(folders.into_iter().flat_map(|(_, files)| files));
    Ok(())
}

/// One value per neuron and image from a layer output, the way CLIP-Dissect's `get_activation(mode="avg")` hook
/// does: 4-D conv maps `[N,C,H,W]` → mean over H,W; 3-D token sequences `[N,T,D]` → the first (class) token;
/// 2-D `[N,D]` as is.
pub fn pool_layer(output: ArrayD<f32>, layer: &str) -> Result<Array2<f32>> {
    match output.ndim() {
        4 => {
            let maps = output.into_dimensionality::<Ix4>()?;
            let (n, c, h, w) = maps.dim();
            ensure!(h * w > 0, "layer `{layer}` has an empty spatial map");
            let sums = maps.into_shape_with_order((n, c, h * w))?.sum_axis(Axis(2));
            Ok(sums / (h * w) as f32)
        }
        3 => Ok(output
            .into_dimensionality::<Ix3>()?
            .index_axis(Axis(1), 0)
            .to_owned()),
        2 => Ok(output.into_dimensionality::<Ix2>()?),
        d => bail!(
            "layer `{layer}` has a {d}-D output; dissection takes [N,C,H,W], [N,T,D] or [N,D]"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array4};

    #[test]
    fn subsets_say_how_they_cut_in_words() {
        let names: Vec<String> = [1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 101]
            .map(ordinal)
            .to_vec();
        assert_eq!(
            names,
            ["1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd", "101st"]
        );
    }

    #[test]
    fn pooling_follows_clip_dissect_hook() {
        let maps = Array4::from_shape_fn((2, 3, 2, 2), |(n, c, y, x)| {
            (n * 100 + c * 10 + y * 2 + x) as f32
        });
        let pooled = pool_layer(maps.into_dyn(), "l").unwrap();
        assert_eq!(pooled, array![[1.5f32, 11.5, 21.5], [101.5, 111.5, 121.5]]);
        let tokens = ndarray::Array3::from_shape_fn((1, 2, 2), |(_, t, d)| (t * 10 + d) as f32);
        assert_eq!(
            pool_layer(tokens.into_dyn(), "vit").unwrap(),
            array![[0.0f32, 1.0]]
        );
        assert!(pool_layer(ndarray::Array1::<f32>::zeros(3).into_dyn(), "bad").is_err());
    }
}
