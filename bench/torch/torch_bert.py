"""PyTorch eager baseline for bench/encode.ts: the same BERT + Dense forward on the same
weights and the same token ids, timed per batch. Run with Debian's python3-torch:
    /usr/bin/python3 bench/torch/torch_bert.py <model_dir> <threads>
Reads one JSON batch per line on stdin ({"input_ids": [[...]], "attention_mask": [[...]]}),
runs it and answers one line {"seconds": s} (after a first line {"ready": true}), so that the
caller can alternate tslate and PyTorch batch by batch: load on a shared machine then hits
both alike.
This mirrors transformers' BertModel (eager attention) op for op; transformers itself is not
installable here (no PyPI), so the module is written out with torch.nn.functional.
"""
import json
import math
import sys
import time

import torch
import torch.nn.functional as F
from safetensors_torch import load_safetensors


def main():
    model_dir, threads = sys.argv[1], int(sys.argv[2])
    torch.set_num_threads(threads)
    cfg = json.load(open(f"{model_dir}/config.json"))
    w = load_safetensors(f"{model_dir}/model.safetensors")
    dense = load_safetensors(f"{model_dir}/1_Dense/model.safetensors")["linear.weight"]
    H, nh, eps = cfg["hidden_size"], cfg["num_attention_heads"], cfg["layer_norm_eps"]
    hd = H // nh

    def forward(ids, mask):
        B, L = ids.shape
        x = w["embeddings.word_embeddings.weight"][ids]
        x = x + w["embeddings.position_embeddings.weight"][:L].unsqueeze(0)
        x = x + w["embeddings.token_type_embeddings.weight"][torch.zeros_like(ids)]
        x = F.layer_norm(x, (H,), w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
        ext = (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
        for l in range(cfg["num_hidden_layers"]):
            p = f"encoder.layer.{l}."
            def lin(t, n):
                return F.linear(t, w[p + n + ".weight"], w[p + n + ".bias"])
            q = lin(x, "attention.self.query").view(B, L, nh, hd).transpose(1, 2)
            k = lin(x, "attention.self.key").view(B, L, nh, hd).transpose(1, 2)
            v = lin(x, "attention.self.value").view(B, L, nh, hd).transpose(1, 2)
            s = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(hd) + ext
            ctx = torch.matmul(torch.softmax(s, dim=-1), v).transpose(1, 2).reshape(B, L, H)
            a = F.layer_norm(lin(ctx, "attention.output.dense") + x, (H,),
                             w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"], eps)
            h = F.gelu(lin(a, "intermediate.dense"))
            x = F.layer_norm(lin(h, "output.dense") + a, (H,),
                             w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], eps)
        return F.normalize(F.linear(x, dense), dim=-1)

    print(json.dumps({"ready": True, "torch": torch.__version__, "threads": threads}), flush=True)
    with torch.inference_mode():
        for line in sys.stdin:
            if not line.strip():
                continue
            b = json.loads(line)
            ids = torch.tensor(b["input_ids"])
            mask = torch.tensor(b["attention_mask"])
            t = time.perf_counter()
            c = time.process_time()
            forward(ids, mask)
            print(json.dumps({"seconds": time.perf_counter() - t, "cpu": time.process_time() - c}), flush=True)


if __name__ == "__main__":
    main()
