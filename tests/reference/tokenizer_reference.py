"""Reference token ids for glassbox's Rust CLIP tokenizer, made by openai/CLIP's own `simple_tokenizer.py`.

Usage:
    python tests/reference/tokenizer_reference.py CLIP_CHECKOUT SHARED_DATA OUT_DIR

CLIP_CHECKOUT is a checkout of github.com/openai/CLIP (its `clip/simple_tokenizer.py` is imported from there, not
copied); SHARED_DATA is the `shared/data` folder (concept sets and `clip/bpe_simple_vocab_16e6.txt.gz`).
Needs: ftfy, regex (the tokenizer's own imports). Torch is not needed: `clip.tokenize` is re-stated below in five
lines (SOT + ids + EOT, zero padding to 77, `truncate=True` keeps 76 tokens and ends with EOT).

Writes OUT_DIR/tokens_<set>.txt.gz: one line per non-empty concept line, the line's BPE ids (no SOT/EOT) separated by
spaces, plus `sha256_<set>` in OUT_DIR/tokens.json: the sha256 of the little-endian int32 [N, 77] `clip.tokenize`
matrix of the whole set, so the padded/truncated layout is checked too.

It also asserts that ftfy.fix_text is the identity on every concept line: glassbox implements only the part of
fix_text that can act on printable ASCII, and this is what makes that subset exact for these concept sets.
"""

import gzip
import hashlib
import importlib.util
import json
import sys
from pathlib import Path

import ftfy
import numpy as np

CONCEPT_SETS = ["20k", "10k", "3k", "broden_labels_clean", "imagenet_labels"]
CONTEXT = 77

# Strings beyond the concept sets that exercise the cleaning, regex and truncation paths. Each one's ids come from
# the real tokenizer as well; the Rust test compares them all.
EXTRA_LINES = [
    "It's a dog's life, isn't it? We'll see; they'd've gone.",
    "  multiple   spaces\tand\ttabs\nand newlines  ",
    "numbers 1999 and 3.14159 and 42nd",
    "UPPER lower MiXeD CaSe",
    "café naïve Zürich façade",
    "Ελληνικά and русский and 日本語",
    "fish &amp; chips &lt;b&gt; &#39;quoted&#39; &#x41;BC &quot;x&quot; &amp;amp;",
    "a<b>c &amp; d",
    "emoji 🐶🐱 and symbols ©®™ ±×÷",
    "hyphen-ated, comma,separated; semi:colon (paren) [bracket] {brace} #hash @at $dollar %percent",
    "<|startoftext|> special <|endoftext|> tokens",
    "very long " + " ".join(f"word{i}" for i in range(120)),
    "bell\x07 ctrl\x01chars \x1b[31mred\x1b[0m text\x7f",
    "a",
    "x" * 300,
]


def load_tokenizer(clip_checkout: Path):
    spec = importlib.util.spec_from_file_location(
        "clip_simple_tokenizer", clip_checkout / "clip" / "simple_tokenizer.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tokenize_matrix(tokenizer, encoded):
    """clip.tokenize(texts, truncate=True) as int32 without torch."""
    sot = tokenizer.encoder["<|startoftext|>"]
    eot = tokenizer.encoder["<|endoftext|>"]
    out = np.zeros((len(encoded), CONTEXT), dtype="<i4")
    for i, ids in enumerate(encoded):
        row = [sot] + ids + [eot]
        if len(row) > CONTEXT:
            row = row[:CONTEXT]
            row[-1] = eot
        out[i, : len(row)] = row
    return out


def main():
    clip_checkout, shared, out_dir = (Path(a) for a in sys.argv[1:4])
    out_dir.mkdir(parents=True, exist_ok=True)
    module = load_tokenizer(clip_checkout)
    tokenizer = module.SimpleTokenizer(str(shared / "clip" / "bpe_simple_vocab_16e6.txt.gz"))

    summary = {"clip_checkout_file": "clip/simple_tokenizer.py", "ftfy_version": ftfy.__version__, "sets": {}}
    for name in CONCEPT_SETS:
        text = (shared / "concepts" / f"{name}.txt").read_text(encoding="utf-8")
        # describe_neurons.py / utils.save_activations: split on '\n', drop empty lines.
        lines = [line for line in text.split("\n") if line != ""]
        changed = [line for line in lines if ftfy.fix_text(line) != line]
        assert not changed, f"ftfy.fix_text changes {len(changed)} lines of {name}, e.g. {changed[:3]!r}"
        non_ascii = [line for line in lines if not line.isascii()]
        assert not non_ascii, f"{name} has non-ASCII lines, e.g. {non_ascii[:3]!r}"
        encoded = [tokenizer.encode(line) for line in lines]
        write_ids(out_dir / f"tokens_{name}.txt.gz", encoded)
        matrix = tokenize_matrix(tokenizer, encoded)
        summary["sets"][name] = {
            "lines": len(lines),
            "tokens_total": int(sum(len(e) for e in encoded)),
            "max_tokens": int(max(len(e) for e in encoded)),
            "truncated_lines": int(sum(len(e) + 2 > CONTEXT for e in encoded)),
            "sha256_tokenize_int32": hashlib.sha256(matrix.tobytes()).hexdigest(),
        }
        print(name, summary["sets"][name])

    encoded = [tokenizer.encode(line) for line in EXTRA_LINES]
    summary["extra"] = [
        {"text": line, "ids": ids, "fix_text_is_identity": ftfy.fix_text(line) == line}
        for line, ids in zip(EXTRA_LINES, encoded)
    ]
    summary["extra_sha256_tokenize_int32"] = hashlib.sha256(tokenize_matrix(tokenizer, encoded).tobytes()).hexdigest()
    (out_dir / "tokens.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def write_ids(path: Path, encoded):
    body = "".join(" ".join(str(i) for i in ids) + "\n" for ids in encoded)
    # mtime=0: the fixture is byte-for-byte reproducible.
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz:
        gz.write(body.encode("ascii"))


if __name__ == "__main__":
    main()
