#!/usr/bin/env bash
# Data-parallel `electra pretrain` across simulated machines: 2 network namespaces joined by a veth pair, the link
# shaped with tc tbf (rate on each end's egress), OpenMPI over TCP only (btl tcp,self; its
# out-of-band wire-up over the same link), one rank per "machine", each pinned to its own core with taskset.
# Reports tokens/s, scaling efficiency against one rank on one core, the allreduce's share, and the ring model
#   t_ring = 2(N-1)/N × bytes / bandwidth + 2(N-1) × one-way latency
# for each link, with the overlapped reduction (default), with one blocking allreduce after the backward pass
# (ELECTRA_GRAD_OVERLAP=0), and overlapped with bf16 gradients on the wire (--grad-precision bf16: half the bytes
# in the ring model), side by side in the same run. Then the bar: the same ELECTRA-Small step in PyTorch + HF
# (scripts/bench/pretrain_step_torch.py: generator + discriminator, AdamW, same batch per rank, one thread per rank)
# under DistributedDataParallel with the gloo backend (its default 25 MB buckets reduced during the backward pass)
# on the same two namespaces and links, against one PyTorch process on core 0. TORCH=0 skips the PyTorch rows.
#
#   scripts/bench/cluster_sim.sh [STEPS] [BATCH]        (defaults: 4 steps, batch 32 × 128 per rank)
#   LINKS="10gbit:50us 1gbit:50us" scripts/bench/cluster_sim.sh     (default: 10gbit:50us 25gbit:50us 1gbit:50us)
#
# The delay after the colon enters the ring model only: this machine's kernel has tbf and htb but no netem
# (`tc qdisc add ... netem` says "unknown qdisc kind"), so the veth adds no latency of its own. At 50 µs the
# latency term (2(N-1) × 50 µs = 0.1 ms for N = 2) is under 1% of the bandwidth term at 10 Gbit/s (45 ms).
#
# Needs root (ip netns, tc). Uses only 10.213.0.0/24 inside the two namespaces; removes them on exit. With 2 cores
# here, 2 × 1 is the largest set-up without oversubscription (4 "machines" would share 2 cores).
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib.sh
apt_install libopenmpi-dev openmpi-bin libclang-dev
steps="${1:-4}"
batch="${2:-32}"
links="${LINKS:-10gbit:50us 25gbit:50us 1gbit:50us}"
[ "$(id -u)" -eq 0 ] || die "cluster_sim.sh needs root for ip netns and tc"
[ "$(nproc)" -ge 2 ] || die "needs 2 cores: one per simulated machine"
build_host
electra=$PWD/target/release/electra
[ -x "$electra" ] || die "$electra missing after the build"

tag="ecs$$"
ns=("${tag}a" "${tag}b")
ips=(10.213.0.1 10.213.0.2)
subnet=10.213.0.0/24
work=$(mktemp -d)
cleanup() {
  for n in "${ns[@]}"; do ip netns del "$n" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# Two "machines": a namespace each, a veth pair between them (eth0 on both sides), loopback up.
for i in 0 1; do ip netns add "${ns[$i]}"; ip -n "${ns[$i]}" link set lo up; done
ip link add "${tag}0" type veth peer name "${tag}1"
for i in 0 1; do
  ip link set "${tag}$i" netns "${ns[$i]}"
  ip -n "${ns[$i]}" link set "${tag}$i" name eth0
  ip -n "${ns[$i]}" addr add "${ips[$i]}/24" dev eth0
  ip -n "${ns[$i]}" link set eth0 up
done

# mpirun runs in machine 0; it starts machine 1's daemon through this "remote shell", which enters that namespace
# instead of ssh-ing (OpenMPI passes the host, then the command line for a shell).
cat > "$work/nsrsh" <<SH
#!/bin/sh
host=\$1; shift
case "\$host" in
  ${ips[0]}) n=${ns[0]} ;;
  ${ips[1]}) n=${ns[1]} ;;
  *) echo "nsrsh: unknown host \$host" >&2; exit 1 ;;
