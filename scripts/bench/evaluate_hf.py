"""The HF side of `electra evaluate`: a fine-tuned ElectraForSequenceClassification over a labelled GLUE TSV
(SST-2 `text|sentence, label`, or MRPC's columns), a plain batched forward in eval mode under torch.inference_mode,
examples sorted longest first and cut into batches of --batch, each padded to its longest (as `electra evaluate`
does), all cores unless --threads. Timed: reading + tokenizing (BertTokenizerFast, do_lower_case) + forward, the
span `electra evaluate` reports as its seconds; the forward alone too. Prints one JSON object.

Usage: python evaluate_hf.py --model DIR --data dev.tsv [--batch 64] [--threads N] [--vocab vocab.txt]
"""
import argparse
import json
import sys
import time
from pathlib import Path

import torch
from transformers import ElectraForSequenceClassification

sys.path.insert(0, str(Path(__file__).resolve().parent))
from finetune_torch import MAX_LEN, bert_tokenizer, pad, read_tsv  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int)
    ap.add_argument("--vocab", help="default: the model's vocab.txt, else data/vocab.txt")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    vocab = args.vocab or next(p for p in (Path(args.model) / "vocab.txt",
                                           Path(__file__).resolve().parents[2] / "data" / "vocab.txt") if p.exists())
    model = ElectraForSequenceClassification.from_pretrained(args.model).eval()
    # The one loader of finetune_torch.py: transformers 5 ignores `vocab_file=` and would map every word to [UNK].
    tokenizer = bert_tokenizer(vocab)

    started = time.perf_counter()
    a, b, labels = read_tsv(args.data)
    enc = tokenizer(a, b, truncation=True, max_length=MAX_LEN) if b is not None else \
        tokenizer(a, truncation=True, max_length=MAX_LEN)
    examples = list(zip(enc["input_ids"], enc["token_type_ids"], labels))
    order = sorted(range(len(examples)), key=lambda i: -len(examples[i][0]))
    preds = [0] * len(examples)
    forward = 0.0
    with torch.inference_mode():
        for s in range(0, len(order), args.batch):
            idx = order[s:s + args.batch]
            ids, tt, mask, _ = pad(examples, idx)
            t = time.perf_counter()
            logits = model(input_ids=ids, token_type_ids=tt, attention_mask=mask).logits
            forward += time.perf_counter() - t
            for i, p in zip(idx, logits.argmax(-1).tolist()):
                preds[i] = p
    seconds = time.perf_counter() - started
    accuracy = sum(p == y for p, y in zip(preds, labels)) / len(labels)
    print(json.dumps({"impl": f"pytorch {torch.__version__}", "threads": torch.get_num_threads(),
                      "examples": len(examples), "tokens": sum(len(e[0]) for e in examples),
                      "seconds": seconds, "forward_seconds": forward,
                      "examples_per_s": len(examples) / seconds, "accuracy": accuracy}))


if __name__ == "__main__":
    main()
