"""Fine-tunes an HF ELECTRA checkpoint in PyTorch + HF transformers with ELECTRA's recipe, the reference for
`electra finetune` (train-host/src/finetune/recipe.rs, trainer.rs, data.rs), on one of three tasks:

- `--task sst2` (default): ElectraForSequenceClassification on a single sentence (`sentence` or `text` column,
  `label`); dev metric accuracy.
- `--task mrpc`: ElectraForSequenceClassification on GLUE MRPC as distributed (`Quality`, `#1 String`,
  `#2 String`, a UTF-8 BOM; no quoting): sentence pairs `[CLS] a [SEP] b [SEP]` with token_type_ids 0/1,
  truncated longest-first (the fast tokenizer's `truncation=True`, as `electra finetune`). Dev metrics accuracy,
  F1 of class 1 and their mean `acc_and_f1`; the best epoch is chosen by F1, as `electra finetune` does.
- `--task conll2000`: ElectraForTokenClassification on a CoNLL file (word ... tag per line, whitespace-separated,
  blank lines and `-DOCSTART-` lines between sentences); the tag is the last column (`electra finetune --task
  tagging`'s default; `--tag-column` as ours), i.e. the chunk tag of CoNLL-2000. Only the first sub-token of each
  word carries its label, the others -100 (HF run_ner, `label_all_tokens=False`); words cut off by truncation or
  with no token are left out of the scores on both sides. Tag set as ours builds it: the training file's tags
  plus the dev file's (CoNLL-2000's test file has `I-LST`, which train never uses: it gets an output that training
  never makes positive, and a note says so), sorted numbers first by value then by code point, `O` moved first.
  Dev metrics: seqeval's span-level micro precision / recall / F1 (default mode, as HF `evaluate`'s `seqeval`:
  `overall_precision`, `overall_recall`, `overall_f1`) and token accuracy (`overall_accuracy`); headline
  `overall_f1`.

ELECTRA's recipe, as `electra finetune`'s defaults:
- AdamW, eps 1e-6, betas (0.9, 0.999), weight decay 0.01 except biases and LayerNorm. torch.optim.AdamW has no
  switch to turn bias correction off (ELECTRA's optimizer has none): by default this script keeps torch's bias
  correction (the speed benchmark: torch's fused/foreach AdamW is its fastest path), and `--no-bias-correction`
  uses `ElectraAdamW` below, ELECTRA's `AdamWeightDecayOptimizer` update written with torch's foreach ops (for
  learning comparisons, where the first steps' effective learning rate matters).
- peak lr 3e-4 for hidden size <= 256 (Small), 1e-4 above (Base), unless `--lr`.
- layer-wise lr decay 0.8: a tensor at depth d trains at lr * 0.8^(L+1-d) (embeddings depth 0, encoder layer l
  depth l+1, the head depth L+1; the paper's formula, not the released code's off-by-one), one param group per
  (depth, decay / no decay).
- warmup round(10% of the steps) from lr 0 at the first update, then linear decay to 0
  (get_linear_schedule_with_warmup, the same function as ours' LinearSchedule), global-norm clipping at 1.0.
- dropout: the checkpoint's config.json rates (hidden, attention, classifier falling back to hidden; HF's and
  ours' 0.1 where absent), `--dropout P` sets all three, as ours.
- batch 32, max length min(128, max_position_embeddings), 3 epochs, dev evaluation at the end of each epoch, the
  best epoch by the task's headline metric kept (ties keep the earlier, as ours).
- batches length-bucketed and dynamically padded as ours (data.rs `epoch_batches`): shuffle, sort each window of
  100 batches' examples by length, cut into batches, shuffle the batches (Python's `random`, not ours' generator:
  the two programs see different orders, head inits and dropout masks for the same seed).

Tokenization: BertTokenizerFast from the vocab (the checkpoint's vocab.txt by default, as ours; do_lower_case),
done before any timing; the tokenizer's size is checked against the vocab file (transformers 5 silently ignores
the `vocab_file=` argument of 4.x and builds a 5-token vocabulary). Each step is timed from the padded batch
tensors to the end of the optimizer and scheduler step (forward, backward, clip, AdamW): the same span as
`electra finetune`'s per-step `examples_per_s`. Reports the median of per-step examples/s (excluding the first
--skip steps), the mean over those steps, CPU seconds per example over the same steps (getrusage of the process,
user + sys, around each step), peak RSS, the dev metrics of every epoch and of the best one. Prints one line per
epoch on stderr and a final JSON line on stdout (also written to --out-json).

Usage: python finetune_torch.py [--task sst2|mrpc|conll2000] --train FILE --dev FILE --model DIR [--epochs 3]
       [--max-steps N] [--batch 32] [--lr LR] [--seed 1] [--threads N] [--no-bias-correction] [--out-json F]
"""
import argparse
import inspect
import json
import math
import os
import random
import resource
import statistics
import struct
import sys
import time
import warnings
from pathlib import Path

