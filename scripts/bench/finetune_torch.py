"""Fine-tunes ElectraForSequenceClassification in PyTorch + HF transformers with ELECTRA's recipe, the reference for
`electra finetune` (train-host/src/finetune/recipe.rs):

- AdamW, eps 1e-6, betas (0.9, 0.999), weight decay 0.01 except biases and LayerNorm. torch.optim.AdamW has no
  switch to turn bias correction off (ELECTRA's optimizer has none): by default this script keeps torch's bias
  correction (the speed benchmark: torch's fused/foreach AdamW is its fastest path), and `--no-bias-correction`
  uses `ElectraAdamW` below, ELECTRA's `AdamWeightDecayOptimizer` update written with torch's foreach ops (for
  learning comparisons, where the first steps' effective learning rate matters).
- layer-wise lr decay 0.8: a tensor at depth d trains at lr * 0.8^(L+1-d) (embeddings depth 0, encoder layer l
  depth l+1, the head depth L+1), one param group per (depth, decay / no decay).
- 10% linear warmup then linear decay to 0 (get_linear_schedule_with_warmup), global-norm clipping at 1.0,
  dropout 0.1 (hidden and attention), batch 32, max length 128.
- batches length-bucketed and dynamically padded as `electra finetune` does (data.rs `epoch_batches`): shuffle,
  sort each window of 100 batches' examples by length, cut into batches, shuffle the batches.

Tokenization: BertTokenizerFast from the vocab (do_lower_case), done before any timing. Each step is timed from
the padded batch tensors to the end of the optimizer and scheduler step (forward, backward, clip, AdamW): the same
span as `electra finetune`'s per-step `examples_per_s`. Reports the median of per-step examples/s (excluding the
first --skip steps), the mean over those steps, CPU seconds per example over the same steps (getrusage of the
process, user + sys, around each step), peak RSS, and dev accuracy / F1 at the end.

Usage: python finetune_torch.py --train train.tsv --dev dev.tsv --model DIR [--epochs 3] [--max-steps N]
       [--batch 32] [--lr 3e-4] [--seed 1] [--threads N] [--out-json results.json]
"""
import argparse
import csv
import json
import random
import resource
import statistics
import sys
import time
from pathlib import Path

import torch
from transformers import BertTokenizerFast, ElectraForSequenceClassification, get_linear_schedule_with_warmup

SORT_WINDOW_BATCHES = 100
LAYER_DECAY = 0.8
WEIGHT_DECAY = 0.01
WARMUP_FRACTION = 0.1
MAX_LEN = 128


