"""What a pre-trained encoder offers a sentence classifier before fine-tuning (issue 13, "Pre-training pays off").

For each checkpoint: the encoder's hidden states on SST-2 sentences (`[CLS] sentence [SEP]`), frozen, at the
output of the embeddings and of every layer; then two readings of each layer:
- the `[CLS]` vector, which HF's `ElectraClassificationHead` classifies, and the mean over the sentence's tokens;
- for each, the mean cosine similarity between sentences (1.0: the vector is the same whatever the input) and the
  dev accuracy of a logistic-regression probe trained on frozen features of --train-limit training sentences;
- the share of the `[CLS]` query's attention that lands on `[CLS]` and `[SEP]` (averaged over heads and sentences).
A probe measures what the frozen features hold; fine-tuning moves the features too, so it is a diagnosis, not a
prediction of the fine-tuned accuracy.

The forward pass is HF's `ElectraModel` in numpy (float64, no dropout). `--check` first compares its
discriminator logits with `electra infer` on the same ids (tolerance CHECK_TOL) so the probe reads the same model
that `electra finetune` starts from.

Usage: python probe_features.py --model DIR [--model DIR ...] --train SST2_TRAIN.tsv --dev SST2_DEV.tsv
       [--train-limit 3000] [--electra target/release/electra] [--check]
Needs numpy, scipy, scikit-learn and safetensors (pip install numpy scipy scikit-learn safetensors).
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file
from scipy.special import erf
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, str(Path(__file__).resolve().parent))
from glue_tsv import read_tsv  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
CLS_ID, SEP_ID = 101, 102
MAX_CONTENT = 126  # 128 positions with [CLS] and [SEP], the recipe's max length
# float64 here against electra's float32 forward: a 4-layer model's logits (|x| < ~20) agree to ~1e-5; 1e-3 leaves
# room for deeper models while still catching any wrong tensor or missed LayerNorm (those move logits by > 0.1).
CHECK_TOL = 1e-3
PROBE_C = 1.0  # logistic regression's inverse L2 strength (scikit-learn's default)


def tokenize(electra, vocab, texts):
    """WordPiece ids from `electra tokenize` (the tokenizer fine-tuning uses), framed as `[CLS] ids [SEP]`."""
    inp = "".join(json.dumps({"text": t}) + "\n" for t in texts)
    out = subprocess.run([electra, "tokenize", "--vocab", vocab], input=inp, capture_output=True, text=True,
                         check=True).stdout
    return [np.array([CLS_ID] + json.loads(l)["ids"][:MAX_CONTENT] + [SEP_ID]) for l in out.splitlines()]


def layer_norm(x, gamma, beta, eps):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def gelu(x):
    return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))


class Encoder:
    """HF's ElectraModel (absolute positions, token type 0, no padding), weights in float64."""

    def __init__(self, directory):
        self.cfg = json.loads((directory / "config.json").read_text())
        self.w = {k: v.astype(np.float64) for k, v in load_file(str(directory / "model.safetensors")).items()}

    def linear(self, name, x):
        return x @ self.w[name + ".weight"].T + self.w[name + ".bias"]

    def forward(self, ids):
        """Hidden states [embeddings, layer 1, ..., layer L], each (T, H), and per layer the [CLS] query's
        attention probabilities (heads, T)."""
        w, cfg, eps = self.w, self.cfg, self.cfg["layer_norm_eps"]
        p = "electra."
        t = len(ids)
        x = (w[p + "embeddings.word_embeddings.weight"][ids] + w[p + "embeddings.position_embeddings.weight"][:t]
             + w[p + "embeddings.token_type_embeddings.weight"][0])
        x = layer_norm(x, w[p + "embeddings.LayerNorm.weight"], w[p + "embeddings.LayerNorm.bias"], eps)
        if p + "embeddings_project.weight" in w:
            x = self.linear(p + "embeddings_project", x)
        hidden, cls_attention = [x], []
        heads = cfg["num_attention_heads"]
        d_head = cfg["hidden_size"] // heads
        for layer in range(cfg["num_hidden_layers"]):
            q = f"{p}encoder.layer.{layer}."
            split = lambda y: y.reshape(t, heads, d_head).transpose(1, 0, 2)  # noqa: E731  (T, H) -> (heads, T, d)
            query = split(self.linear(q + "attention.self.query", x))
            key = split(self.linear(q + "attention.self.key", x))
            value = split(self.linear(q + "attention.self.value", x))
            scores = query @ key.transpose(0, 2, 1) / np.sqrt(d_head)
            probs = np.exp(scores - scores.max(-1, keepdims=True))
            probs /= probs.sum(-1, keepdims=True)
            cls_attention.append(probs[:, 0, :])
            context = (probs @ value).transpose(1, 0, 2).reshape(t, cfg["hidden_size"])
            x = layer_norm(self.linear(q + "attention.output.dense", context) + x,
                           w[q + "attention.output.LayerNorm.weight"], w[q + "attention.output.LayerNorm.bias"], eps)
            ffn = self.linear(q + "output.dense", gelu(self.linear(q + "intermediate.dense", x)))
            x = layer_norm(ffn + x, w[q + "output.LayerNorm.weight"], w[q + "output.LayerNorm.bias"], eps)
            hidden.append(x)
        return hidden, cls_attention

    def discriminator_logits(self, last_hidden):
        """HF's ElectraDiscriminatorPredictions: dense -> GELU -> dense_prediction."""
        h = gelu(self.linear("discriminator_predictions.dense", last_hidden))
        return self.linear("discriminator_predictions.dense_prediction", h)[:, 0]


