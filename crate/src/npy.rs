//! `.npy` files (NumPy's array format, versions 1–3): writing results, reading reference fixtures.
//!
//! Reading is `npyz`'s (every NumPy header version, either byte order, float16 through the `half` crate, in
//! the browser build too); this module checks the element type and gives an `ndarray` in C order.
//! Writing stays here: `npyz`'s writer reserves room in the header for a shape it patches in at the end (a
//! run of filler spaces), so its files are not byte-equal to the ones the CLI has always written and the
//! tests compare; [`to_bytes`] writes NumPy's version-1.0 layout in a dozen lines.
//!
//! - write: `f32`, `f64`, `u8`, `i32`, `i64` ([`to_bytes`], [`write()`]), little-endian, C order.
//! - read: the same exact types and `i16` ([`from_bytes`], [`read`]), or any of `f2/f4/f8/u1/i4/i8`
//!   converted to `f32` ([`from_bytes_f32`], [`read_f32`]); Fortran-ordered arrays are returned in C order.

use anyhow::{bail, ensure, Context, Result};
use ndarray::{ArrayD, ArrayViewD, IxDyn, ShapeBuilder};
use npyz::{DType, NpyFile, Order};

const MAGIC: &[u8] = b"\x93NUMPY";

/// An element type with a fixed `.npy` representation.
pub trait NpyElement: npyz::Deserialize + Copy + 'static {
    /// NumPy `descr`, e.g. `<f4`.
    const DESCR: &'static str;
    /// Appends the little-endian bytes of `self`.
    fn put(self, out: &mut Vec<u8>);
}

macro_rules! npy_element {
    ($t:ty, $descr:expr) => {
        impl NpyElement for $t {
            const DESCR: &'static str = $descr;
            fn put(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
        }
    };
}
npy_element!(f32, "<f4");
npy_element!(f64, "<f8");
npy_element!(u8, "|u1");
npy_element!(i16, "<i2");
npy_element!(i32, "<i4");
npy_element!(i64, "<i8");

/// Serialises an array as `.npy` (version 1.0, C order).
pub fn to_bytes<T: NpyElement>(a: &ArrayViewD<T>) -> Vec<u8> {
    let shape = match a.shape() {
        [] => "()".to_string(),
        [n] => format!("({n},)"),
        dims => format!(
            "({})",
            dims.iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {shape}, }}",
        T::DESCR
    );
    // Magic (6) + version (2) + length (2) + header + '\n' is padded to a multiple of 64.
    let unpadded = MAGIC.len() + 4 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + a.len() * std::mem::size_of::<T>());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for &v in a.iter() {
        v.put(&mut out);
    }
    out
}

/// Writes an array to a `.npy` file.
#[cfg(not(target_arch = "wasm32"))]
pub fn write<T: NpyElement>(path: &std::path::Path, a: &ArrayViewD<T>) -> Result<()> {
    std::fs::write(path, to_bytes(a)).with_context(|| format!("cannot write {}", path.display()))
}

/// A parsed header and the data after it.
fn open(bytes: &[u8]) -> Result<NpyFile<&[u8]>> {
    ensure!(
        bytes.starts_with(MAGIC),
        "not a .npy file (missing the \\x93NUMPY magic)"
    );
    // npyz allocates the header length a file declares before reading it (a version-2 length may say
    // 4 GiB), so a file shorter than its declared header is refused first.
    let declared_header_end = match bytes.get(6) {
        Some(1) => bytes
            .get(8..10)
            .map(|b| 10 + usize::from(u16::from_le_bytes([b[0], b[1]]))),
        _ => bytes
            .get(8..12)
            .map(|b| 12 + u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize),
    };
    ensure!(
        declared_header_end.is_some_and(|end| end <= bytes.len()),
        "truncated .npy header"
    );
    NpyFile::new(bytes).context("unreadable .npy header")
}

/// The element type of a plain (not structured) array, as NumPy writes it (`<f4`).
fn element_type(file: &NpyFile<&[u8]>) -> Result<String> {
    match file.dtype() {
        DType::Plain(type_str) => Ok(type_str.to_string()),
        other => bail!(
            ".npy holds a structured array ({}); a plain numeric array was expected",
            other.descr()
        ),
    }
}

/// The file's elements as `T` in an array of its shape, in C order.
fn into_array<T: npyz::Deserialize + Copy>(file: NpyFile<&[u8]>) -> Result<ArrayD<T>> {
    let shape = file
        .shape()
        .iter()
        .map(|&d| usize::try_from(d).ok())
        .collect::<Option<Vec<usize>>>();
    // Checked before reading: a header may claim any shape (npyz's own element count wraps).
    let elements = shape
        .as_ref()
        .and_then(|shape| shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d)));
    let (Some(shape), Some(elements)) = (shape, elements) else {
        bail!(
            ".npy shape {:?} has more elements than memory can hold",
            file.shape()
        );
    };
    let fortran = file.order() == Order::Fortran;
    let values = file
        .into_vec::<T>()
        .context(".npy data is truncated or unreadable")?;
    ensure!(
        values.len() == elements,
        ".npy data is truncated: {} elements of {elements}",
        values.len()
    );
    let a = if fortran {
        ArrayD::from_shape_vec(IxDyn(&shape).f(), values)?
            .as_standard_layout()
            .into_owned()
    } else {
        ArrayD::from_shape_vec(IxDyn(&shape), values)?
    };
    Ok(a)
}

