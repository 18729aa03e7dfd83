"""The latent files of rd.json, each beside every other codec interpolated per image at the file's
own rate (linear in bpp between a codec's two nearest points): the markdown table of docs/codec.md.
    python benchmarks/latent_per_file.py benchmarks/results/image/rd_latent_v4/rd.json
"""
import json
import sys
from collections import defaultdict

import numpy as np

points = json.load(open(sys.argv[1]))["points"]
curves = defaultdict(list)
for p in points:
    curves[(p["codec"], p["image"])].append((p["bpp"], p["psnr"]))
codecs = ["ours", "WebP", "JPEG 2000", "AVIF", "JPEG 4:2:0", "JPEG XL"]


def at(codec, image, bpp):
    c = sorted(curves.get((codec, image), []))
    if not c or not c[0][0] <= bpp <= c[-1][0]:
        return None
    return float(np.interp(bpp, [x for x, _ in c], [y for _, y in c]))


rows, sums = [], defaultdict(list)
ours = sorted((p for p in points if p["codec"] == "ours-latent"), key=lambda p: (p["image"], float(p["setting"])))
print("| image | target | file bpp | **latent** PSNR | " + " | ".join(c if c != "ours" else "ours (SIREN)" for c in codecs) + " | encode s | decode s |")
print("|" + "---|" * (len(codecs) + 6))
for p in ours:
    vals = [at(c, p["image"], p["bpp"]) for c in codecs]
    sums["latent"].append(p["psnr"])
    for c, v in zip(codecs, vals):
        sums[c].append(v)
    cells = " | ".join("n/a" if v is None else f"{v:.2f}" for v in vals)
    print(f"| {p['image']} | {p['setting']} | {p['bpp']:.3f} | **{p['psnr']:.2f}** | {cells} | {p['encode_seconds']:.0f} | {p['decode_seconds']:.2f} |")
mean = lambda xs: "n/a" if any(x is None for x in xs) else f"{np.mean(xs):.2f}"
print(f"| **mean** ({len(ours)} files, {np.mean([p['bpp'] for p in ours]):.3f} bpp) | | | **{np.mean(sums['latent']):.2f}** | "
      + " | ".join(mean(sums[c]) for c in codecs) + " | | |")