esac
exec ip netns exec "\$n" /bin/sh -c "\$*"
SH
# Each rank pins itself to core = its rank (the namespaces share this machine's CPUs; --bind-to core would put
# both "machines'" ranks on their core 0).
cat > "$work/pinned" <<'SH'
#!/bin/sh
exec taskset -c "${OMPI_COMM_WORLD_RANK:-0}" "$@"
SH
chmod +x "$work/nsrsh" "$work/pinned"

corpus=data/corpus/us-speeches
"$electra" shard --corpus "$corpus" --vocab data/vocab.txt --out "$work/shards" --shards 2 --quiet
# --dropout 0: the PyTorch rows' step has none (pretrain_step_torch.py), so both programs do the same work; a real
# run keeps ELECTRA's 0.1.
train=(pretrain --data "$work/shards" --model-size small --batch "$batch" --steps "$steps" --micro-batches 1
  --dropout 0 --save-every 0 --quiet)
export RAYON_NUM_THREADS=1

# rate METRICS RANKS: tokens/s over steps 2.. (step 1 pays for page faults and thread start-up), from rank 0's
# metrics.jsonl, counting every position of each rank's batch × 128: the packed corpus leaves ~21% of the positions
# as padding, which the step computes like any token (metrics.jsonl counts only the real ones), and the PyTorch step
# runs on full 128-token rows; so both programs' rows count the positions they compute.
rate() {
  python3 - "$1" "$2" "$batch" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
ranks, batch = int(sys.argv[2]), int(sys.argv[3])
sec = rows[-1]["seconds"] - rows[0]["seconds"]
print(f"{(len(rows) - 1) * ranks * batch * 128 / sec:.1f}" if sec > 0 else "nan")
PY
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "ELECTRA-Small, batch $batch × 128 per rank, $steps steps (step 1 not timed), RAYON_NUM_THREADS=1, one rank per core"
taskset -c 0 "$electra" "${train[@]}" --out "$work/one" >/dev/null
one=$(rate "$work/one/metrics.jsonl" 1)
echo "[1 rank, core 0, no network] $one tokens/s"

# The gradient blob's size: 4 bytes per parameter of the joint model (the checkpoint's two safetensors minus the
# shared embeddings stored in both would do too; the run config records the count).
grad_bytes=$(python3 -c "
import json,sys
from pathlib import Path
def n(p):
    import struct
    b=Path(p).read_bytes(); h=json.loads(b[8:8+struct.unpack('<Q',b[:8])[0]])
    return {k:(v['data_offsets'][1]-v['data_offsets'][0]) for k,v in h.items() if k!='__metadata__'}
g=n('$work/one/checkpoint-latest/generator/model.safetensors'); d=n('$work/one/checkpoint-latest/discriminator/model.safetensors')
print(sum(d.values())+sum(v for k,v in g.items() if not k.startswith('electra.embeddings')))")
echo "gradient blob: $grad_bytes bytes"

# shellcheck disable=SC2054 # the commas are mpirun's --host list, one word
mpi=(ip netns exec "${ns[0]}" mpirun --allow-run-as-root --host "${ips[0]}:1,${ips[1]}:1" -np 2 --bind-to none
  --mca plm_rsh_agent "$work/nsrsh" --mca plm_rsh_no_tree_spawn 1
  --mca btl tcp,self --mca btl_tcp_if_include "$subnet" --mca oob_tcp_if_include "$subnet"
  -x RAYON_NUM_THREADS -x ELECTRA_GRAD_OVERLAP -x PATH)
for link in $links; do
  rate_spec=${link%%:*}
  delay=${link#*:}
  for i in 0 1; do
    # burst: above the 64 KB GSO packets a veth passes (tbf drops packets larger than its bucket).
    ip netns exec "${ns[$i]}" tc qdisc replace dev eth0 root tbf rate "$rate_spec" burst 512kb latency 20ms
  done
  for variant in 1:f32 0:f32 1:bf16; do
    overlap=${variant%%:*}
    precision=${variant#*:}
    out="$work/run-$rate_spec-$overlap-$precision"
    ELECTRA_GRAD_OVERLAP=$overlap "${mpi[@]}" "$work/pinned" "$electra" "${train[@]}" --grad-precision "$precision" \
      --out "$out" >"$out.log" 2>&1 || { cat "$out.log"; die "2-machine run over $link failed"; }
    two=$(rate "$out/metrics.jsonl" 2)
    python3 - "$one" "$two" "$grad_bytes" "$rate_spec" "$delay" "$overlap" "$batch" "$precision" <<'PY'
import re, sys
one, two, nbytes, rate, delay, overlap, batch, precision = sys.argv[1:]
one, two, nbytes, batch = float(one), float(two), int(nbytes), int(batch)
if precision == "bf16":
    nbytes //= 2
unit = {"gbit": 1e9, "mbit": 1e6}
m = re.fullmatch(r"([\d.]+)(gbit|mbit)", rate); bw = float(m[1]) * unit[m[2]] / 8
d = re.fullmatch(r"([\d.]+)(us|ms)", delay); lat = float(d[1]) * (1e-6 if d[2] == "us" else 1e-3)
n = 2
ring = 2 * (n - 1) / n * nbytes / bw + 2 * (n - 1) * lat
step1 = batch * 128 / one  # one rank's step time at batch B: the compute of each rank's share
model = n * batch * 128 / (step1 + ring)  # no overlap: compute, then the ring
eff = two / (n * one)
what = ("overlapped" if overlap == "1" else "blocking ") + (", bf16" if precision == "bf16" else "")
print(f"[2 machines × 1 rank, {rate} {delay}, {what}] {two:.1f} tokens/s, scaling efficiency {100*eff:.1f}%; "
      f"ring model {1e3*ring:.1f} ms per step -> {model:.1f} tokens/s ({100*model/(n*one):.1f}%) without overlap")
PY
  done
done

# PyTorch DDP/gloo on the same "machines": one python per namespace, pinned to core = rank, rendezvous over the link
# (MASTER_ADDR in machine 0), gloo's sockets on eth0. Its timed steps exclude the warm-up step, as ours exclude step 1.
if [ "${TORCH:-1}" = 1 ]; then
  pip_install_torch transformers
  torch_steps=$((steps - 1))
  taskset -c 0 env OMP_NUM_THREADS=1 "$PY_VENV/bin/python" scripts/bench/pretrain_step_torch.py "$torch_steps" \
    --batch "$batch" --json "$work/torch-one.json" 2>/dev/null
  torch_one=$(python3 -c "import json; print(round(json.load(open('$work/torch-one.json'))['tokens_per_s'], 1))")
  echo "[PyTorch, 1 rank, core 0, no network] $torch_one tokens/s"
  for link in $links; do
    rate_spec=${link%%:*}
    for i in 0 1; do
      ip netns exec "${ns[$i]}" tc qdisc replace dev eth0 root tbf rate "$rate_spec" burst 512kb latency 20ms
    done
    pids=()
    for i in 1 0; do
      ip netns exec "${ns[$i]}" taskset -c "$i" env OMP_NUM_THREADS=1 WORLD_SIZE=2 RANK="$i" MASTER_ADDR="${ips[0]}" \
        MASTER_PORT=29511 GLOO_SOCKET_IFNAME=eth0 "$PY_VENV/bin/python" scripts/bench/pretrain_step_torch.py \
        "$torch_steps" --batch "$batch" --json "$work/torch-ddp-$rate_spec.json" >"$work/torch-ddp-$rate_spec-$i.log" 2>&1 &
      pids+=($!)
    done
    for pid in "${pids[@]}"; do
      wait "$pid" || { cat "$work"/torch-ddp-"$rate_spec"-*.log; die "PyTorch DDP over $link failed"; }
    done
    python3 - "$torch_one" "$work/torch-ddp-$rate_spec.json" "$rate_spec" "${link#*:}" <<'PY'
import json, sys
one, path, rate, delay = sys.argv[1:]
two = json.load(open(path))["tokens_per_s"]
print(f"[PyTorch DDP/gloo, 2 machines × 1 rank, {rate} {delay}] {two:.1f} tokens/s, "
      f"scaling efficiency {100 * two / (2 * float(one)):.1f}%")
PY
  done
fi
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
