//! CLIP's byte-level BPE tokenizer, token for token what openai/CLIP `clip/simple_tokenizer.py` + `clip.tokenize`
//! produce (verified on every line of the CLIP-Dissect concept sets, see `crate/tests/dissect_tokenizer.rs`).
//!
//! Steps, as in the Python original:
//! 1. clean: `ftfy.fix_text` → `html.unescape` twice → strip; collapse whitespace runs to one space; lowercase;
//! 2. split with CLIP's regex (contractions, letter runs, single digits, runs of other symbols);
//! 3. map each piece's UTF-8 bytes to printable characters (`bytes_to_unicode`), then merge symbol pairs by BPE rank,
//!    the last symbol carrying `</w>`;
//! 4. `[SOT] + ids + [EOT]`, zero padded to 77; longer texts are cut to 77 with EOT last (`truncate=True`).
//!
//! Cleaning is the one place that is a subset: ftfy's fixes that can act on printable ASCII are implemented
//! (HTML entities when the text has no `<`, terminal escapes, control characters). Not implemented: mojibake repair,
//! NFC normalisation and other fixes of non-ASCII text, and named HTML entities beyond `amp lt gt quot apos nbsp`
//! (CLIP's Python decodes all 2231 HTML5 names). ftfy is the identity on every line of the shipped concept sets
//! (asserted by `tests/reference/tokenizer_reference.py`), so there the ids are exact; for other text containing
//! such sequences the ids can differ from CLIP's.

use std::collections::HashMap;
use std::io::Read;

use anyhow::{bail, ensure, Context, Result};
use ndarray::Array2;
use regex::Regex;

/// CLIP's context length (tokens per text, including SOT and EOT).
pub const CONTEXT_LENGTH: usize = 77;
/// Id of `<|startoftext|>`.
pub const SOT: u32 = 49406;
/// Id of `<|endoftext|>`.
pub const EOT: u32 = 49407;
/// CLIP keeps the first 49152 - 256 - 2 merges of the vocabulary file.
const MERGES_USED: usize = 49152 - 256 - 2;
const END_OF_WORD: &str = "</w>";

/// The tokenizer: vocabulary, merge ranks and the compiled patterns.
pub struct ClipTokenizer {
    byte_to_char: [char; 256],
    encoder: HashMap<String, u32>,
    merge_ranks: HashMap<(String, String), u32>,
    split_pattern: Regex,
    whitespace: Regex,
    terminal_escape: Regex,
    ftfy_entity: Regex,
    html_charref: Regex,
}

