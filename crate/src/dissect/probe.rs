//! The probe set (a folder of images) and the pooled activations of a target model's layers on it.

use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context, Result};
use ndarray::{Array2, ArrayD, Axis, Ix2, Ix3, Ix4};
use sha2::{Digest, Sha256};

/// Image file extensions read from a probe folder.
const IMAGE_EXTENSIONS: [&str; 6] = ["jpg", "jpeg", "png", "bmp", "webp", "jfif"];

/// One probe image: its path relative to the probe folder (the image id in tables) and its size.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ProbeImage {
    pub id: String,
    pub bytes: u64,
}

/// A folder of probe images, listed recursively in sorted order of their relative paths (so the order, and with it
/// every image index, is the same on every machine; class sub-folders as in torchvision's `ImageFolder` work).
#[derive(Debug, Clone)]
pub struct ProbeSet {
    pub root: PathBuf,
    pub images: Vec<ProbeImage>,
    /// sha256 over every (relative path, size, modification time): changes whenever any file does.
    pub fingerprint: String,
}

impl ProbeSet {
    pub fn from_dir(root: &Path) -> Result<ProbeSet> {
        ensure!(
            root.is_dir(),
            "probe set {} is not a folder of images",
            root.display()
        );
        let mut found = Vec::new();
        collect_images(root, root, &mut found)?;
        ensure!(
            !found.is_empty(),
            "probe folder {} has no images ({})",
            root.display(),
            IMAGE_EXTENSIONS.join(", ")
        );
        found.sort_by(|a, b| a.0.cmp(&b.0));
        let mut hasher = Sha256::new();
        let mut images = Vec::with_capacity(found.len());
        for (id, bytes, mtime_ns) in found {
            hasher.update(id.as_bytes());
            hasher.update([0]);
            hasher.update(bytes.to_le_bytes());
            hasher.update(mtime_ns.to_le_bytes());
            images.push(ProbeImage { id, bytes });
        }
        Ok(ProbeSet {
            root: root.to_path_buf(),
            images,
            fingerprint: hex::encode(hasher.finalize()),
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

    /// The first `n` images only (quick runs and tests).
    pub fn truncated(mut self, n: usize) -> ProbeSet {
        self.images.truncate(n);
        let mut hasher = Sha256::new();
        hasher.update(self.fingerprint.as_bytes());
        hasher.update((n as u64).to_le_bytes());
        self.fingerprint = hex::encode(hasher.finalize());
        self
    }
}

fn collect_images(root: &Path, dir: &Path, out: &mut Vec<(String, u64, u128)>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let entry = entry?;
        let path = entry.path();
        let meta =
            std::fs::metadata(&path).with_context(|| format!("cannot stat {}", path.display()))?;
        if meta.is_dir() {
            collect_images(root, &path, out)?;
            continue;
        }
        let is_image = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()));
        if !is_image {
            continue;
        }
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
        out.push((id, meta.len(), mtime_ns));
    }
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
