"""Reference side of scripts/bench/float_infer.sh: a random ELECTRA-Small discriminator saved with HF
transformers, exported to ONNX, and timed with PyTorch and ONNX Runtime (fp32, all cores).

Subcommands (all print JSON lines like `electra bench-infer`):
  make DIR              ElectraForPreTraining(ELECTRA-Small config, HF init std 0.02) -> DIR/hf, DIR/model.onnx
  time DIR B.. --seq-len T --iters N --warmup W --threads K   ms per batch, PyTorch then ONNX Runtime
  check DIR OURS.jsonl  max |logit difference| between PyTorch and `electra infer` on DIR/check.jsonl
  table RESULTS.jsonl   the markdown table for docs/BENCHMARKS.md
"""
import argparse
import json
import os
import statistics
import sys
import time

SEED = 1234


def bench_ids(batch, seq_len, vocab_size):
    """Same deterministic ids as `electra bench-infer` (values do not affect speed)."""
    state = 0x9E3779B9
    rows = []
    span = max(vocab_size - 1000, 1)
    for _ in range(batch):
        row = []
        for _ in range(seq_len):
            state = (state * 1664525 + 1013904223) & 0xFFFFFFFF
            row.append(min(1000 + (state >> 8) % span, vocab_size - 1))
        rows.append(row)
    return rows


def make(args):
    import torch
    from transformers import ElectraConfig, ElectraForPreTraining

    torch.manual_seed(SEED)
    config = ElectraConfig(
        vocab_size=30522, embedding_size=128, hidden_size=256, num_hidden_layers=12, num_attention_heads=4,
        intermediate_size=1024, max_position_embeddings=512, type_vocab_size=2, hidden_act="gelu",
        initializer_range=0.02, layer_norm_eps=1e-12, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
    )
    model = ElectraForPreTraining(config).eval()
    hf_dir = os.path.join(args.dir, "hf")
    model.save_pretrained(hf_dir, safe_serialization=True)

    ids = torch.tensor(bench_ids(2, 128, config.vocab_size))
    mask = torch.ones_like(ids)
    types = torch.zeros_like(ids)
    onnx_path = os.path.join(args.dir, "model.onnx")
    batch = torch.export.Dim("batch", min=1, max=64)
    seq = torch.export.Dim("seq", min=2, max=512)
    with torch.inference_mode():
        torch.onnx.export(
            model, (ids, mask, types), onnx_path, input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["logits"], dynamo=True,
            dynamic_shapes=({0: batch, 1: seq}, {0: batch, 1: seq}, {0: batch, 1: seq}),
        )
    # A small check set for `electra infer`: two rows of the timing ids.
    with open(os.path.join(args.dir, "check.jsonl"), "w") as f:
        for row in bench_ids(2, 128, config.vocab_size):
            f.write(json.dumps({"ids": row}) + "\n")
    print(json.dumps({"made": args.dir, "params": sum(p.numel() for p in model.parameters())}))


def timed(warmup, iters, fn):
    """Median and minimum wall ms, and median process CPU ms (all threads), as `electra bench-infer`."""
    for _ in range(warmup):
        fn()
    wall, cpu = [], []
    for _ in range(iters):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - start) * 1e3)
        cpu.append((time.process_time() - start_cpu) * 1e3)
    return {"median_ms": statistics.median(wall), "min_ms": min(wall), "cpu_ms": statistics.median(cpu)}


def time_refs(args):
    import numpy as np
    import onnxruntime as ort
    import torch
    from transformers import ElectraForPreTraining

    threads = args.threads or os.cpu_count()
    torch.set_num_threads(threads)
    model = ElectraForPreTraining.from_pretrained(os.path.join(args.dir, "hf")).eval()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(os.path.join(args.dir, "model.onnx"), options, providers=["CPUExecutionProvider"])
    for batch in args.batches:
        ids = np.array(bench_ids(batch, args.seq_len, model.config.vocab_size), dtype=np.int64)
        mask = np.ones_like(ids)
        types = np.zeros_like(ids)
        t_ids, t_mask, t_types = (torch.from_numpy(a) for a in (ids, mask, types))

        def torch_run():
            with torch.inference_mode():
                model(input_ids=t_ids, attention_mask=t_mask, token_type_ids=t_types)

        t = timed(args.warmup, args.iters, torch_run)
        print(json.dumps({"impl": f"PyTorch {torch.__version__} (HF transformers eager)", "batch": batch,
                          "seq_len": args.seq_len, "threads": threads, **t}))
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        t = timed(args.warmup, args.iters, lambda: session.run(None, feeds))
        print(json.dumps({"impl": f"ONNX Runtime {ort.__version__} fp32", "batch": batch, "seq_len": args.seq_len,
                          "threads": threads, **t}))
        sys.stdout.flush()


