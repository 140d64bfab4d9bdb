//! `.npy` files (NumPy's array format, versions 1–3): writing results, reading reference fixtures.
//!
//! Written by hand (≈150 lines) rather than with `ndarray-npy` because fixtures are stored as float16 to
//! stay small, which that crate cannot read, and because the same code serves the browser (bytes in,
//! bytes out, no filesystem).
//!
//! - write: `f32`, `f64`, `u8`, `i32`, `i64` ([`to_bytes`], [`write()`]), little-endian, C order.
//! - read: the same exact types ([`from_bytes`], [`read`]), or any of `f2/f4/f8/u1/i4/i8` converted
//!   to `f32` ([`from_bytes_f32`], [`read_f32`]); Fortran-ordered arrays are returned in C order.

use anyhow::{bail, ensure, Context, Result};
use ndarray::{ArrayD, ArrayViewD, IxDyn, ShapeBuilder};

const MAGIC: &[u8] = b"\x93NUMPY";

/// An element type with a fixed `.npy` representation.
pub trait NpyElement: Copy + 'static {
    /// NumPy `descr`, e.g. `<f4`.
    const DESCR: &'static str;
    /// Appends the little-endian bytes of `self`.
    fn put(self, out: &mut Vec<u8>);
    /// Reads one value from exactly `size_of::<Self>()` little-endian bytes.
    fn get(bytes: &[u8]) -> Self;
}

macro_rules! npy_element {
    ($t:ty, $descr:expr) => {
        impl NpyElement for $t {
            const DESCR: &'static str = $descr;
            fn put(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            fn get(bytes: &[u8]) -> Self {
                <$t>::from_le_bytes(bytes.try_into().expect("element-sized chunk"))
            }
        }
    };
}
npy_element!(f32, "<f4");
npy_element!(f64, "<f8");
npy_element!(u8, "|u1");
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

struct Header {
    descr: String,
    fortran_order: bool,
    shape: Vec<usize>,
    data_offset: usize,
}

fn parse_header(bytes: &[u8]) -> Result<Header> {
    ensure!(
        bytes.len() >= 10 && bytes.starts_with(MAGIC),
        "not a .npy file (missing the \\x93NUMPY magic)"
    );
    let (len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 => {
            ensure!(bytes.len() >= 12, "truncated .npy header");
            (
                u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
                12,
            )
        }
        v => bail!(".npy format version {v} is not supported"),
    };
    let text = bytes
        .get(start..start + len)
        .context("truncated .npy header")?;
    let text = std::str::from_utf8(text).context(".npy header is not text")?;
    let field = |key: &str| -> Result<&str> {
        let at = text
            .find(&format!("'{key}'"))
            .with_context(|| format!(".npy header has no '{key}': {text}"))?;
        let rest = &text[at + key.len() + 2..];
        Ok(rest.trim_start().trim_start_matches(':').trim_start())
    };
    let descr = field("descr")?;
    let descr = descr
        .strip_prefix('\'')
        .and_then(|d| d.split('\'').next())
        .context("bad 'descr' in .npy header")?;
    // A byte-order character and a type code, in ASCII: the readers compare `descr[1..]` with the type.
    ensure!(
        descr.len() >= 2 && descr.is_ascii(),
        "bad 'descr' `{descr}` in .npy header (expected e.g. '<f4')"
    );
    let fortran_order = field("fortran_order")?.starts_with("True");
    let shape_text = field("shape")?;
    let shape_text = shape_text
        .strip_prefix('(')
        .and_then(|s| s.split(')').next())
        .context("bad 'shape' in .npy header")?;
    let shape = shape_text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .with_context(|| format!("bad dimension `{s}` in .npy shape"))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Header {
        descr: descr.to_string(),
        fortran_order,
        shape,
        data_offset: start + len,
    })
}

