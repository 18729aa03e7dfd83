import sys, json, time, math, dataclasses, torch, numpy as np
torch.set_num_threads(1)
from vanilla_nerf_pe.codec.latent import LatentConfig
from vanilla_nerf_pe.codec.latent_fit import fit_latent_image
from vanilla_nerf_pe.codec.latent_file import encode_latent, decode_latent_image
from vanilla_nerf_pe.image.photographs import shipped_photographs
name, image, crop, lam = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
over = json.loads(sys.argv[5]) if len(sys.argv) > 5 else {}
over = {k: tuple(v) if isinstance(v, list) else v for k, v in over.items()}
img = shipped_photographs(crop)[image]
if img.dtype == np.uint8: u8 = img
else: u8 = np.round(np.asarray(img) * 255).astype(np.uint8)
x = torch.tensor(u8 / 255.0, dtype=torch.float32)
cfg = LatentConfig(**over)
t = time.perf_counter()
kw = dict(rate_lambda=float(lam)) if not lam.startswith("bpp") else dict(bpp=float(lam[3:]))
fit = fit_latent_image(x, cfg, **kw)
enc = encode_latent(fit.model, fit.exponents)
sec = time.perf_counter() - t
dec = decode_latent_image(enc.data)
mse = ((dec.astype(np.float64) - u8.astype(np.float64)) ** 2).mean()
psnr = 10 * math.log10(255**2 / mse)
bpp = 8 * len(enc.data) / (crop * crop)
line = f"{name}\t{image}\t{crop}\t{lam}\tsteps={cfg.steps}+{cfg.ste_steps}\t{sec:.0f}s\tbpp={bpp:.4f}\tpsnr={psnr:.2f}\tfloatpsnr={fit.psnr_float:.2f}\tlam_end={fit.rate_lambda:.4g}\tW={enc.weight_bytes}B L={enc.latent_bytes}B H={enc.header_bytes}B tries={[(round(a,5),round(b,4)) for a,b in fit.lambda_tries]} lt={fit.latent_target}\t{json.dumps(sys.argv[5] if len(sys.argv)>5 else '')}"
print(line, flush=True)
open("/tmp/lat/trials.tsv", "a").write(line + "\n")