import torch
from transformers import (BertTokenizerFast, ElectraConfig, ElectraForSequenceClassification,
                          ElectraForTokenClassification, get_linear_schedule_with_warmup)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from glue_tsv import read_tsv  # noqa: E402  (re-exported: evaluate_hf.py imports it from here)

TASKS = ("sst2", "mrpc", "conll2000")
# The metric that picks the best epoch (ours: evaluate.rs `class_metric`, metrics.rs `tagging_report`).
HEADLINE = {"sst2": "accuracy", "mrpc": "f1", "conll2000": "overall_f1"}
SORT_WINDOW_BATCHES = 100
LAYER_DECAY = 0.8
WEIGHT_DECAY = 0.01
# Ours keeps the warmup fraction as an f32 and rounds `fraction * total` half away from zero; the f32 value of
# 0.1 (0.10000000149...) is used here so that the warmup step count is the same for every total.
WARMUP_FRACTION = struct.unpack("f", struct.pack("f", 0.1))[0]
MAX_LEN = 128
# recipe.rs SMALL_MAX_HIDDEN: hidden sizes up to this get ELECTRA-Small's peak lr.
SMALL_MAX_HIDDEN = 256
IGNORE_INDEX = -100
EVAL_BATCH = 64


def bert_tokenizer(vocab_path):
    """BertTokenizerFast over `vocab_path` (one token a line, id = line index), on transformers 4 and 5 alike.
    transformers 5 takes `vocab` (a dict or a path) and ignores 4.x's `vocab_file`, leaving a tokenizer of the
    five special tokens that maps every word to [UNK]: the size is checked so that this cannot pass silently."""
    with open(vocab_path, encoding="utf-8") as f:
        tokens = [line.rstrip("\r\n") for line in f]
    vocab = {}
    for i, t in enumerate(tokens):
        vocab.setdefault(t, i)
    if "vocab" in inspect.signature(BertTokenizerFast.__init__).parameters:
        tokenizer = BertTokenizerFast(vocab=vocab, do_lower_case=True)
    else:
        tokenizer = BertTokenizerFast(vocab_file=str(vocab_path), do_lower_case=True)
    if len(tokenizer) != len(tokens) or tokenizer.convert_tokens_to_ids("[CLS]") != vocab.get("[CLS]"):
        raise SystemExit(f"{vocab_path}: the tokenizer has {len(tokenizer)} tokens, the file {len(tokens)} "
                         f"(transformers {__import__('transformers').__version__} did not load the vocabulary)")
    return tokenizer


def encode(tokenizer, path, task="sst2", max_len=MAX_LEN):
    """[(input_ids, token_type_ids, label)] of a SST-2 or MRPC file."""
    a, b, labels = read_tsv(path)
    if task == "mrpc" and b is None:
        raise SystemExit(f"{path}: --task mrpc needs the `#1 String` and `#2 String` columns")
    if task == "sst2" and b is not None:
        raise SystemExit(f"{path}: --task sst2 takes single sentences, this file has sentence pairs")
    enc = tokenizer(a, b, truncation=True, max_length=max_len) if b is not None else \
        tokenizer(a, truncation=True, max_length=max_len)
    return [(ids, tt, y) for ids, tt, y in zip(enc["input_ids"], enc["token_type_ids"], labels)]