/// Builds an array from raw little-endian elements of `size` bytes each.
fn build<T: Copy>(
    h: &Header,
    data: &[u8],
    size: usize,
    convert: impl Fn(&[u8]) -> T,
) -> Result<ArrayD<T>> {
    // Checked: a header may claim any shape, and a wrapped product would pass the length check.
    let n = h
        .shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .and_then(|n| n.checked_mul(size).map(|_| n))
        .with_context(|| {
            format!(
                ".npy shape {:?} has more elements than memory can hold",
                h.shape
            )
        })?;
    ensure!(
        data.len() >= n * size,
        ".npy data is truncated: {} bytes for {n} × {size}",
        data.len()
    );
    let values: Vec<T> = data[..n * size].chunks_exact(size).map(convert).collect();
    let a = if h.fortran_order {
        ArrayD::from_shape_vec(IxDyn(&h.shape).f(), values)?
            .as_standard_layout()
            .into_owned()
    } else {
        ArrayD::from_shape_vec(IxDyn(&h.shape), values)?
    };
    Ok(a)
}

fn check_little_endian(descr: &str) -> Result<()> {
    ensure!(
        !descr.starts_with('>'),
        "big-endian .npy ({descr}) is not supported; save with little-endian dtype"
    );
    Ok(())
}

/// Parses a `.npy` whose element type is exactly `T`.
pub fn from_bytes<T: NpyElement>(bytes: &[u8]) -> Result<ArrayD<T>> {
    let h = parse_header(bytes)?;
    check_little_endian(&h.descr)?;
    let want = &T::DESCR[1..];
    ensure!(
        &h.descr[1..] == want,
        ".npy holds {} but {} was expected",
        h.descr,
        T::DESCR
    );
    build(
        &h,
        &bytes[h.data_offset..],
        std::mem::size_of::<T>(),
        T::get,
    )
}

/// Parses a numeric `.npy` (`f2`, `f4`, `f8`, `u1`, `i4`, `i8`) into `f32`.
pub fn from_bytes_f32(bytes: &[u8]) -> Result<ArrayD<f32>> {
    let h = parse_header(bytes)?;
    check_little_endian(&h.descr)?;
    let data = &bytes[h.data_offset..];
    match &h.descr[1..] {
        "f4" => build(&h, data, 4, f32::get),
        "f2" => build(&h, data, 2, |b| {
            f16_to_f32(u16::from_le_bytes([b[0], b[1]]))
        }),
        "f8" => build(&h, data, 8, |b| f64::get(b) as f32),
        "u1" => build(&h, data, 1, |b| b[0] as f32),
        "i4" => build(&h, data, 4, |b| i32::get(b) as f32),
        "i8" => build(&h, data, 8, |b| i64::get(b) as f32),
        other => bail!(".npy element type `{other}` cannot be read as f32"),
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

/// IEEE 754 half → single precision (exact: every f16 is an f32).
fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let frac = (h & 0x3ff) as u32;
    let bits = match (exp, frac) {
        (0, 0) => sign,
        // Subnormal: value = frac · 2^-24.
        (0, f) => {
            let v = f as f32 * 2f32.powi(-24);
            return if sign != 0 { -v } else { v };
        }
        (0x1f, 0) => sign | 0x7f80_0000,
        (0x1f, f) => sign | 0x7f80_0000 | (f << 13),
        (e, f) => sign | ((e + 127 - 15) << 23) | (f << 13),
    };
    f32::from_bits(bits)
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
        // Values chosen to hit normal, subnormal, zero, negative and infinity encodings.
        let cases: [(u16, f32); 7] = [
            (0x3c00, 1.0),
            (0xc000, -2.0),
            (0x3555, 0.333_251_95),
            (0x0001, 5.960_464_5e-8),
            (0x8000, -0.0),
            (0x7bff, 65504.0),
            (0x7c00, f32::INFINITY),
        ];
        for (bits, want) in cases {
            assert_eq!(f16_to_f32(bits), want, "{bits:#06x}");
        }
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
