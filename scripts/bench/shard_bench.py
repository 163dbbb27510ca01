"""Driver of scripts/bench/shard.sh: runs `electra shard` and the HF tokenizers + pyarrow pipeline on the
same corpus, alternating, REPEATS times each, and prints a Markdown table with the best run of each.

Per-core throughput is input bytes / CPU seconds (user + sys of the process and its threads), which
stays meaningful on a machine shared with other work; wall-clock MB/s is given beside it.
"""
import json
import os
import resource
import subprocess
import sys
import time

REPEATS = 3


def run(cmd, env):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc.stdout


def main():
    electra, python, corpus, vocab, tmp = sys.argv[1:6]
    cores = os.cpu_count()
    in_bytes = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(corpus) for f in fs)
    env = dict(os.environ)
    one = dict(env, RAYON_NUM_THREADS="1")
    configs = [
        ("electra shard, 1 thread (taskset -c 0)", ["taskset", "-c", "0", electra, "shard", "--corpus", corpus, "--vocab", vocab,
          "--out", f"{tmp}/rs1", "--seq-len", "128", "--shards", "1", "--threads", "1", "--quiet"], env, f"{tmp}/rs1"),
        (f"electra shard, all {cores} threads", [electra, "shard", "--corpus", corpus, "--vocab", vocab, "--out", f"{tmp}/rsN",
          "--seq-len", "128", "--shards", "1", "--quiet"], env, f"{tmp}/rsN"),
        ("HF tokenizers + pyarrow, 1 thread (taskset -c 0)", ["taskset", "-c", "0", python, "scripts/bench/shard_hf.py", corpus, vocab,
          f"{tmp}/py1", "128"], one, None),
        (f"HF tokenizers + pyarrow, all {cores} threads", [python, "scripts/bench/shard_hf.py", corpus, vocab, f"{tmp}/pyN", "128"],
         env, None),
    ]
    best = {}
    stats = {}
    for _ in range(REPEATS):
        for name, cmd, e, out_dir in configs:
            if out_dir:
                subprocess.run(["rm", "-rf", out_dir], check=True)
            wall, cpu, stdout = run(cmd, e)
            if name not in best or wall < best[name][0]:
                best[name] = (wall, cpu)
            if out_dir:
                m = json.load(open(os.path.join(out_dir, "manifest.json")))["totals"]
                stats["rust"] = (m["text_tokens"], m["unk_tokens"], m["examples"])
            else:
                j = json.loads(stdout.strip().splitlines()[-1])
                stats["python"] = (j["text_tokens"], j["unk_tokens"], j["rows"])
                stats["python_stages"] = j
    mb = in_bytes / 1e6
    print(f"corpus: {mb:.1f} MB ({in_bytes} bytes), {cores} cores, best of {REPEATS} runs each\n")
    print("| pipeline | wall s | CPU s | MB/s (wall) | MB/s per CPU-second |")
    print("|---|---:|---:|---:|---:|")
    for name, _, _, _ in configs:
        wall, cpu = best[name]
        print(f"| {name} | {wall:.2f} | {cpu:.2f} | {mb / wall:.1f} | {mb / cpu:.1f} |")
    rt, ru, rx = stats["rust"]
    pt, pu, px = stats["python"]
    print(f"\ntext tokens: electra {rt}, HF {pt}; [UNK]: electra {ru}, HF {pu}; examples: electra {rx}, Python {px}")
    s = stats["python_stages"]
    print(f"HF pipeline stages (last all-threads run), s: read+split {s['read_split']:.2f}, encode_batch "
          f"{s['encode_batch']:.2f}, pack {s['pack']:.2f}, pyarrow write {s['write']:.2f}")
    if rt != pt or ru != pu:
        sys.exit("token streams differ between electra and HF tokenizers")


if __name__ == "__main__":
    main()
