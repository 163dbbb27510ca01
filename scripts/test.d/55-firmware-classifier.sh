#!/usr/bin/env bash
# Fine-tuned classifiers on the emulated Cortex-M4F (QEMU mps2-an386), as step 50 runs replaced-token detection
# (there on all four boards; here on one, since the heads are the same code on every board and each build costs
# 30-60 s):
#   1. a sentiment classifier: `electra finetune` on a few hundred of the bundled movie reviews (data/classification),
#      from a random tiny encoder (the point is the device path, not accuracy: one epoch, 64 tokens, seconds);
#   2. a chunk tagger: `electra finetune --task tagging` on 200 CoNLL-style sentences generated here from a toy
#      grammar (CoNLL-2000 itself is research-licensed and not bundled);
#   3. the sentiment classifier again, exported as small as the format allows (int4, pruned, f16: format 7), on the
#      M4F and the M55 (the two int4 kernels).
# Each is exported to an int8 model file (the label names travel in its labels section), the firmware is built
# around it for several sentences (ELECTRA_TEXTS), prints each sentence's label and probability (or each token's
# tag), and scripts/py/compare_firmware.py checks every logit against int8 `electra infer` on the same ids, bit for
# bit, and the label, probability and tags against the host's.
set -euo pipefail
source scripts/lib.sh

apt_install qemu-system-arm
command -v qemu-system-arm >/dev/null || die "qemu-system-arm is not on PATH after installing it"

out="$ELECTRA_REPO/target/firmware-classifier"
rm -rf "$out"
mkdir -p "$out"
MAX_SEQ_LEN=64

# The encoder both fine-tunings start from: ElectraConfig::tiny with HF-initialized random weights (full BERT
# vocab, so the firmware tokenizes with the real vocab). Seeded: every run trains the same models.
electra_example random_checkpoint \
  --preset tiny --seed 1 --vocab data/vocab.txt --out "$out/encoder"

# --- 1. Sentiment ----------------------------------------------------------------------------------------------
# Every fifth review (the file is sorted by label, so both labels come in), three in four for training, the rest
# for dev; labels named as the model should print them.
python3 - data/classification/movie-reviews.jsonl "$out" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8")][::5]
names = {0: "negative", 1: "positive"}
for part, keep in (("train", lambda i: i % 4 != 0), ("dev", lambda i: i % 4 == 0)):
    with open(f"{sys.argv[2]}/reviews-{part}.jsonl", "w", encoding="utf-8") as f:
        for i, row in enumerate(rows):
            if keep(i):
                f.write(json.dumps({"text": row["text"], "label": names[row["label"]]}) + "\n")
PY
electra_bin finetune --model "$out/encoder" --task custom --train "$out/reviews-train.jsonl" \
  --dev "$out/reviews-dev.jsonl" --out "$out/sentiment" --epochs 1 --batch 16 --max-len "$MAX_SEQ_LEN" --seed 1 --quiet
electra_bin export --model "$out/sentiment/model" --vocab data/vocab.txt --tokenizer-index --out "$out/sentiment.elq"

mkdir -p "$out/sentiment-device"
cat >"$out/sentiment-device/texts.txt" <<'TXT'
A wonderful, moving film with a superb cast.
The plot was dull and the acting was "wooden" at best.
I laughed, I cried, and I would watch it again tomorrow.
Two hours of my life I will never get back.
An uneven but often charming comedy.
TXT
firmware_boot mps2-an386 "$out/sentiment.elq" "$out/sentiment-device/texts.txt" "$MAX_SEQ_LEN" \
  "$out/sentiment-device/qemu.log"
grep -q '^  head: sequence classification, single_label_classification (from the model file), labels negative, positive$' \
  "$out/sentiment-device/qemu.log" || die "the firmware did not name the labels from the model file"
firmware_check "$out/sentiment-device" "$out/sentiment-device/texts.txt" "$MAX_SEQ_LEN" "$out/sentiment.elq"

