# The rounded loss of a fit at a fixed lambda every 100 steps (issue 26, 2026-12-05): MSE and the
# context model's rate of the rounded latents through the float networks, the straight-through
# stage's loss. Usage: PYTHONPATH=. OMP_NUM_THREADS=1 python trace.py NAME IMAGE LAMBDA 'JSON overrides'
import sys, json, math, torch, numpy as np
torch.set_num_threads(1)
from vanilla_nerf_pe.codec.latent import LatentConfig, LatentImage
from vanilla_nerf_pe.codec.latent_fit import train_latent_image, image_planes, rounded_latent_rate
from vanilla_nerf_pe.image.photographs import shipped_photographs
name, image, lam = sys.argv[1], sys.argv[2], float(sys.argv[3])
over = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
over = {k: tuple(v) if isinstance(v, list) else v for k, v in over.items()}
u8 = shipped_photographs(256)[image]
x = torch.tensor(u8 / 255.0, dtype=torch.float32)
cfg = LatentConfig(**over)
model = LatentImage(cfg, 256, 256, 3)
rows = []
def cb(step, loss, psnr):
    if psnr is not None:
        r = rounded_latent_rate(model)
        hard = 10 ** (-psnr / 10) + lam * r
        rows.append((step, loss, psnr, r, hard))
        print(f"{name} step {step} proxy {loss:.5f} hardpsnr {psnr:.2f} hardrate {r:.4f} hardloss {hard:.5f}", flush=True)
train_latent_image(model, image_planes(x), cfg, lam, None, cb, 100)