def read_tsv(path):
    """(texts_a, texts_b or None, labels) from SST-2 (`sentence|text`, `label`) or MRPC (GLUE columns, BOM)."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    header, rows = [h.strip() for h in rows[0]], [r for r in rows[1:] if r]
    if "#1 String" in header:  # MRPC
        a, b, y = header.index("#1 String"), header.index("#2 String"), header.index("Quality")
        return [r[a] for r in rows], [r[b] for r in rows], [int(r[y]) for r in rows]
    a = header.index("sentence") if "sentence" in header else header.index("text")
    y = header.index("label")
    return [r[a] for r in rows], None, [int(r[y]) for r in rows]


def encode(tokenizer, path):
    a, b, labels = read_tsv(path)
    enc = tokenizer(a, b, truncation=True, max_length=MAX_LEN) if b is not None else \
        tokenizer(a, truncation=True, max_length=MAX_LEN)
    return [(ids, tt, y) for ids, tt, y in zip(enc["input_ids"], enc["token_type_ids"], labels)]


def epoch_batches(examples, batch, rng):
    order = list(range(len(examples)))
    rng.shuffle(order)
    batches = []
    window = batch * SORT_WINDOW_BATCHES
    for start in range(0, len(order), window):
        w = sorted(order[start:start + window], key=lambda i: len(examples[i][0]))
        batches.extend(w[i:i + batch] for i in range(0, len(w), batch))
    rng.shuffle(batches)
    return batches


def pad(examples, indices):
    n = max(len(examples[i][0]) for i in indices)
    ids = torch.zeros(len(indices), n, dtype=torch.long)
    tt = torch.zeros(len(indices), n, dtype=torch.long)
    mask = torch.zeros(len(indices), n, dtype=torch.long)
    for r, i in enumerate(indices):
        e = examples[i]
        k = len(e[0])
        ids[r, :k] = torch.tensor(e[0])
        tt[r, :k] = torch.tensor(e[1])
        mask[r, :k] = 1
    labels = torch.tensor([examples[i][2] for i in indices])
    return ids, tt, mask, labels


class ElectraAdamW(torch.optim.Optimizer):
    """ELECTRA's AdamWeightDecayOptimizer (google-research/electra model/optimization.py): m and v as Adam's, no
    bias correction, update = m / (sqrt(v) + eps) + wd * p, p -= lr * update. The same update as
    `electra finetune`'s AdamW with bias correction off (train-host/src/optim)."""

    def __init__(self, params, lr, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            grads = [p.grad for p in params]
            beta1, beta2 = group["betas"]
            ms, vs = [], []
            for p in params:
                state = self.state[p]
                if not state:
                    state["m"], state["v"] = torch.zeros_like(p), torch.zeros_like(p)
                ms.append(state["m"])
                vs.append(state["v"])
            torch._foreach_lerp_(ms, grads, 1 - beta1)          # m = b1 m + (1 - b1) g
            torch._foreach_mul_(vs, beta2)
            torch._foreach_addcmul_(vs, grads, grads, 1 - beta2)  # v = b2 v + (1 - b2) g^2
            denom = torch._foreach_sqrt(vs)
            torch._foreach_add_(denom, group["eps"])
            update = torch._foreach_div(ms, denom)
            if group["weight_decay"]:
                torch._foreach_add_(update, params, alpha=group["weight_decay"])
            torch._foreach_add_(params, update, alpha=-group["lr"])


def depth(name, num_layers):
    if name.startswith("electra.embeddings"):  # embeddings and embeddings_project
        return 0
    if name.startswith("electra.encoder.layer."):
        return int(name.split(".")[3]) + 1
    return num_layers + 1


def param_groups(model, lr):
    num_layers = model.config.num_hidden_layers
    groups = {}
    for name, p in model.named_parameters():
        d = depth(name, num_layers)
        no_decay = name.endswith("bias") or "LayerNorm" in name
        key = (d, no_decay)
        if key not in groups:
            groups[key] = {"params": [], "lr": lr * LAYER_DECAY ** (num_layers + 1 - d),
                           "weight_decay": 0.0 if no_decay else WEIGHT_DECAY}
        groups[key]["params"].append(p)
    return list(groups.values())


@torch.no_grad()
def evaluate(model, examples, batch=64):
    model.eval()
    order = sorted(range(len(examples)), key=lambda i: -len(examples[i][0]))
    preds = {}
    for s in range(0, len(order), batch):
        idx = order[s:s + batch]
        ids, tt, mask, _ = pad(examples, idx)
        logits = model(input_ids=ids, token_type_ids=tt, attention_mask=mask).logits
        for i, p in zip(idx, logits.argmax(-1).tolist()):
            preds[i] = p
    model.train()
    gold = [e[2] for e in examples]
    pred = [preds[i] for i in range(len(examples))]
    tp = sum(1 for g, p in zip(gold, pred) if g == 1 and p == 1)
    fp = sum(1 for g, p in zip(gold, pred) if g == 0 and p == 1)
    fn = sum(1 for g, p in zip(gold, pred) if g == 1 and p == 0)
    acc = sum(1 for g, p in zip(gold, pred) if g == p) / len(gold)
    f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    return {"accuracy": acc, "f1": f1}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", required=True)
    ap.add_argument("--dev")
    ap.add_argument("--model", required=True, help="HF ELECTRA checkpoint directory")
    ap.add_argument("--vocab", default=str(Path(__file__).resolve().parents[2] / "data" / "vocab.txt"))
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--max-steps", type=int, help="stop after this many steps (the schedule still spans "
                    "min(max-steps, epochs * steps per epoch))")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--skip", type=int, default=5, help="steps left out of the median (warm-up)")
    ap.add_argument("--out-json")
    ap.add_argument("--no-bias-correction", action="store_true",
                    help="ELECTRA's optimizer (no Adam bias correction), as `electra finetune`'s default recipe")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    tokenizer = BertTokenizerFast(vocab_file=args.vocab, do_lower_case=True)
    train = encode(tokenizer, args.train)
    dev = encode(tokenizer, args.dev) if args.dev else []
    model = ElectraForSequenceClassification.from_pretrained(
        args.model, num_labels=2, hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)
    model.train()
    steps_per_epoch = (len(train) + args.batch - 1) // args.batch
    total = args.epochs * steps_per_epoch
    if args.max_steps:
        total = min(total, args.max_steps)
    if args.no_bias_correction:
        opt = ElectraAdamW(param_groups(model, args.lr), lr=args.lr, betas=(0.9, 0.999), eps=1e-6)
    else:
        opt = torch.optim.AdamW(param_groups(model, args.lr), lr=args.lr, betas=(0.9, 0.999), eps=1e-6)
    sched = get_linear_schedule_with_warmup(opt, int(WARMUP_FRACTION * total), total)

    per_step, losses, evals = [], [], []
    step = 0
    wall0 = time.perf_counter()
    for epoch in range(args.epochs):
        for indices in epoch_batches(train, args.batch, rng):
            if step >= total:
                break
            ids, tt, mask, labels = pad(train, indices)
            r0 = resource.getrusage(resource.RUSAGE_SELF)
            t = time.perf_counter()
            loss = model(input_ids=ids, token_type_ids=tt, attention_mask=mask, labels=labels).loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            dt = time.perf_counter() - t
            r1 = resource.getrusage(resource.RUSAGE_SELF)
            step += 1
            per_step.append((len(indices), dt, r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime))
            losses.append(loss.item())
            if step % 20 == 0 or step <= 3:
                print(f"step {step}/{total}: {len(indices) / dt:.1f} examples/s ({ids.shape[1]} tokens), "
                      f"loss {losses[-1]:.4f}", file=sys.stderr, flush=True)
        if dev and step <= total and (step % steps_per_epoch == 0 or step == total):
            evals.append({"step": step, **evaluate(model, dev)})
            print(f"step {step}: dev {evals[-1]}", file=sys.stderr)
        if step >= total:
            break
    train_wall = time.perf_counter() - wall0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    timed = per_step[args.skip:]
    timed_examples = sum(n for n, _, _ in timed)
    cpu_per_example = sum(c for _, _, c in timed) / timed_examples if timed_examples else None
    result = {
        "impl": f"pytorch {torch.__version__}", "threads": torch.get_num_threads(), "steps": step,
        "train_examples": len(train), "batch": args.batch, "seed": args.seed,
        "examples_per_s_median": statistics.median(n / dt for n, dt, _ in timed) if timed else None,
        "examples_per_s_mean": timed_examples / sum(dt for _, dt, _ in timed) if timed else None,
        "cpu_s_per_example": cpu_per_example,
        "peak_rss_mib": usage.ru_maxrss / 1024.0,
        "train_wall_s": train_wall,
        "final_loss": losses[-1] if losses else None,
        "dev": evals[-1] if evals else None,
        "evals": evals,
    }
    print(json.dumps(result))
    if args.out_json:
        Path(args.out_json).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
