"""PyTorch autograd reference for bench/train.ts: the same BERT + Dense + ColBERT Contrastive
step (forward, backward, AdamW) on the same safetensors weights and the same batch.

    python3 bench/torch/train_torch.py <model dir> <batch.json> <steps> <threads> <layers>

Prints one JSON line: stepsPerSecond, secondsPerStep, peakRssMb, lossFirstStep. With
steps = -1 it runs one step per "step" line read from stdin and answers each with a JSON
line (bench/train.ts alternates its own steps with these).
The model is written out in plain torch (HF BertModel's eager math: erf GELU, finfo.min
attention mask, LayerNorm eps 1e-12) because transformers is not installed here.
"""
import json
import math
import resource
import sys
import time

import torch
from safetensors_torch import load_safetensors

model_dir, batch_file, steps, threads, layers = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
torch.set_num_threads(threads)


w = load_safetensors(f"{model_dir}/model.safetensors")
dense = load_safetensors(f"{model_dir}/dense.safetensors")["linear.weight"]
params = {k: torch.nn.Parameter(v) for k, v in w.items()}
params["dense"] = torch.nn.Parameter(dense)
H, HEADS = 768, 12
D = H // HEADS
MIN = torch.finfo(torch.float32).min


def ln(x, p):
    return torch.nn.functional.layer_norm(x, (H,), params[f"{p}.weight"], params[f"{p}.bias"], 1e-12)


def lin(x, p):
    return torch.nn.functional.linear(x, params[f"{p}.weight"], params[f"{p}.bias"])


def encode(ids, mask):
    b, L = ids.shape
    x = params["embeddings.word_embeddings.weight"][ids] + params["embeddings.position_embeddings.weight"][:L] + params["embeddings.token_type_embeddings.weight"][0]
    x = ln(x, "embeddings.LayerNorm")
    bias = (1.0 - mask[:, None, None, :].float()) * MIN
    for l in range(layers):
        p = f"encoder.layer.{l}"
        heads = lambda n: lin(x, f"{p}.attention.self.{n}").view(b, L, HEADS, D).transpose(1, 2)
        q, k, v = heads("query"), heads("key"), heads("value")
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(D) + bias, dim=-1)
        ctx = (att @ v).transpose(1, 2).reshape(b, L, H)
        a = ln(lin(ctx, f"{p}.attention.output.dense") + x, f"{p}.attention.output.LayerNorm")
        inter = torch.nn.functional.gelu(lin(a, f"{p}.intermediate.dense"))
        x = ln(lin(inter, f"{p}.output.dense") + a, f"{p}.output.LayerNorm")
    return torch.nn.functional.normalize(x @ params["dense"].t(), p=2, dim=-1)


batch = json.load(open(batch_file))
B, LQ, LD = batch["B"], batch["LQ"], batch["LD"]
q_ids = torch.tensor(batch["queries"]["ids"]).view(B, LQ)
q_mask = torch.tensor(batch["queries"]["mask"]).view(B, LQ)
docs = batch["documents"]
N = len(docs)
# Interleave: row j*N+k = slot k of example j (PyLate's [B, N, L] stacking).
d_ids = torch.stack([torch.tensor(d["ids"]).view(B, LD) for d in docs], 1).reshape(B * N, LD)
d_mask = torch.stack([torch.tensor(d["mask"]).view(B, LD) for d in docs], 1).reshape(B * N, LD)
labels = torch.arange(B) * N

opt = torch.optim.AdamW(params.values(), lr=1e-5, weight_decay=0.01)


def train_step():
    t = time.perf_counter()
    c = time.process_time()
    opt.zero_grad(set_to_none=True)
    Q = encode(q_ids, q_mask)
    Dm = encode(d_ids, d_mask)
    sim = torch.einsum("ash,bth->abst", Q, Dm) * d_mask[None, :, None, :].float()
    scores = sim.max(-1).values.sum(-1)
    loss = torch.nn.functional.cross_entropy(scores, labels)
    loss.backward()
    opt.step()
    return time.perf_counter() - t, time.process_time() - c, loss.item()


if steps < 0:
    # Driven by bench/train.ts: one step per "step" line on stdin, so that the two sides
    # alternate step by step and share the machine's background load.
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        if line.strip() != "step":
            break
        dt, cpu, loss = train_step()
        print(json.dumps({"seconds": dt, "cpuSeconds": cpu, "loss": loss}), flush=True)
    print(json.dumps({"peakRssMb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "torchVersion": torch.__version__}), flush=True)
    sys.exit(0)

times, losses = [], []
for s in range(steps + 1):
    dt, _cpu, loss = train_step()
    losses.append(loss)
    if s > 0:
        times.append(dt)
    print(f"torch step {s}: {dt:.2f} s, loss {loss:.5f}", file=sys.stderr)
mean = sum(times) / len(times)
print(json.dumps({
    "stepsPerSecond": 1 / mean,
    "secondsPerStep": mean,
    "peakRssMb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "lossFirstStep": losses[0],
    "torchVersion": torch.__version__,
}))
