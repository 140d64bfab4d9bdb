//! On-disk cache of per-image matrices (pooled activations, matcher embeddings), keyed by everything that
//! determines them, so a changed model, probe set, layer or preprocessing never reuses a stale file.
//!
//! File: `<dir>/<kind>-<key>.f32m` = the line `glassbox-matrix v1 <rows> <cols> <key>\n` then rows·cols
//! little-endian f32. Writes go to a temporary file that is renamed, so a killed run leaves no half file.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{ensure, Context, Result};
use ndarray::Array2;
use sha2::{Digest, Sha256};

/// A cache folder.
#[derive(Debug, Clone)]
pub struct MatrixCache {
    dir: PathBuf,
}

/// Hash of the parts that determine a cached matrix (each part is length-prefixed, so parts cannot run together).
pub fn cache_key(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    hex::encode(hasher.finalize())
}

impl MatrixCache {
    pub fn new(dir: &Path) -> Result<MatrixCache> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the cache folder {}", dir.display()))?;
        Ok(MatrixCache {
            dir: dir.to_path_buf(),
        })
    }

    fn path(&self, kind: &str, key: &str) -> PathBuf {
        self.dir.join(format!("{kind}-{key}.f32m"))
    }

    /// The cached matrix, or `None` when absent. A file that exists but does not parse is an error (delete it).
    pub fn load(&self, kind: &str, key: &str) -> Result<Option<Array2<f32>>> {
        let path = self.path(kind, key);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(e).with_context(|| format!("cannot read cache file {}", path.display()))
            }
        };
        let parse = || -> Result<Array2<f32>> {
            let newline = bytes
                .iter()
                .position(|&b| b == b'\n')
                .context("no header line")?;
            let header = std::str::from_utf8(&bytes[..newline])?;
            let fields: Vec<&str> = header.split(' ').collect();
            ensure!(
                fields.len() == 5 && fields[0] == "glassbox-matrix" && fields[1] == "v1",
                "bad header {header:?}"
            );
            ensure!(
                fields[4] == key,
                "the file holds key {} not {key}",
                fields[4]
            );
            let (rows, cols): (usize, usize) = (fields[2].parse()?, fields[3].parse()?);
            let body = &bytes[newline + 1..];
            ensure!(
                body.len() == rows * cols * 4,
                "body has {} bytes, header says {rows}×{cols} f32",
                body.len()
            );
            let data = body
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            Ok(Array2::from_shape_vec((rows, cols), data)?)
        };
        parse().map(Some).with_context(|| {
            format!(
                "cache file {} is damaged: delete it to recompute",
                path.display()
            )
        })
    }

    pub fn store(&self, kind: &str, key: &str, matrix: &Array2<f32>) -> Result<()> {
        let path = self.path(kind, key);
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let write = || -> Result<()> {
            let mut file = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
            writeln!(
                file,
                "glassbox-matrix v1 {} {} {key}",
                matrix.nrows(),
                matrix.ncols()
            )?;
            for v in matrix.iter() {
                file.write_all(&v.to_le_bytes())?;
            }
            file.into_inner().map_err(|e| e.into_error())?.sync_all()?;
            std::fs::rename(&tmp, &path)?;
            Ok(())
        };
        write().with_context(|| format!("cannot write cache file {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_key_separation() {
        let dir = std::env::temp_dir().join(format!("glassbox-cache-test-{}", std::process::id()));
        let cache = MatrixCache::new(&dir).unwrap();
        let m = Array2::from_shape_fn((3, 2), |(i, j)| i as f32 - 0.5 * j as f32);
        let key = cache_key(&[b"model", b"probe"]);
        assert_ne!(key, cache_key(&[b"mode", b"lprobe"]));
        assert!(cache.load("act", &key).unwrap().is_none());
        cache.store("act", &key, &m).unwrap();
        assert_eq!(cache.load("act", &key).unwrap().unwrap(), m);
        std::fs::write(cache.path("act", &key), b"glassbox-matrix v1 3 2 x\n").unwrap();
        assert!(cache.load("act", &key).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
