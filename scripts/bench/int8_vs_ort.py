"""ONNX Runtime side of the int8 benchmark (scripts/bench/int8_vs_ort.sh runs it).

  make-small DIR         ELECTRA-Small discriminator with HF's init (std 0.02), seed 0, save_pretrained
  onnx HF_DIR OUT_DIR    export to ONNX (input_ids, attention_mask, token_type_ids) and quantize_dynamic
                         (QInt8 weights, the default per-tensor scheme; OUT_DIR/model.onnx, model.int8.onnx)
  time ONNX SEQ ITERS THREADS   median and min latency and CPU time per run (ms), batch 1, fixed random ids
  fixtures FIXTURE_DIR WORK_DIR  ORT dynamic int8 of the HF tiny fixtures against cases.safetensors
"""
import json
import os
import sys
import time

import numpy as np


def make_small(out_dir):
    import torch
    from transformers import ElectraConfig, ElectraForPreTraining

    torch.manual_seed(0)
    config = ElectraConfig(
        vocab_size=30522, embedding_size=128, hidden_size=256, num_hidden_layers=12, num_attention_heads=4,
        intermediate_size=1024, max_position_embeddings=512, type_vocab_size=2, initializer_range=0.02,
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    model = ElectraForPreTraining(config).eval()
    model.save_pretrained(out_dir, safe_serialization=True)


def export_onnx(hf_dir, out_dir):
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoConfig, ElectraForMaskedLM, ElectraForPreTraining, \
        ElectraForSequenceClassification, ElectraForTokenClassification

    arch = AutoConfig.from_pretrained(hf_dir).architectures[0]
    cls = {"ElectraForPreTraining": ElectraForPreTraining, "ElectraForMaskedLM": ElectraForMaskedLM,
           "ElectraForSequenceClassification": ElectraForSequenceClassification,
           "ElectraForTokenClassification": ElectraForTokenClassification}[arch]
    model = cls.from_pretrained(hf_dir, attn_implementation="eager").eval()
    os.makedirs(out_dir, exist_ok=True)
    ids = torch.ones(1, 16, dtype=torch.long)
    f32 = os.path.join(out_dir, "model.onnx")
    torch.onnx.export(
        model, (ids, torch.ones_like(ids), torch.zeros_like(ids)), f32,
        input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["logits"],
        dynamic_axes={k: {0: "batch", 1: "seq"} for k in ["input_ids", "attention_mask", "token_type_ids"]},
        opset_version=17, dynamo=False)
    quantize_dynamic(f32, os.path.join(out_dir, "model.int8.onnx"), weight_type=QuantType.QInt8)


def session(path, threads):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


def time_onnx(path, seq, iters, threads):
    sess = session(path, threads)
    rng = np.random.default_rng(0)
    feed = {"input_ids": rng.integers(5, 30522, size=(1, seq), dtype=np.int64),
            "attention_mask": np.ones((1, seq), dtype=np.int64),
            "token_type_ids": np.zeros((1, seq), dtype=np.int64)}
    times = []
    cpu_start = 0.0
    for i in range(iters + iters // 10):
        if i == iters // 10:
            cpu_start = time.process_time()
        start = time.perf_counter()
        sess.run(None, feed)
        if i >= iters // 10:
            times.append((time.perf_counter() - start) * 1e3)
    cpu_ms = (time.process_time() - cpu_start) * 1e3 / iters
    times.sort()
    print(f"{seq} {threads} {times[len(times) // 2]:.3f} {times[0]:.3f} {cpu_ms:.3f}")


def fixtures(fixture_dir, work_dir):
    from safetensors.numpy import load_file

    cases = load_file(os.path.join(fixture_dir, "cases.safetensors"))
    mask = cases["attention_mask"]
    result = {}
    for name, ids_key, logits_key in [("disc", "input_ids", "disc.logits"), ("gen", "gen.input_ids", "gen.logits"),
                                      ("cls", "input_ids", "cls.logits"), ("tok", "input_ids", "tok.logits")]:
        out = os.path.join(work_dir, name)
        export_onnx(os.path.join(fixture_dir, name), out)
        got, got_f32, want = [], [], []
        per_token = cases[logits_key].shape[1] == mask.shape[1]
        for b in range(mask.shape[0]):
            n = int(mask[b].sum())
            feed = {"input_ids": cases[ids_key][b:b + 1, :n], "attention_mask": mask[b:b + 1, :n],
                    "token_type_ids": cases["token_type_ids"][b:b + 1, :n]}
            got.append(session(os.path.join(out, "model.int8.onnx"), 1).run(None, feed)[0][0].reshape(-1))
            got_f32.append(session(os.path.join(out, "model.onnx"), 1).run(None, feed)[0][0].reshape(-1))
            want.append((cases[logits_key][b, :n] if per_token else cases[logits_key][b]).reshape(-1))
        got, got_f32, want = np.concatenate(got), np.concatenate(got_f32), np.concatenate(want)
        # The float ONNX export must match HF, or the int8 numbers would measure the export.
        entry = {"correlation": float(np.corrcoef(got, want)[0, 1]),
                 "float_onnx_max_abs_error": float(np.abs(got_f32 - want).max())}
        if name == "disc":
            entry["same_decision"] = f"{int(((got > 0) == (want > 0)).sum())}/{got.size}"
        if name in ("cls", "tok"):
            c = cases[logits_key].shape[-1]
            entry["argmax_same"] = f"{int((got.reshape(-1, c).argmax(1) == want.reshape(-1, c).argmax(1)).sum())}/{got.size // c}"
        result[name] = entry
    print(json.dumps(result))


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "make-small":
        make_small(sys.argv[2])
    elif cmd == "onnx":
        export_onnx(sys.argv[2], sys.argv[3])
    elif cmd == "time":
        time_onnx(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
    elif cmd == "fixtures":
        fixtures(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