impl ClipTokenizer {
    /// Reads `bpe_simple_vocab_16e6.txt.gz` (gzip) from disk.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn from_path(path: &std::path::Path) -> Result<Self> {
        let bytes = std::fs::read(path).with_context(|| {
            format!(
                "cannot read the CLIP BPE vocabulary {} (it is openai/CLIP's clip/bpe_simple_vocab_16e6.txt.gz)",
                path.display()
            )
        })?;
        Self::from_gz_bytes(&bytes).with_context(|| format!("in {}", path.display()))
    }

    /// Builds the tokenizer from the gzipped vocabulary file's bytes.
    pub fn from_gz_bytes(gz: &[u8]) -> Result<Self> {
        let mut text = String::new();
        flate2::read::GzDecoder::new(gz)
            .read_to_string(&mut text)
            .context("the CLIP BPE vocabulary is not gzipped UTF-8 text")?;
        Self::from_merges_text(&text)
    }

    /// Builds the tokenizer from the decompressed vocabulary text (a header line, then one merge per line).
    pub fn from_merges_text(text: &str) -> Result<Self> {
        let lines: Vec<&str> = text.split('\n').collect();
        ensure!(
            lines.len() > MERGES_USED,
            "the BPE vocabulary has {} lines, CLIP needs at least {}: wrong or truncated file",
            lines.len(),
            MERGES_USED + 1
        );
        let byte_to_char = bytes_to_unicode();
        // Python's dict keeps insertion order: printable bytes first, then the others.
        let (printable, other): (Vec<u8>, Vec<u8>) =
            (0..=255u8).partition(|&b| is_printable_byte(b));
        let byte_symbols: Vec<char> = printable
            .iter()
            .chain(&other)
            .map(|&b| byte_to_char[b as usize])
            .collect();
        let mut merges = Vec::with_capacity(MERGES_USED);
        for (n, line) in lines[1..=MERGES_USED].iter().enumerate() {
            let mut parts = line.split_whitespace();
            match (parts.next(), parts.next(), parts.next()) {
                (Some(a), Some(b), None) => merges.push((a.to_string(), b.to_string())),
                _ => bail!(
                    "BPE vocabulary line {} is not a merge pair: {line:?}",
                    n + 2
                ),
            }
        }
        // Vocabulary order defines the ids: bytes, bytes + </w>, merges, then the two specials.
        let mut vocab: Vec<String> = byte_symbols.iter().map(|c| c.to_string()).collect();
        vocab.extend(byte_symbols.iter().map(|c| format!("{c}{END_OF_WORD}")));
        vocab.extend(merges.iter().map(|(a, b)| format!("{a}{b}")));
        vocab.push("<|startoftext|>".into());
        vocab.push("<|endoftext|>".into());
        let encoder: HashMap<String, u32> = vocab
            .into_iter()
            .enumerate()
            .map(|(i, s)| (s, i as u32))
            .collect();
        ensure!(
            encoder.get("<|endoftext|>") == Some(&EOT) && encoder.get("<|startoftext|>") == Some(&SOT),
            "the BPE vocabulary gives the special tokens unexpected ids: not CLIP's bpe_simple_vocab_16e6"
        );
        let merge_ranks = merges
            .into_iter()
            .enumerate()
            .map(|(i, pair)| (pair, i as u32))
            .collect();
        Ok(Self {
            byte_to_char,
            encoder,
            merge_ranks,
            split_pattern: Regex::new(
                r"(?i)<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+",
            )?,
            whitespace: Regex::new(r"\s+")?,
            terminal_escape: Regex::new(r"\x1b\[((?:\d|;)*)([a-zA-Z])")?,
            ftfy_entity: Regex::new(r"&#?[0-9A-Za-z]{1,24};")?,
            html_charref: Regex::new(r"&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\x0c <&#;]{1,32};?)")?,
        })
    }

    /// BPE ids of one text, without SOT/EOT (CLIP's `SimpleTokenizer.encode`).
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let cleaned = self.basic_clean(text);
        let cleaned = self.whitespace.replace_all(&cleaned, " ");
        let cleaned = cleaned.trim().to_lowercase();
        let mut ids = Vec::new();
        for piece in self.split_pattern.find_iter(&cleaned) {
            let piece = piece.as_str();
            if piece == "<|startoftext|>" || piece == "<|endoftext|>" {
                ids.push(self.encoder[piece]);
                continue;
            }
            let symbols: Vec<char> = piece
                .bytes()
                .map(|b| self.byte_to_char[b as usize])
                .collect();
            for symbol in self.bpe(&symbols) {
                // Every merge result and every single byte symbol is in the vocabulary by construction.
                ids.push(self.encoder[&symbol]);
            }
        }
        ids
    }

    /// `clip.tokenize(texts, truncate=True)`: one row of 77 ids per text, as int64 for the text encoder.
    pub fn tokenize<S: AsRef<str>>(&self, texts: &[S]) -> Array2<i64> {
        let mut out = Array2::<i64>::zeros((texts.len(), CONTEXT_LENGTH));
        for (row, text) in texts.iter().enumerate() {
            let mut ids = Vec::with_capacity(CONTEXT_LENGTH);
            ids.push(SOT);
            ids.extend(self.encode(text.as_ref()));
            ids.push(EOT);
            if ids.len() > CONTEXT_LENGTH {
                ids.truncate(CONTEXT_LENGTH);
                ids[CONTEXT_LENGTH - 1] = EOT;
            }
            for (col, id) in ids.into_iter().enumerate() {
                out[[row, col]] = i64::from(id);
            }
        }
        out
    }

    /// Merges the symbols of one pre-token by rank until no ranked pair is left.
    fn bpe(&self, symbols: &[char]) -> Vec<String> {
        let Some((last, rest)) = symbols.split_last() else {
            return Vec::new();
        };
        let mut word: Vec<String> = rest.iter().map(|c| c.to_string()).collect();
        word.push(format!("{last}{END_OF_WORD}"));
        while word.len() > 1 {
            // The lowest-ranked adjacent pair; its first occurrence (Python's `min` keeps the first of equals,
            // and equal ranks can only come from the same pair).
            let best = word
                .windows(2)
                .filter_map(|w| {
                    self.merge_ranks
                        .get(&(w[0].clone(), w[1].clone()))
                        .map(|&r| (r, w))
                })
                .min_by_key(|(r, _)| *r)
                .map(|(_, w)| (w[0].clone(), w[1].clone()));
            let Some((first, second)) = best else { break };
            // Merge every non-overlapping occurrence left to right, as the Python loop does.
            let mut merged = Vec::with_capacity(word.len());
            let mut i = 0;
            while i < word.len() {
                if i + 1 < word.len() && word[i] == first && word[i + 1] == second {
                    merged.push(format!("{first}{second}"));
                    i += 2;
                } else {
                    merged.push(std::mem::take(&mut word[i]));
                    i += 1;
                }
            }
            word = merged;
        }
        word
    }

    /// `basic_clean`: ftfy's ASCII-relevant fixes, `html.unescape` twice, strip.
    fn basic_clean(&self, text: &str) -> String {
        let mut text = self.ftfy_subset(text);
        for _ in 0..2 {
            text = self.html_unescape(&text);
        }
        text.trim().to_string()
    }

    /// The steps of `ftfy.fix_text` (ftfy 6, default config) that can change printable-ASCII text, in its order:
    /// `unescape_html` (skipped when the text contains `<`), `remove_terminal_escapes`, `remove_control_chars`.
    fn ftfy_subset(&self, text: &str) -> String {
        let mut text = text.to_string();
        if !text.contains('<') {
            text = self
                .ftfy_entity
                .replace_all(&text, |caps: &regex::Captures| {
                    let entity = &caps[0];
                    decode_entity(&entity[1..]).unwrap_or_else(|| entity.to_string())
                })
                .into_owned();
        }
        let text = self.terminal_escape.replace_all(&text, "");
        text.chars().filter(|&c| !is_ftfy_control(c)).collect()
    }

    /// Python's `html.unescape`, for numeric references and the named entities listed in the module doc.
    fn html_unescape(&self, text: &str) -> String {
        if !text.contains('&') {
            return text.to_string();
        }
        self.html_charref
            .replace_all(text, |caps: &regex::Captures| {
                let body = &caps[1];
                if let Some(number) = body.strip_prefix('#') {
                    let number = number.trim_end_matches(';');
                    let value = match number.strip_prefix(['x', 'X']) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok(),
                        None => number.parse::<u32>().ok(),
                    };
                    return numeric_charref(value);
                }
                if let Some(decoded) = decode_entity(body) {
                    return decoded;
                }
                // Without a semicolon, Python decodes the longest known prefix (`&ampx` → `&x`).
                for end in (1..body.len()).rev() {
                    if let Some(decoded) = body.get(..end).and_then(legacy_entity) {
                        return format!("{decoded}{}", &body[end..]);
                    }
                }
                caps[0].to_string()
            })
            .into_owned()
    }
}