def check(args):
    import torch
    from transformers import ElectraForPreTraining

    model = ElectraForPreTraining.from_pretrained(os.path.join(args.dir, "hf")).eval()
    rows = [json.loads(line)["ids"] for line in open(os.path.join(args.dir, "check.jsonl"))]
    ours = [json.loads(line)["logits"] for line in open(args.ours)]
    with torch.inference_mode():
        theirs = model(input_ids=torch.tensor(rows)).logits.tolist()
    worst = max(abs(a - b) for r_ours, r_theirs in zip(ours, theirs) for a, b in zip(r_ours, r_theirs))
    print(json.dumps({"check": "electra infer vs PyTorch logits", "rows": len(rows), "max_abs_diff": worst}))
    if not (len(ours) == len(rows) and worst < 1e-4):
        sys.exit(f"electra infer disagrees with PyTorch: max abs diff {worst}")


def table(args):
    results = [json.loads(line) for line in open(args.results) if line.startswith("{")]
    runs = [r for r in results if "impl" in r]
    batches = sorted({r["batch"] for r in runs})
    names = list(dict.fromkeys(r["impl"] for r in runs))
    seq_len = runs[0]["seq_len"]
    for threads in sorted({r["threads"] for r in runs}, reverse=True):
        group = [r for r in runs if r["threads"] == threads]
        rounds = max(sum(1 for r in group if r["impl"] == n and r["batch"] == batches[0]) for n in names)
        cpu = threads == 1
        print(f"\n{threads} thread(s), {rounds} rounds. Wall: median of the per-round medians (minimum of all runs)"
              + ("; CPU: median process CPU time" if cpu else "") + ", milliseconds per batch.\n")
        head = [f"batch {b} × {seq_len} wall" + (f" | batch {b} × {seq_len} CPU" if cpu else "") for b in batches]
        print("| implementation | " + " | ".join(head) + " |")
        print("|---|" + "---:|" * (len(batches) * (2 if cpu else 1)))
        for name in names:
            cells = []
            for b in batches:
                rs = [r for r in group if r["impl"] == name and r["batch"] == b]
                if not rs:
                    cells += [""] * (2 if cpu else 1)
                    continue
                median = statistics.median(r["median_ms"] for r in rs)
                cells.append(f"{median:.1f} ({min(r['min_ms'] for r in rs):.1f})")
                if cpu:
                    cells.append(f"{statistics.median(r['cpu_ms'] for r in rs):.1f}")
            print(f"| {name} | " + " | ".join(cells) + " |")
    shapes = [r for r in results if "gemm_shape" in r]
    if shapes:
        print("\nGEMM shapes of one sequence, one thread: median wall µs per call, and GFLOP per CPU-second.\n")
        print("| GEMM | m×k×n | backend | µs/call (wall) | GFLOP/CPU-s |")
        print("|---|---|---|---:|---:|")
        seen = set()
        for r in shapes:
            if r["threads"] != 1 or (r["gemm_shape"], r["backend"]) in seen:
                continue
            seen.add((r["gemm_shape"], r["backend"]))
            print(f"| {r['gemm_shape']} | {r['m']}×{r['k']}×{r['n']} | {r['backend']} | {r['us_per_call']:.1f} | "
                  f"{r['gflops_per_cpu_second']:.1f} |")
    for r in results:
        if "check" in r:
            print(f"\n{r['check']}: max abs diff {r['max_abs_diff']:.2e} over {r['rows']} rows of {seq_len} tokens")


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("make")
    p.add_argument("dir")
    p = sub.add_parser("time")
    p.add_argument("dir")
    p.add_argument("batches", type=int, nargs="+")
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=0, help="0: all cores")
    p = sub.add_parser("check")
    p.add_argument("dir")
    p.add_argument("ours")
    p = sub.add_parser("table")
    p.add_argument("results")
    args = parser.parse_args()
    {"make": make, "time": time_refs, "check": check, "table": table}[args.cmd](args)


if __name__ == "__main__":
    main()