def read_conll(path, tag_column=None):
    """[(words, tags)] of a CoNLL file, as ours' `read_tagged` reads it."""
    sentences, words, tags = [], [], []
    with open(path, encoding="utf-8-sig") as f:
        for n, line in enumerate(f, 1):
            fields = line.split()
            if not fields or fields[0] == "-DOCSTART-":
                if words:
                    sentences.append((words, tags))
                words, tags = [], []
                continue
            if len(fields) < 2:
                raise SystemExit(f"{path}: line {n}: one column (`{fields[0]}`) where a word and its tag were "
                                 "expected")
            if tag_column is None:
                tag = fields[-1]
            elif tag_column == 0 or tag_column >= len(fields):
                raise SystemExit(f"{path}: line {n}: tag column {tag_column} is the word column or out of range "
                                 f"({len(fields)} columns)")
            else:
                tag = fields[tag_column]
            words.append(fields[0])
            tags.append(tag)
    if words:
        sentences.append((words, tags))
    if not sentences:
        raise SystemExit(f"{path}: no sentences")
    return sentences


def label_order_key(label):
    """Ours' `label_order`: finite numbers first by value (ties by text), then text by code point."""
    try:
        x = float(label.strip())
    except ValueError:
        x = None
    if x is not None and math.isfinite(x):
        return (0, x, label)
    return (1, 0.0, label)


def tag_set(train, dev, dev_path):
    """Ours' `tag_set` + `LabelMap::for_task(Tagging, ...)`: train and dev tags, sorted, `O` first."""
    known = {t for _, tags in train for t in tags}
    dev_only = sorted({t for _, tags in dev for t in tags} - known)
    if dev_only:
        print(f"note: {dev_path}: tags not in the training file: {', '.join(dev_only)}; the model gets an output "
              "for each, never trained positive", file=sys.stderr)
    labels = sorted(known | set(dev_only), key=label_order_key)
    if "O" in labels:
        labels.remove("O")
        labels.insert(0, "O")
    return labels


def encode_tagged(tokenizer, sentences, label_ids, max_len=MAX_LEN):
    """[(input_ids, token_type_ids, token labels, word starts, gold tags)]: each word's label on its first
    sub-token, -100 elsewhere; `word starts[i]` is word i's first token, None if it has none (truncated)."""
    enc = tokenizer([w for w, _ in sentences], is_split_into_words=True, truncation=True, max_length=max_len)
    out = []
    for i, (words, tags) in enumerate(sentences):
        ids = enc["input_ids"][i]
        labels = [IGNORE_INDEX] * len(ids)
        starts = [None] * len(words)
        previous = None
        for j, w in enumerate(enc.word_ids(i)):
            if w is not None and w != previous:
                labels[j] = label_ids[tags[w]]
                starts[w] = j
            previous = w
        out.append((ids, enc["token_type_ids"][i], labels, starts, tags))
    return out


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
    """Padded (input_ids, token_type_ids, attention_mask, labels); token labels are padded with -100."""
    n = max(len(examples[i][0]) for i in indices)
    ids = torch.zeros(len(indices), n, dtype=torch.long)
    tt = torch.zeros(len(indices), n, dtype=torch.long)
    mask = torch.zeros(len(indices), n, dtype=torch.long)
    tagging = isinstance(examples[indices[0]][2], list)
    labels = torch.full((len(indices), n), IGNORE_INDEX, dtype=torch.long) if tagging else \
        torch.tensor([examples[i][2] for i in indices])
    for r, i in enumerate(indices):
        e = examples[i]
        k = len(e[0])
        ids[r, :k] = torch.tensor(e[0])
        tt[r, :k] = torch.tensor(e[1])
        mask[r, :k] = 1
        if tagging:
            labels[r, :k] = torch.tensor(e[2])
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


def classification_metrics(task, gold, pred):
    """accuracy (and for MRPC F1 of class 1, scikit-learn's with zero_division=0, and acc_and_f1)."""
    acc = sum(1 for g, p in zip(gold, pred) if g == p) / len(gold)
    if task != "mrpc":
        return {"accuracy": acc}
    tp = sum(1 for g, p in zip(gold, pred) if g == 1 and p == 1)
    fp = sum(1 for g, p in zip(gold, pred) if g == 0 and p == 1)
    fn = sum(1 for g, p in zip(gold, pred) if g == 1 and p == 0)
    f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    return {"accuracy": acc, "f1": f1, "acc_and_f1": (acc + f1) / 2}


