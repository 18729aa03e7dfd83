# Source this on the lent GPU machine (Python 3.12, torch preinstalled, no network): installs the
# wheels carried in .whl/ (nerfstudio 1.1.5 and the packages it imports that the machine lacks,
# fetched here with `pip download --python-version 3.12 ...`) and registers our fast method with
# nerfstudio through its environment variable instead of an installed entry point.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl >/dev/null 2>&1 || { echo pip failed; exit 1; }
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 WANDB_MODE=disabled HF_HUB_OFFLINE=1 PYTHONWARNINGS=ignore
export NERFSTUDIO_METHOD_CONFIGS="vanilla-nerf-pe-fast=vanilla_nerf_pe.nerf.method_configs:vanilla_nerf_pe_fast,vanilla-nerf-pe-gpu=vanilla_nerf_pe.nerf.method_configs:vanilla_nerf_pe_gpu"
export NERFSTUDIO_DATAPARSER_CONFIGS="llff-data=vanilla_nerf_pe.nerf.registry:llff_data"  # installs our patches too
