//! The JPEG marker walk: one segment iterator under both checks that read a JPEG before any decoder does,
//! the frame size ([`frame_size`], for the pixel limit) and completeness ([`check_jpeg_complete`]).

use anyhow::{bail, ensure, Context, Result};

const TRUNCATED: &str =
    "the file is truncated (it ends before the end-of-image marker); re-download or re-export it";

/// End of image.
const EOI: u8 = 0xD9;
/// Start of scan: entropy-coded data follows its header.
const SOS: u8 = 0xDA;

/// One marker segment: its marker code and the bytes after its length field (empty for the stand-alone
/// markers and for the end of image).
pub(super) struct Segment<'a> {
    pub marker: u8,
    pub payload: &'a [u8],
}

/// The marker segments of a JPEG after its start-of-image marker, skipping fill bytes and each scan's
/// entropy-coded data, up to and including the end-of-image marker. A walk that cannot go on (a cut
/// file, a bad length) yields one error and stops.
pub(super) struct Segments<'a> {
    bytes: &'a [u8],
    at: usize,
    done: bool,
}

impl<'a> Segments<'a> {
    /// The walk from just after SOI (FF D8), which format detection checked.
    pub fn new(bytes: &'a [u8]) -> Self {
        Segments {
            bytes,
            at: 2,
            done: false,
        }
    }

    fn step(&mut self) -> Result<Segment<'a>> {
        let bytes = self.bytes;
        let mut i = self.at;
        // A marker: one or more 0xFF fill bytes, then the marker code.
        ensure!(i < bytes.len() && bytes[i] == 0xFF, TRUNCATED);
        while i < bytes.len() && bytes[i] == 0xFF {
            i += 1;
        }
        let marker = *bytes.get(i).context(TRUNCATED)?;
        i += 1;
        if matches!(marker, EOI | 0x01 | 0xD0..=0xD7) {
            // Stand-alone markers, without a length.
            self.at = i;
            return Ok(Segment {
                marker,
                payload: &[],
            });
        }
        let len = bytes
            .get(i..i + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]) as usize)
            .context(TRUNCATED)?;
        ensure!(len >= 2, "invalid marker segment length {len}");
        let payload = bytes.get(i + 2..i + len).context(TRUNCATED)?;
        i += len;
        if marker == SOS {
            // Entropy-coded data runs to the next marker other than stuffing (FF 00) and restarts (FF D0-D7).
            loop {
                ensure!(i + 1 < bytes.len(), TRUNCATED);
                if bytes[i] == 0xFF
                    && bytes[i + 1] != 0x00
                    && !(0xD0..=0xD7).contains(&bytes[i + 1])
                {
                    break;
                }
                i += 1;
            }
        }
        self.at = i;
        Ok(Segment { marker, payload })
    }
}

impl<'a> Iterator for Segments<'a> {
    type Item = Result<Segment<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let step = self.step();
        self.done = step.as_ref().map_or(true, |segment| segment.marker == EOI);
        Some(step)
    }
}

/// Width and height as the frame header (SOFn) states them; `None` when the walk ends before one.
pub(super) fn frame_size(bytes: &[u8]) -> Option<(u32, u32)> {
    let be16 = |b: &[u8], i: usize| b.get(i..i + 2).map(|v| u16::from_be_bytes([v[0], v[1]]));
    Segments::new(bytes)
        .map_while(Result::ok)
        // SOF0-SOF15 except DHT (C4), JPG (C8) and DAC (CC): precision, height, width.
        .find(|s| (0xC0..=0xCF).contains(&s.marker) && ![0xC4, 0xC8, 0xCC].contains(&s.marker))
        .and_then(|frame| {
            Some((
                u32::from(be16(frame.payload, 3)?),
                u32::from(be16(frame.payload, 1)?),
            ))
        })
}

/// JPEG decoders conceal truncation (they fill the missing rows with grey), which would silently
/// explain a broken picture. So we walk the marker segments and entropy-coded scans up to the
/// end-of-image marker, which a complete file has (anything after it, such as an embedded video, is
/// ignored; thumbnails inside APP segments are skipped with their segment). Public for the fuzz harness.
pub fn check_jpeg_complete(bytes: &[u8]) -> Result<()> {
    for segment in Segments::new(bytes) {
        if segment?.marker == EOI {
            return Ok(());
        }
    }
    // The walk ends with the end-of-image marker or an error, so this is not reached.
    bail!(TRUNCATED)
}
