"""PyTorch eager baseline for bench/backbone.ts --vs-torch: the plain-torch references of the
new backbones (test/fixtures/backbones/reference.py, the same modules the parity fixtures
come from) + Dense + normalise, on the same weights and ids, timed per batch.
    /usr/bin/python3 bench/torch_backbones.py <model_dir> <xlmr-flash|jinabert> <threads>
stdin: one JSON batch per line {"input_ids": [[...]], "attention_mask": [[...]]}; stdout: a
first line {"ready": true}, then per batch {"seconds", "cpu", "head": first 8 values}.
"""
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "backbones"))
import reference as ref  # noqa: E402
from safetensors_torch import load_safetensors  # noqa: E402


def main():
    model_dir, arch, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    torch.set_num_threads(threads)
    cfg = json.load(open(f"{model_dir}/config.json"))
    w = load_safetensors(f"{model_dir}/model.safetensors")
    dense = load_safetensors(f"{model_dir}/dense.safetensors")["linear.weight"]
    fwd = {"xlmr-flash": ref.xlmr_flash, "jinabert": ref.jinabert}[arch]
    print(json.dumps({"ready": True, "torch": torch.__version__, "threads": threads}), flush=True)
    with torch.inference_mode():
        for line in sys.stdin:
            if not line.strip():
                continue
            b = json.loads(line)
            ids, mask = torch.tensor(b["input_ids"]), torch.tensor(b["attention_mask"])
            t, c = time.perf_counter(), time.process_time()
            y = ref.colbert_head(fwd(w, cfg, ids, mask), dense)
            s, cs = time.perf_counter() - t, time.process_time() - c
            print(json.dumps({"seconds": s, "cpu": cs, "head": y.flatten()[:8].tolist()}), flush=True)


if __name__ == "__main__":
    main()
