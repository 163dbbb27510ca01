"""HF tokenizers' Python API on the same text as tests/benches/tokenizer.rs (every non-empty line of
data/corpus/us-speeches, files in sorted path order, Latin-1 files decoded as such), BERT uncased built the same way.
Single thread: `encode` line by line; all threads: `encode_batch`. Prints input MB/s, best of 3.

    python tests/benches/tokenizer_hf_python.py
"""
import os
import time
from pathlib import Path

from tokenizers import Tokenizer
from tokenizers.models import WordPiece
from tokenizers.normalizers import BertNormalizer
from tokenizers.pre_tokenizers import BertPreTokenizer

ROOT = Path(__file__).resolve().parents[2]


def corpus_lines():
    text = []
    for path in sorted(p for p in (ROOT / "data/corpus/us-speeches").rglob("*") if p.is_file()):
        raw = path.read_bytes()
        try:
            text.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            text.append(raw.decode("latin-1"))
        text.append("\n")
    # str.splitlines also splits on \x1c-\x1e, \x85, \u2028...; split like Rust's str::lines instead.
    lines = "".join(text).split("\n")
    return [l.removesuffix("\r") for l in lines if l.strip()]


def main():
    lines = corpus_lines()
    mb = sum(len(l.encode("utf-8")) for l in lines) / 1e6
    tok = Tokenizer(WordPiece.from_file(str(ROOT / "data/vocab.txt"), unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True)
    tok.pre_tokenizer = BertPreTokenizer()
    for name, run in [
        ("hf_python_1_thread", lambda: [tok.encode(l, add_special_tokens=False) for l in lines]),
        ("hf_python_all_threads", lambda: tok.encode_batch(lines, add_special_tokens=False)),
    ]:
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            run()
            best = min(best, time.perf_counter() - start)
        print(f"{name}: {mb / best:.2f} MB/s ({best:.3f} s for {mb:.2f} MB, {len(lines)} lines, {os.cpu_count()} cpus)")


if __name__ == "__main__":
    main()
