"""The data of docs/BENCHMARKS.md "Fine-tuning / Learning": a pre-training corpus and an SST-2 training sample.

- OUT/corpus/: the public-domain corpora of --corpus (default data/corpus; the benchmark used a directory that also
  holds tinyshakespeare.txt, karpathy/char-rnn's public-domain Shakespeare), the movie reviews (data/classification), and the
  *training* sentences of SST-2, MRPC and CoNLL-2000 with their labels dropped (task-adaptive pre-training; dev and
  test text are never used). Shard it with `electra shard --corpus OUT/corpus --vocab data/vocab.txt --out SHARDS`.
- OUT/sst2-train-6400.tsv: 6,400 lines of SST-2's train.tsv sampled with random.Random(0), header kept.

Usage: python learning_data.py --glue GLUE_DIR --conll CONLL2000_DIR --out OUT [--corpus DIR]
  GLUE_DIR holds SST-2/train.tsv and MRPC/train.tsv; CONLL2000_DIR holds train.txt (research-licensed data the
  repository does not bundle).
"""
import argparse
import random
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SST2_SAMPLE = 6400
SST2_LINES_PER_DOC = 50     # SST-2 lines are independent phrases: documents of 50 keep packing like a corpus's
CONLL_SENTENCES_PER_DOC = 20


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--glue", required=True, type=Path)
    ap.add_argument("--conll", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--corpus", type=Path, default=ROOT / "data" / "corpus")
    args = ap.parse_args()
    corpus = args.out / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    shutil.copytree(args.corpus, corpus, dirs_exist_ok=True)
    shutil.copy(ROOT / "data" / "classification" / "movie-reviews.jsonl", corpus)

    sst2 = (args.glue / "SST-2" / "train.tsv").read_text(encoding="utf-8").splitlines()
    with open(corpus / "sst2-train-text.txt", "w", encoding="utf-8") as out:
        for i, line in enumerate(sst2[1:]):
            out.write(line.split("\t")[0] + "\n")
            if i % SST2_LINES_PER_DOC == SST2_LINES_PER_DOC - 1:
                out.write("\n")
    sample = random.Random(0).sample(sst2[1:], SST2_SAMPLE)
    (args.out / f"sst2-train-{SST2_SAMPLE}.tsv").write_text("\n".join([sst2[0]] + sample) + "\n", encoding="utf-8")

    mrpc = (args.glue / "MRPC" / "train.tsv").read_text(encoding="utf-8-sig").splitlines()
    with open(corpus / "mrpc-train-text.txt", "w", encoding="utf-8") as out:
        for line in mrpc[1:]:
            cols = line.split("\t")
            out.write(cols[3] + "\n" + cols[4] + "\n\n")

    with open(args.conll / "train.txt", encoding="utf-8") as f, \
            open(corpus / "conll2000-train-text.txt", "w", encoding="utf-8") as out:
        words, sentences = [], 0
        for line in list(f) + [""]:
            line = line.strip()
            if line:
                words.append(line.split()[0])
                continue
            if words:
                out.write(" ".join(words) + "\n")
                sentences += 1
                if sentences % CONLL_SENTENCES_PER_DOC == 0:
                    out.write("\n")
            words = []


if __name__ == "__main__":
    main()