# --- 2. Chunk tagging ------------------------------------------------------------------------------------------
# "word POS chunk" lines, a blank line after each sentence, from a seeded toy grammar (NP VP NP [PP NP] .).
python3 - "$out" <<'PY'
import random, sys
rng = random.Random(1)
det, adj = ["the", "a", "this", "every"], ["old", "quiet", "small", "bright", "angry", "green"]
noun = ["dog", "chef", "river", "city", "teacher", "guest", "meal", "garden"]
verb, prep = ["sees", "cooks", "visits", "likes", "paints", "follows"], ["near", "with", "behind", "under"]
def noun_phrase():
    words = [(rng.choice(det), "DT")] + ([(rng.choice(adj), "JJ")] if rng.random() < 0.5 else []) + [(rng.choice(noun), "NN")]
    return [(w, pos, "B-NP" if i == 0 else "I-NP") for i, (w, pos) in enumerate(words)]
def sentence():
    s = noun_phrase() + [(rng.choice(verb), "VBZ", "B-VP")] + noun_phrase()
    if rng.random() < 0.5:
        s += [(rng.choice(prep), "IN", "B-PP")] + noun_phrase()
    return s + [(".", ".", "O")]
for part, n in (("train", 200), ("dev", 50)):
    with open(f"{sys.argv[1]}/chunks-{part}.txt", "w", encoding="utf-8") as f:
        for _ in range(n):
            f.writelines(f"{w} {pos} {chunk}\n" for w, pos, chunk in sentence())
            f.write("\n")
PY
electra_bin finetune --model "$out/encoder" --task tagging --train "$out/chunks-train.txt" --dev "$out/chunks-dev.txt" \
  --out "$out/tagger" --epochs 3 --batch 16 --max-len "$MAX_SEQ_LEN" --seed 1 --quiet
electra_bin export --model "$out/tagger/model" --vocab data/vocab.txt --tokenizer-index --out "$out/tagger.elq"

mkdir -p "$out/tagger-device"
cat >"$out/tagger-device/texts.txt" <<'TXT'
the old chef cooks a meal near the river.
a quiet teacher visits every garden.
this angry dog follows the small guest behind the city.
the green river sees a bright garden.
TXT
firmware_boot mps2-an386 "$out/tagger.elq" "$out/tagger-device/texts.txt" "$MAX_SEQ_LEN" \
  "$out/tagger-device/qemu.log"
grep -q '^  head: token classification, single_label_classification (from the model file), labels O, ' \
  "$out/tagger-device/qemu.log" || die "the firmware did not name the tags from the model file"
firmware_check "$out/tagger-device" "$out/tagger-device/texts.txt" "$MAX_SEQ_LEN" "$out/tagger.elq"

# --- 3. The compact model file on both int4 kernels -------------------------------------------------------------
# The sentiment classifier in the smallest format: int4 encoder linears and word rows, the word table pruned to
# the training text, f16 group scales, biases and LayerNorms, the position table cut to MAX_SEQ_LEN (model file
# format 7). The M4F runs the SMLAD int4 kernel (the M7's and M33's too: the same code), the M55 the Helium one
# (helium_int4: groups of 64 take its loop two steps a group, past the boot self-test's one-step groups); each must
# give the host's logits bit for bit, as with the int8 files. (Every board's boot also checks
# its int4 kernel and its f16 conversions against their definitions: step 50.)
python3 -c 'import json, sys; [print(json.loads(l)["text"]) for l in open(sys.argv[1], encoding="utf-8")]' \
  "$out/reviews-train.jsonl" >"$out/reviews-train.txt"
electra_bin export --model "$out/sentiment/model" --vocab data/vocab.txt --tokenizer-index \
  --weights int4 --group-size 64 --embeddings int4 --embedding-group-size 16 --keep-tokens-from "$out/reviews-train.txt" \
  --group-scales f16 --biases-and-norms f16 --max-positions "$MAX_SEQ_LEN" --out "$out/sentiment-compact.elq"
inspected=$(electra_bin inspect "$out/sentiment-compact.elq")
grep -q ': format version 7,' <<<"$inspected" || die "the compact sentiment file is not format version 7: $inspected"
COMPACT_BOARDS=(mps2-an386 mps3-an547)
for board in "${COMPACT_BOARDS[@]}"; do
  mkdir -p "$out/compact-$board"
  firmware_boot "$board" "$out/sentiment-compact.elq" "$out/sentiment-device/texts.txt" "$MAX_SEQ_LEN" \
    "$out/compact-$board/qemu.log"
  firmware_check "$out/compact-$board" "$out/sentiment-device/texts.txt" "$MAX_SEQ_LEN" "$out/sentiment-compact.elq"
done
echo "compact (int4, pruned, f16) sentiment file: logits identical to the host's on ${COMPACT_BOARDS[*]}"
