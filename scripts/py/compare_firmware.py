#!/usr/bin/env python3
"""What the firmware printed against the host, for scripts/test.d/50-firmware-qemu.sh and 55-firmware-classifier.sh.

    compare_firmware.py ids LOG OUT
        Writes the token ids of every `RESULT` line of the QEMU log LOG to OUT, one {"ids": [...]} line each (the
        input for `electra infer`).
    compare_firmware.py check --log LOG --texts TEXTS --host-tokens F --host-int8 F [--host-float F] [--max-seq-len N]
        Checks, sentence by sentence (TEXTS: the {"text": ...} lines the firmware was built with):
        - its on-device tokenization against `electra tokenize` (identical ids: [CLS] + ids + [SEP], truncated);
        - its int8 logits against `electra infer` on the same model file (identical f32 bits: the int8 engine promises
          the same result for every kernel twin and FPU, Arm DSP on each Cortex-M board and AVX2/VNNI or scalar on
          the host);
        - a classifier's decision against the host's: the same label (and its probability, to f32 rounding), the same
          tag per token, the same score;
        - with --host-float, the logits against float32 `electra infer` on the HF checkpoint the file was exported
          from (within the tolerance stated below).
        Prints one line per sentence; exits non-zero with the reason on the first mismatch.

Standard library only: it runs with the system python3, no virtual environment.
"""

import argparse
import json
import math
import struct
import sys

CLS, SEP = 101, 102  # the BERT uncased vocab's [CLS] and [SEP], which every firmware test model embeds

# int8 on the device against float32 on the host. The tolerance: int8 weights (per output row) and int8 activations
# (per row, dynamic) each carry a rounding error of at most half a step, 1/254 of the row's range, which through two
# layers stays within a few percent of the logits' scale; 5 % of the largest float logit is that with room. The
# correlation bar is the int8 issue's own for RTD logits (0.999). A wiring or layout mistake moves logits by their
# whole size and decorrelates them, failing both.
MAX_ERROR_FRACTION_OF_SCALE = 0.05
MIN_CORRELATION = 0.999
# The firmware's softmax runs in f32 with the core's polynomial exp (about 2 ulp); the host's in float64.
MAX_PROBABILITY_DIFFERENCE = 1e-5


def results(log_path):
    """The JSON objects of the log's `RESULT ` lines, in order."""
    with open(log_path, encoding="utf-8", errors="replace") as log:
        return [json.loads(line[len("RESULT "):]) for line in log if line.startswith("RESULT ")]