def tagging_metrics(gold, pred):
    """seqeval's (default mode) span-level micro scores and token accuracy, HF `evaluate`'s names."""
    from seqeval.metrics import accuracy_score, f1_score, precision_score, recall_score
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # seqeval warns, then reports 0, when no span is predicted
        return {"overall_precision": precision_score(gold, pred), "overall_recall": recall_score(gold, pred),
                "overall_f1": f1_score(gold, pred), "overall_accuracy": accuracy_score(gold, pred)}


@torch.no_grad()
def predict(model, examples, batch=EVAL_BATCH):
    """Logits argmax per example (a class, or a list of token classes), longest first in batches, as ours."""
    model.eval()
    order = sorted(range(len(examples)), key=lambda i: -len(examples[i][0]))
    preds = [None] * len(examples)
    for s in range(0, len(order), batch):
        idx = order[s:s + batch]
        ids, tt, mask, _ = pad(examples, idx)
        best = model(input_ids=ids, token_type_ids=tt, attention_mask=mask).logits.argmax(-1).tolist()
        for i, p in zip(idx, best):
            preds[i] = p
    model.train()
    return preds


def evaluate(model, examples, task="sst2", id2label=None):
    preds = predict(model, examples)
    if task != "conll2000":
        return classification_metrics(task, [e[2] for e in examples], preds)
    gold_tags, pred_tags = [], []
    for (_, _, _, starts, tags), p in zip(examples, preds):
        kept = [(tags[w], id2label[p[s]]) for w, s in enumerate(starts) if s is not None]
        gold_tags.append([g for g, _ in kept])
        pred_tags.append([q for _, q in kept])
    return tagging_metrics(gold_tags, pred_tags)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", choices=TASKS, default="sst2")
    ap.add_argument("--train", required=True)
    ap.add_argument("--dev")
    ap.add_argument("--model", required=True, help="HF ELECTRA checkpoint directory")
    ap.add_argument("--vocab", help="default: the checkpoint's vocab.txt, else the repository's data/vocab.txt")
    ap.add_argument("--tag-column", type=int, help="conll2000: 0-based column of the tag (default: the last)")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--max-steps", type=int, help="stop after this many steps (the schedule still spans "
                    "min(max-steps, epochs * steps per epoch))")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--max-len", type=int, default=MAX_LEN)
    ap.add_argument("--lr", type=float, help="peak lr (default 3e-4 for hidden size <= 256, else 1e-4)")
    ap.add_argument("--dropout", type=float, help="one rate for every site (default: config.json's)")
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
    vocab = args.vocab or next(p for p in (Path(args.model) / "vocab.txt",
                                           Path(__file__).resolve().parents[2] / "data" / "vocab.txt") if p.exists())
    tokenizer = bert_tokenizer(vocab)
    config = ElectraConfig.from_pretrained(args.model)
    max_len = min(args.max_len, config.max_position_embeddings)
    lr = args.lr if args.lr is not None else (3e-4 if config.hidden_size <= SMALL_MAX_HIDDEN else 1e-4)
    overrides = {}
    if args.dropout is not None:
        overrides = dict(hidden_dropout_prob=args.dropout, attention_probs_dropout_prob=args.dropout,
                         classifier_dropout=args.dropout)
    id2label = None
    if args.task == "conll2000":
        train_sentences = read_conll(args.train, args.tag_column)
        dev_sentences = read_conll(args.dev, args.tag_column) if args.dev else []
        id2label = tag_set(train_sentences, dev_sentences, args.dev)
        label_ids = {t: i for i, t in enumerate(id2label)}
        train = encode_tagged(tokenizer, train_sentences, label_ids, max_len)
        dev = encode_tagged(tokenizer, dev_sentences, label_ids, max_len) if args.dev else []
        model = ElectraForTokenClassification.from_pretrained(
            args.model, num_labels=len(id2label), id2label=dict(enumerate(id2label)), label2id=label_ids,
            **overrides)
    else:
        train = encode(tokenizer, args.train, args.task, max_len)
        dev = encode(tokenizer, args.dev, args.task, max_len) if args.dev else []
        model = ElectraForSequenceClassification.from_pretrained(args.model, num_labels=2, **overrides)
    c = model.config
    dropout = {"hidden": c.hidden_dropout_prob, "attention": c.attention_probs_dropout_prob,
               "classifier": c.classifier_dropout if c.classifier_dropout is not None else c.hidden_dropout_prob}
    model.train()
    steps_per_epoch = (len(train) + args.batch - 1) // args.batch
    total = args.epochs * steps_per_epoch
    if args.max_steps:
        total = min(total, args.max_steps)
    warmup = math.floor(WARMUP_FRACTION * total + 0.5)
    print(f"fine-tuning {args.model} for {args.task}: {len(train)} train, {len(dev)} dev, lr {lr:.1e}, layer decay "
          f"{LAYER_DECAY}, warmup {warmup} of {total} steps, batch {args.batch}, max {max_len} tokens, dropout "
          f"{dropout['hidden']}/{dropout['attention']}/{dropout['classifier']}, "
          f"{'no ' if args.no_bias_correction else ''}bias correction", file=sys.stderr)
    if args.no_bias_correction:
        opt = ElectraAdamW(param_groups(model, lr), lr=lr, betas=(0.9, 0.999), eps=1e-6)
    else:
        opt = torch.optim.AdamW(param_groups(model, lr), lr=lr, betas=(0.9, 0.999), eps=1e-6)
    sched = get_linear_schedule_with_warmup(opt, warmup, total)

    headline = HEADLINE[args.task]
    per_step, losses, evals = [], [], []
    best = None
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
            if not math.isfinite(losses[-1]):
                raise SystemExit(f"step {step}: loss is {losses[-1]}")
            if step % 20 == 0 or step <= 3:
                print(f"step {step}/{total}: {len(indices) / dt:.1f} examples/s ({ids.shape[1]} tokens), "
                      f"loss {losses[-1]:.4f}", file=sys.stderr, flush=True)
        if dev and step <= total and (step % steps_per_epoch == 0 or step == total):
            metrics = evaluate(model, dev, args.task, id2label)
            record = {"step": step, "epoch": step / steps_per_epoch, **metrics}
            evals.append(record)
            value = metrics[headline]
            # NaN never wins; ties keep the earlier epoch (ours' `is_best`).
            if math.isfinite(value) and (best is None or value > best[headline]):
                best = record
            print(f"epoch {epoch + 1} (step {step}): dev {headline} = {value:.4f}  "
                  + " ".join(f"{k} {v:.4f}" for k, v in metrics.items()), file=sys.stderr, flush=True)
        if step >= total:
            break
    train_wall = time.perf_counter() - wall0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    timed = per_step[args.skip:]
    timed_examples = sum(n for n, _, _ in timed)
    cpu_per_example = sum(c for _, _, c in timed) / timed_examples if timed_examples else None
    result = {
        "impl": f"pytorch {torch.__version__}", "task": args.task, "threads": torch.get_num_threads(),
        "steps": step, "train_examples": len(train), "dev_examples": len(dev), "batch": args.batch,
        "seed": args.seed, "lr": lr, "warmup_steps": warmup, "dropout": dropout,
        "bias_correction": not args.no_bias_correction, "labels": id2label,
        "examples_per_s_median": statistics.median(n / dt for n, dt, _ in timed) if timed else None,
        "examples_per_s_mean": timed_examples / sum(dt for _, dt, _ in timed) if timed else None,
        "cpu_s_per_example": cpu_per_example,
        "peak_rss_mib": usage.ru_maxrss / 1024.0,
        "train_wall_s": train_wall,
        "final_loss": losses[-1] if losses else None,
        "headline": headline,
        "dev": evals[-1] if evals else None,
        "best": best,
        "evals": evals,
    }
    print(json.dumps(result))
    if args.out_json:
        tmp = f"{args.out_json}.tmp{os.getpid()}"
        Path(tmp).write_text(json.dumps(result, indent=1) + "\n")
        os.replace(tmp, args.out_json)


if __name__ == "__main__":
    main()