/// Parses a `.npy` whose element type is exactly `T` (either byte order).
pub fn from_bytes<T: NpyElement>(bytes: &[u8]) -> Result<ArrayD<T>> {
    let file = open(bytes)?;
    let found = element_type(&file)?;
    ensure!(
        found.get(1..) == T::DESCR.get(1..),
        ".npy holds {found} but {} was expected",
        T::DESCR
    );
    into_array(file)
}

/// Parses a numeric `.npy` (`f2`, `f4`, `f8`, `u1`, `i4`, `i8`) into `f32`.
pub fn from_bytes_f32(bytes: &[u8]) -> Result<ArrayD<f32>> {
    let file = open(bytes)?;
    let found = element_type(&file)?;
    match found.get(1..).unwrap_or_default() {
        "f4" => into_array::<f32>(file),
        "f2" => Ok(into_array::<npyz::half::f16>(file)?.mapv(f32::from)),
        "f8" => Ok(into_array::<f64>(file)?.mapv(|v| v as f32)),
        "u1" => Ok(into_array::<u8>(file)?.mapv(f32::from)),
        "i4" => Ok(into_array::<i32>(file)?.mapv(|v| v as f32)),
        "i8" => Ok(into_array::<i64>(file)?.mapv(|v| v as f32)),
        _ => bail!(".npy element type `{found}` cannot be read as f32"),
    }
}

/// Reads a `.npy` file whose element type is exactly `T`.
#[cfg(not(target_arch = "wasm32"))]
pub fn read<T: NpyElement>(path: &std::path::Path) -> Result<ArrayD<T>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    from_bytes(&bytes).with_context(|| format!("in {}", path.display()))
}

/// Reads a numeric `.npy` file into `f32`.
#[cfg(not(target_arch = "wasm32"))]
pub fn read_f32(path: &std::path::Path) -> Result<ArrayD<f32>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    from_bytes_f32(&bytes).with_context(|| format!("in {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array;

    #[test]
    fn round_trips_every_written_type() {
        let a = Array::from_shape_fn((2, 3, 4), |(i, j, k)| (i * 12 + j * 4 + k) as f32 - 7.5)
            .into_dyn();
        assert_eq!(from_bytes::<f32>(&to_bytes(&a.view())).unwrap(), a);
        let u = a.mapv(|v| (v + 8.0) as u8);
        assert_eq!(from_bytes::<u8>(&to_bytes(&u.view())).unwrap(), u);
        let i = a.mapv(|v| v as i32 * 1000);
        assert_eq!(from_bytes::<i32>(&to_bytes(&i.view())).unwrap(), i);
        assert_eq!(
            from_bytes_f32(&to_bytes(&i.view())).unwrap(),
            i.mapv(|v| v as f32)
        );
        let scalar = ArrayD::from_elem(IxDyn(&[]), 3i64);
        assert_eq!(
            from_bytes::<i64>(&to_bytes(&scalar.view())).unwrap(),
            scalar
        );
    }

    #[test]
    fn header_is_padded_to_64_bytes() {
        let a = ArrayD::<f32>::zeros(IxDyn(&[5]));
        let bytes = to_bytes(&a.view());
        let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        assert_eq!((10 + header_len) % 64, 0);
        assert_eq!(bytes[10 + header_len - 1], b'\n');
        assert_eq!(bytes.len(), 10 + header_len + 20);
    }

    #[test]
    fn f16_conversion_is_exact() {
        // Values chosen to hit normal, subnormal, zero, negative and infinity encodings, read from a
        // float16 `.npy` (the fixtures' element type) in Fortran order, as NumPy writes a transposed array.
        let cases: [(u16, f32); 7] = [
            (0x3c00, 1.0),
            (0xc000, -2.0),
            (0x3555, 0.333_251_95),
            (0x0001, 5.960_464_5e-8),
            (0x8000, -0.0),
            (0x7bff, 65504.0),
            (0x7c00, f32::INFINITY),
        ];
        let header = "{'descr': '<f2', 'fortran_order': True, 'shape': (7, 1), }\n";
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&[1, 0]);
        bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
        bytes.extend_from_slice(header.as_bytes());
        for (bits, _) in cases {
            bytes.extend_from_slice(&bits.to_le_bytes());
        }
        let read = from_bytes_f32(&bytes).unwrap();
        assert_eq!(read.shape(), [7, 1]);
        for ((bits, want), got) in cases.into_iter().zip(read.iter()) {
            assert_eq!(*got, want, "{bits:#06x}");
            assert_eq!(
                got.is_sign_negative(),
                want.is_sign_negative(),
                "{bits:#06x}"
            );
        }
    }

    #[test]
    fn a_header_longer_than_the_file_is_refused_before_reading_it() {
        let mut bytes = b"\x93NUMPY\x02\x00".to_vec();
        bytes.extend_from_slice(&u32::MAX.to_le_bytes());
        bytes.extend_from_slice(b"{'descr'");
        let err = from_bytes_f32(&bytes).unwrap_err().to_string();
        assert!(err.contains("truncated .npy header"), "{err}");
    }

    #[test]
    fn a_shape_beyond_memory_is_an_error() {
        let header =
            "{'descr': '|u1', 'fortran_order': False, 'shape': (4294967296, 4294967297), }\n";
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&[1, 0]);
        bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(&[1, 2, 3]);
        assert!(from_bytes::<u8>(&bytes).is_err());
    }

    #[test]
    fn rejects_wrong_type_and_garbage() {
        let a = ArrayD::<f32>::zeros(IxDyn(&[2]));
        let err = from_bytes::<u8>(&to_bytes(&a.view()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("<f4") && err.contains("|u1"), "{err}");
        assert!(from_bytes_f32(b"hello world")
            .unwrap_err()
            .to_string()
            .contains("not a .npy"));
    }
}