def json_lines(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def flat(value):
    """A logit, a list of logits or a list of lists (token classification), as one flat list."""
    if isinstance(value, list):
        return [x for v in value for x in flat(v)]
    return [value]


def f32_bits(x):
    return struct.unpack("<I", struct.pack("<f", x))[0]


def fail(message):
    sys.exit(f"firmware vs host: {message}")


def write_ids(log_path, out_path):
    found = results(log_path)
    if not found:
        fail(f"no RESULT line in {log_path}")
    with open(out_path, "w", encoding="utf-8") as out:
        for result in found:
            out.write(json.dumps({"ids": result["ids"]}) + "\n")


def check_sentence(n, text, firmware, host_ids, host, max_seq_len):
    """Checks sentence `n`; returns (its flat firmware logits, a summary for the person)."""
    where = f"sentence {n} ({text[:40]!r})"
    ids, logits = firmware["ids"], flat(firmware["logits"])
    expected_ids = [CLS] + host_ids[: max_seq_len - 2] + [SEP]
    if ids != expected_ids:
        fail(f"{where}: firmware token ids differ from `electra tokenize`:\n  firmware {ids}\n  host     {expected_ids}")

    # int8 on the device against int8 on the host: both sides print the shortest decimal that reads back as the same
    # f32, so equal f32 bits are equal strings after the round trip.
    host_logits = flat(host["logits"])
    if len(host_logits) != len(logits):
        fail(f"{where}: {len(logits)} firmware logits, {len(host_logits)} from host int8 `electra infer`")
    differing = [i for i, (a, b) in enumerate(zip(logits, host_logits)) if f32_bits(a) != f32_bits(b)]
    if differing:
        worst = max(abs(logits[i] - host_logits[i]) for i in differing)
        fail(f"{where}: int8 logits differ from the host's at {differing} (largest difference {worst:.3g})")

    decision = ""
    if "label" in firmware:
        if firmware["label"] != host.get("label"):
            fail(f"{where}: firmware label {firmware['label']!r}, host {host.get('label')!r}")
        p_host = host["probabilities"][firmware["label"]]
        if not abs(firmware["probability"] - p_host) <= MAX_PROBABILITY_DIFFERENCE:
            fail(f"{where}: firmware probability {firmware['probability']}, host {p_host}")
        decision = f"{firmware['label']} ({firmware['probability']:.2f})"
    if "labels" in firmware:
        if firmware["labels"] != host.get("labels"):
            fail(f"{where}: firmware labels {firmware['labels']}, host {host.get('labels')}")
        decision = " ".join(firmware["labels"])
    if "score" in firmware:
        if f32_bits(firmware["score"]) != f32_bits(host.get("score", math.nan)):
            fail(f"{where}: firmware score {firmware['score']}, host {host.get('score')}")
        decision = f"score {firmware['score']:.4f}"
    summary = f"{n:3} {len(ids):3} tokens, {len(logits):4} logits identical  {decision}"
    return logits, summary


def check_float(firmware_logits, float_logits):
    f32 = lambda x: struct.unpack("f", struct.pack("f", x))[0]
    if len(firmware_logits) != len(float_logits):
        fail(f"{len(firmware_logits)} firmware logits, {len(float_logits)} from float32 `electra infer`")
    logits = [f32(x) for x in firmware_logits]
    scale = max(abs(x) for x in float_logits)
    worst = max(abs(a - b) for a, b in zip(logits, float_logits))
    n = len(logits)
    ma, mb = sum(logits) / n, sum(float_logits) / n
    cov = sum((a - ma) * (b - mb) for a, b in zip(logits, float_logits))
    var_a = sum((a - ma) ** 2 for a in logits)
    var_b = sum((b - mb) ** 2 for b in float_logits)
    correlation = cov / math.sqrt(var_a * var_b) if var_a > 0 and var_b > 0 else float("nan")
    print(f"int8 firmware vs float32 host: max |difference| {worst:.3g} (scale {scale:.3g}), correlation {correlation:.6f}")
    if not worst <= MAX_ERROR_FRACTION_OF_SCALE * scale:
        fail(f"logits differ from float32 by {worst:.3g} > {MAX_ERROR_FRACTION_OF_SCALE} x {scale:.3g}")
    if not correlation >= MIN_CORRELATION:
        fail(f"logits correlate {correlation:.6f} < {MIN_CORRELATION} with float32")


def check(args):
    firmware = results(args.log)
    texts = [line["text"] for line in json_lines(args.texts)]
    host_tokens = [line["ids"] for line in json_lines(args.host_tokens)]
    host_int8 = json_lines(args.host_int8)
    if not len(firmware) == len(texts) == len(host_tokens) == len(host_int8):
        fail(
            f"{len(firmware)} RESULT lines in {args.log} for {len(texts)} sentences "
            f"({len(host_tokens)} tokenized, {len(host_int8)} host int8 lines)"
        )
    all_logits = []
    print("  # sentence: tokens, logits identical to host int8, decision")
    for n, (text, fw, ids, host) in enumerate(zip(texts, firmware, host_tokens, host_int8), start=1):
        logits, summary = check_sentence(n, text, fw, ids, host, args.max_seq_len)
        all_logits.extend(logits)
        print(summary)
    tokens = sum(len(fw["ids"]) for fw in firmware)
    print(f"tokenization: the firmware's ids equal the host tokenizer's ({len(texts)} sentences, {tokens} tokens)")
    print(f"int8 firmware vs int8 host `electra infer`: all {len(all_logits)} logits identical")
    if args.host_float:
        float_logits = [x for line in json_lines(args.host_float) for x in flat(line["logits"])]
        check_float(all_logits, float_logits)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    ids = sub.add_parser("ids")
    ids.add_argument("log")
    ids.add_argument("out")
    c = sub.add_parser("check")
    c.add_argument("--log", required=True)
    c.add_argument("--texts", required=True)
    c.add_argument("--host-tokens", required=True)
    c.add_argument("--host-int8", required=True)
    c.add_argument("--host-float")
    c.add_argument("--max-seq-len", type=int, default=128)
    args = parser.parse_args()
    if args.command == "ids":
        write_ids(args.log, args.out)
    else:
        check(args)


if __name__ == "__main__":
    main()