/// A named entity with its semicolon (`amp;`), or one of the legacy names Python also accepts without it.
fn decode_entity(name: &str) -> Option<String> {
    match name.strip_suffix(';') {
        Some("apos") => Some("'".into()),
        Some(n) => legacy_entity(n).map(str::to_string),
        None => legacy_entity(name).map(str::to_string),
    }
}

fn legacy_entity(name: &str) -> Option<&'static str> {
    Some(match name {
        "amp" | "AMP" => "&",
        "lt" | "LT" => "<",
        "gt" | "GT" => ">",
        "quot" | "QUOT" => "\"",
        "nbsp" => "\u{a0}",
        _ => return None,
    })
}

/// Python's `html._replace_charref` for `&#...;`.
fn numeric_charref(value: Option<u32>) -> String {
    match value {
        None | Some(0) => "\u{fffd}".into(),
        Some(v) if (0xD800..=0xDFFF).contains(&v) || v > 0x10FFFF => "\u{fffd}".into(),
        // Python drops code points that are invalid in HTML (controls, noncharacters).
        Some(v)
            if (0x1..=0x8).contains(&v)
                || v == 0xB
                || (0xE..=0x1F).contains(&v)
                || (0x7F..=0x9F).contains(&v) =>
        {
            String::new()
        }
        Some(v) => char::from_u32(v).map(String::from).unwrap_or_default(),
    }
}

/// Characters ftfy's `remove_control_chars` deletes (the ASCII part of its table).
fn is_ftfy_control(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{8}' | '\u{b}' | '\u{e}'..='\u{1f}' | '\u{7f}')
}

fn is_printable_byte(b: u8) -> bool {
    (0x21..=0x7E).contains(&b) || (0xA1..=0xAC).contains(&b) || (0xAE..=0xFF).contains(&b)
}

/// CLIP's reversible byte → printable character table: printable Latin-1 bytes map to themselves, the rest to
/// U+0100 upwards in byte order.
fn bytes_to_unicode() -> [char; 256] {
    let mut table = ['\0'; 256];
    let mut next = 256u32;
    for b in 0..=255u8 {
        table[b as usize] = if is_printable_byte(b) {
            char::from(b)
        } else {
            let c = char::from_u32(next).expect("U+0100.. is valid");
            next += 1;
            c
        };
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_table_is_a_bijection_onto_printables() {
        let table = bytes_to_unicode();
        let distinct: std::collections::HashSet<char> = table.iter().copied().collect();
        assert_eq!(distinct.len(), 256);
        assert_eq!(table[b'a' as usize], 'a');
        // Space (0x20) is the 33rd non-printable byte (0x00..=0x20) → U+0120 'Ġ', as in GPT-2/CLIP.
        assert_eq!(table[b' ' as usize], '\u{120}');
    }
}
