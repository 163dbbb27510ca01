#!/usr/bin/env bash
# HF transformers loads what `electra pretrain` saves: a tiny model is pre-trained for a few steps with the CLI,
# the discriminator is loaded with ElectraForPreTraining.from_pretrained and the generator with
# ElectraForMaskedLM.from_pretrained (no missing or unexpected weights), and the discriminator's logits equal
# `electra infer`'s on the same ids.
set -euo pipefail
source scripts/lib.sh
pip_install_torch transformers safetensors

cargo build --release -q -p electra-train --bin electra
electra=target/release/electra
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Two speeches are plenty for a few steps of a tiny model.
mkdir -p "$work/corpus"
cp data/corpus/us-speeches/inaugural/1789-Washington.txt data/corpus/us-speeches/inaugural/1861-Lincoln.txt "$work/corpus/"
"$electra" shard --input "$work/corpus" --output "$work/shards" --seq-len 64 --vocab data/vocab.txt --quiet
"$electra" pretrain --data "$work/shards" --model-size tiny --steps 20 --batch 4 --lr 2e-3 --warmup 2 \
  --bias-correction --save-every 7 --out "$work/run" --quiet
ckpt="$work/run/checkpoint-latest"

# The sentence the discriminator scores, as ids of the bundled vocab (with [CLS]/[SEP]).
ids="101 1996 2343 2001 5379 2000 1996 2406 102"
echo "{\"ids\": [${ids// /, }]}" > "$work/in.jsonl"
"$electra" infer --model "$ckpt/discriminator" --input "$work/in.jsonl" --output "$work/disc.jsonl"
"$electra" infer --model "$ckpt/generator" --input "$work/in.jsonl" --output "$work/gen.jsonl"

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