def check_against_electra(electra, directory, encoder, sequences):
    """The numpy forward's discriminator logits equal `electra infer`'s on the same ids."""
    inp = "".join(json.dumps({"ids": s.tolist()}) + "\n" for s in sequences)
    out = subprocess.run([electra, "infer", "--model", str(directory)], input=inp, capture_output=True, text=True,
                         check=True).stdout
    worst = 0.0
    for seq, line in zip(sequences, out.splitlines()):
        ours = np.array(json.loads(line)["logits"])
        mine = encoder.discriminator_logits(encoder.forward(seq)[0][-1])
        worst = max(worst, float(np.abs(ours - mine).max()))
    if worst > CHECK_TOL:
        sys.exit(f"{directory}: numpy forward differs from electra infer by {worst:.2e} (> {CHECK_TOL})")
    print(f"  check: discriminator logits within {worst:.1e} of electra infer on {len(sequences)} sentences")


def features(encoder, sequences):
    """(N, L+1, 2H): per layer the [CLS] vector then the token mean; (N, L) [CLS] attention on [CLS] + [SEP]."""
    feats, sink = [], []
    for seq in sequences:
        hidden, cls_attention = encoder.forward(seq)
        feats.append([np.concatenate([h[0], h.mean(0)]) for h in hidden])
        sink.append([float((a[:, 0] + a[:, -1]).mean()) for a in cls_attention])
    return np.array(feats), np.array(sink)


def mean_cosine(x):
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    return float((unit @ unit.T).mean())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, action="append", required=True, help="HF ELECTRA checkpoint directory")
    ap.add_argument("--train", type=Path, required=True)
    ap.add_argument("--dev", type=Path, required=True)
    ap.add_argument("--train-limit", type=int, default=3000)
    ap.add_argument("--electra", default=str(ROOT / "target" / "release" / "electra"))
    ap.add_argument("--check", action="store_true", help="compare with electra infer first")
    args = ap.parse_args()

    vocab = str(args.model[0] / "vocab.txt")
    train_texts, train_b, y_train = read_tsv(args.train)
    dev_texts, dev_b, y_dev = read_tsv(args.dev)
    if train_b is not None or dev_b is not None:
        sys.exit("probe_features.py reads single-sentence files (SST-2), not sentence pairs")
    train_texts, y_train = train_texts[: args.train_limit], np.array(y_train[: args.train_limit])
    y_dev = np.array(y_dev)
    train_ids, dev_ids = tokenize(args.electra, vocab, train_texts), tokenize(args.electra, vocab, dev_texts)
    print(f"{len(train_ids)} training and {len(dev_ids)} dev sentences; dev majority class "
          f"{max(y_dev.mean(), 1 - y_dev.mean()):.3f}")
    for directory in args.model:
        encoder = Encoder(directory)
        print(f"\n{directory}")
        if args.check:
            check_against_electra(args.electra, directory, encoder, dev_ids[:50])
        x_train, _ = features(encoder, train_ids)
        x_dev, sink = features(encoder, dev_ids)
        h = encoder.cfg["hidden_size"]
        print("| layer | [CLS] attention on [CLS]+[SEP] | [CLS] cosine | [CLS] probe | mean cosine | mean probe |")
        print("|---|---|---|---|---|---|")
        for layer in range(x_train.shape[1]):
            row = [f"{sink[:, layer - 1].mean():.3f}" if layer else "—"]
            for part in (slice(0, h), slice(h, 2 * h)):
                probe = LogisticRegression(max_iter=5000, C=PROBE_C).fit(x_train[:, layer, part], y_train)
                row += [f"{mean_cosine(x_dev[:, layer, part]):.3f}", f"{probe.score(x_dev[:, layer, part], y_dev):.3f}"]
            name = "embeddings" if layer == 0 else str(layer)
            print(f"| {name} | " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
