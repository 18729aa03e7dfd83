"""The viewer screenshot of docs/training.md: nerfstudio's viewer showing vanilla-nerf-pe-fast during training,
seen from one of the training cameras, in headless Chromium.

Trains in this process with the viewer on a loopback port and no browser for ``--seconds``, then
opens the page (so that no full-resolution frame of the young model holds the training lock
before), moves the browser's camera onto training camera ``--camera``, waits for the viewer's
full-resolution frame and saves the page. Run from the repository root (it reuses the browser
test's DevTools client); needs ``chromium``:

    python scripts/viewer_screenshot.py ../shared/data/blender/lego_100 docs/images/viewer_training.png
"""

from __future__ import annotations

import argparse
import copy
import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.conftest import free_port  # noqa: E402
from tests.nerf.test_viewer_browser import Chromium, scene_fraction  # noqa: E402


def camera_pose(camera) -> tuple:
    """(wxyz, position, vertical fov) of a nerfstudio camera in the viewer's (viser's) frame, as
    nerfstudio's viewer places the training cameras' frustums."""
    import viser.transforms as vtf
    from nerfstudio.viewer.viewer import VISER_NERFSTUDIO_SCALE_RATIO

    c2w = camera.camera_to_worlds.cpu().numpy()
    rotation = vtf.SO3.from_matrix(c2w[:3, :3]) @ vtf.SO3.from_x_radians(np.pi)
    fov = float(2 * np.arctan(float(camera.cy) / float(camera.fy)))
    return rotation.wxyz, c2w[:3, 3] * VISER_NERFSTUDIO_SCALE_RATIO, fov


def screenshot_when_trained(trainer, port: int, seconds: float, camera_index: int, out: Path, settle: float) -> None:
    """The browser side, in a thread beside the training loop; ends the process when done."""
    try:
        start = time.time()
        while trainer.step < 1 and time.time() - start < 600:  # training has started
            time.sleep(0.5)
        time.sleep(max(0.0, seconds - (time.time() - start)))
        print(f"viewer_screenshot: opening the viewer at step {trainer.step}", flush=True)
        browser = Chromium(width=1100, height=800)
        try:
            url = f"http://127.0.0.1:{port}/"
            browser.call("Page.enable")
            browser.call("Page.navigate", url=url)
            viewer = trainer.viewer_state
            while not viewer.viser_server.get_clients():
                time.sleep(0.2)
            time.sleep(2)
            wxyz, position, fov = camera_pose(trainer.pipeline.datamanager.train_dataset.cameras[camera_index])
            for client in viewer.viser_server.get_clients().values():
                with client.atomic():
                    client.camera.fov = fov
                    client.camera.wxyz = wxyz
                    client.camera.position = position
            time.sleep(settle)  # the low-resolution frames, then the full-resolution one
            shot = browser.screenshot()
            out.parent.mkdir(parents=True, exist_ok=True)
            shot.save(out)
            print(f"viewer_screenshot: {out} at step {trainer.step}, coloured fraction {scene_fraction(shot):.3f}", flush=True)
        finally:
            browser.close()
    finally:
        os.kill(os.getpid(), signal.SIGINT)  # our guard stops the viewer's renders, saves and exits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--seconds", type=float, default=110.0, help="training time before the browser opens")
    parser.add_argument("--camera", type=int, default=0, help="index of the training camera to look through")
    parser.add_argument("--settle", type=float, default=60.0, help="seconds for the viewer to render the frame")
    args = parser.parse_args()

    from nerfstudio.configs.method_configs import all_methods

    config = copy.deepcopy(all_methods["vanilla-nerf-pe-fast"])
    config.pipeline.datamanager.data = args.data
    config.machine.device_type = "cpu"
    config.vis = "viewer"
    port = free_port()
    config.viewer.websocket_port = port
    config.viewer.websocket_host = "127.0.0.1"
    config.viewer.max_num_display_images = 0
    config.output_dir = Path(tempfile.mkdtemp(prefix="vnp-screenshot-"))
    config.max_num_iterations = 100_000
    config.set_timestamp()
    config.save_config()  # as ns-train does; it also makes the run's folder, where the viewer keeps its log
    trainer = config.setup(local_rank=0, world_size=1)
    trainer.setup()
    wait_thread = threading.Thread(
        target=screenshot_when_trained, args=(trainer, port, args.seconds, args.camera, args.output, args.settle), daemon=True
    )
    wait_thread.start()
    trainer.train()


if __name__ == "__main__":
    main()
