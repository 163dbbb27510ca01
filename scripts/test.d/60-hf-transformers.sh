#!/usr/bin/env bash
# HF transformers loads what `electra pretrain` saves: a tiny model is pre-trained for a few steps with the CLI,
# the discriminator is loaded with ElectraForPreTraining.from_pretrained and the generator with
# ElectraForMaskedLM.from_pretrained (no missing or unexpected weights), and the discriminator's logits equal
# `electra infer`'s on the same ids.
# Then the same for task models fine-tuned from it (sequence and token classification).
set -euo pipefail
source scripts/lib.sh
pip_install_torch transformers safetensors

build_host
electra=target/release/electra
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Two speeches are plenty for a few steps of a tiny model.
mkdir -p "$work/corpus"
cp data/corpus/us-speeches/inaugural/1789-Washington.txt data/corpus/us-speeches/inaugural/1861-Lincoln.txt "$work/corpus/"
"$electra" shard --corpus "$work/corpus" --out "$work/shards" --seq-len 64 --vocab data/vocab.txt --quiet
"$electra" pretrain --data "$work/shards" --model-size tiny --steps 20 --batch 4 --lr 2e-3 --warmup 2 \
  --bias-correction --save-every 7 --out "$work/run" --quiet
ckpt="$work/run/checkpoint-latest"

# The sentence the discriminator scores, as ids of the bundled vocab (with [CLS]/[SEP]).
ids="101 1996 2343 2001 5379 2000 1996 2406 102"
echo "{\"ids\": [${ids// /, }]}" > "$work/in.jsonl"
"$electra" infer --model "$ckpt/discriminator" --input "$work/in.jsonl" --out "$work/disc.jsonl"
"$electra" infer --model "$ckpt/generator" --input "$work/in.jsonl" --out "$work/gen.jsonl"

py - "$ckpt" "$work" "$ids" <<'EOF'
import json, sys
import torch
from transformers import ElectraForMaskedLM, ElectraForPreTraining

# Both sides compute in float32 from the same float32 weights; they differ only in summation order
# (GEMM blocking, erf and exp implementations). 1e-4 absolute is the forward tolerance of fixtures/README.md.
LOGIT_TOLERANCE = 1e-4

ckpt, work, ids = sys.argv[1], sys.argv[2], [int(i) for i in sys.argv[3].split()]
disc, info = ElectraForPreTraining.from_pretrained(f"{ckpt}/discriminator", output_loading_info=True)
assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"], info
gen, info = ElectraForMaskedLM.from_pretrained(f"{ckpt}/generator", output_loading_info=True)
assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"], info
# The generator's output layer is tied to the word embeddings, which both models share.
assert torch.equal(gen.generator_lm_head.weight, gen.electra.embeddings.word_embeddings.weight)
assert torch.equal(gen.electra.embeddings.word_embeddings.weight, disc.electra.embeddings.word_embeddings.weight)

def ours(name):
    lines = [json.loads(line) for line in open(f"{work}/{name}.jsonl") if line.strip()]
    assert len(lines) == 1, lines
    return torch.tensor(lines[0]["logits"], dtype=torch.float32)

for label, model, name in [("discriminator (RTD)", disc, "disc"), ("generator (MLM, tied output layer)", gen, "gen")]:
    model.eval()
    with torch.no_grad():
        hf = model(input_ids=torch.tensor([ids])).logits[0]
    mine = ours(name)
    assert mine.shape == hf.shape, (label, mine.shape, hf.shape)
    diff = (mine - hf).abs().max().item()
    print(f"{label} logits, electra infer vs HF transformers: max |diff| = {diff:.3g} over {hf.numel()} values, "
          f"HF range [{hf.min().item():.4f}, {hf.max().item():.4f}] (tolerance {LOGIT_TOLERANCE})")
    assert diff <= LOGIT_TOLERANCE, (label, diff)
EOF

# Fine-tuned task models: `electra finetune` writes ElectraForSequenceClassification and
# ElectraForTokenClassification directories that transformers loads with no missing or unexpected weights, with
# the label names and problem type, and whose logits equal `electra infer`'s.
py - "$work" <<'EOF2'
import json, random, sys
work = sys.argv[1]
rng = random.Random(0)
filler = "the a movie film story plot actor scene music was is very and but".split()
with open(f"{work}/sentiment.jsonl", "w") as f:
    for _ in range(64):
        words = [rng.choice(filler) for _ in range(rng.randint(4, 10))]
        positive = rng.random() < 0.5
        words.insert(rng.randint(0, len(words)), "great" if positive else "awful")
        f.write(json.dumps({"text": " ".join(words), "label": "positive" if positive else "negative"}) + "\n")
with open(f"{work}/chunks.txt", "w") as f:
    for _ in range(32):
        for _ in range(6):
            w = rng.choice(filler + ["great", "awful"])
            f.write(f"{w} NN {'B-POS' if w == 'great' else 'B-NEG' if w == 'awful' else 'O'}\n")
        f.write("\n")
EOF2
"$electra" finetune --model "$work/run" --task custom --train "$work/sentiment.jsonl" --dev "$work/sentiment.jsonl" \
  --out "$work/cls" --epochs 1 --batch 16 --quiet >/dev/null
"$electra" finetune --model "$work/run" --task tagging --train "$work/chunks.txt" --out "$work/tok" --epochs 1 \
  --batch 16 --quiet >/dev/null
"$electra" infer --model "$work/cls/model" --input "$work/in.jsonl" --out "$work/cls.jsonl"
"$electra" infer --model "$work/tok/model" --input "$work/in.jsonl" --out "$work/tok.jsonl"

py - "$work" "$ids" <<'EOF2'
import json, sys
import torch
from transformers import ElectraForSequenceClassification, ElectraForTokenClassification

LOGIT_TOLERANCE = 1e-4  # as above: float32 on both sides, summation order only
work, ids = sys.argv[1], [int(i) for i in sys.argv[2].split()]
for name, cls, labels in [
    ("cls", ElectraForSequenceClassification, {0: "negative", 1: "positive"}),
    ("tok", ElectraForTokenClassification, {0: "O", 1: "B-NEG", 2: "B-POS"}),
]:
    model, info = cls.from_pretrained(f"{work}/{name}/model", output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"], (name, info)
    assert model.config.id2label == labels, (name, model.config.id2label)
    if name == "cls":
        assert model.config.problem_type == "single_label_classification", model.config.problem_type
    model.eval()
    with torch.no_grad():
        hf = model(input_ids=torch.tensor([ids])).logits[0]
    line = json.loads(open(f"{work}/{name}.jsonl").readline())
    mine = torch.tensor(line["logits"], dtype=torch.float32)
    assert mine.shape == hf.shape, (name, mine.shape, hf.shape)
    diff = (mine - hf).abs().max().item()
    print(f"{cls.__name__} from electra finetune: loads in transformers with labels {labels}; "
          f"logits vs electra infer max |diff| = {diff:.3g} (tolerance {LOGIT_TOLERANCE})")
    assert diff <= LOGIT_TOLERANCE, (name, diff)
EOF2
