"""nerfstudio's web viewer showing our model, seen by a real browser (headless Chromium).

A short ``ns-train`` of ours runs with the viser viewer on a loopback port; Chromium opens the page
and we take screenshots over the DevTools protocol until the viewer has drawn a frame that our
model rendered. Training images are not displayed in the viewer (``--viewer.max-num-display-images
0``), so coloured pixels in the 3D canvas can only come from our model's rendering. Then Ctrl-C
(our guard saves a checkpoint) and ``ns-viewer --load-config`` on the finished run, the same way.

A second test presses Ctrl-C while the viewer renders its first, full-resolution frame of a young
model (minutes on a CPU, under nerfstudio's training lock): training must still end with a
checkpoint within a minute.

Set ``VNP_VIEWER_SCREENSHOT=path.png`` to keep the training-time screenshot (the figure in docs/training.md).
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Optional

import numpy as np
import pytest
from PIL import Image

from tests.conftest import cli_env, free_port, stop

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (Debian's package `chromium`; .ci/run installs it)"),
]


class Chromium:
    """Headless Chromium driven over the DevTools protocol (a websocket; no extra packages)."""

    def __init__(self, width: int = 1200, height: int = 800):
        self.profile = tempfile.mkdtemp(prefix="vnp-chromium-")
        self.proc = subprocess.Popen(
            [
                CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--enable-unsafe-swiftshader", "--use-angle=swiftshader",  # WebGL in software for three.js
                f"--window-size={width},{height}", f"--user-data-dir={self.profile}",
                "--remote-debugging-port=0", "about:blank",
            ],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,  # its GPU and renderer processes outlive a plain terminate()
        )
        port_file = Path(self.profile) / "DevToolsActivePort"
        deadline = time.time() + 60
        while not (port_file.is_file() and port_file.read_text().strip()) and time.time() < deadline:
            time.sleep(0.2)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as resp:
            page = next(t for t in json.load(resp) if t["type"] == "page")
        from websockets.sync.client import connect

        self.ws = connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=30)
        self.next_id = 0

    def call(self, method: str, **params) -> dict:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv(timeout=60))
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    def screenshot(self) -> Image.Image:
        data = self.call("Page.captureScreenshot", format="png")["data"]
        return Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB")

    def close(self) -> None:
        try:
            self.ws.close()
        finally:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)  # the whole process group
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=20)
            shutil.rmtree(self.profile, ignore_errors=True)


def scene_fraction(image: Image.Image) -> float:
    """Fraction of the 3D canvas (left 60% of the page, clear of the control panel) that is coloured.

    The viewer's own canvas is white with a grey grid; the demo scene's spheres and boxes are
    saturated colours, so saturated pixels there are our model's rendering.
    """
    a = np.asarray(image, dtype=np.float32)[:, : int(0.6 * image.width)] / 255.0
    saturation = a.max(axis=-1) - a.min(axis=-1)
    return float(np.mean(saturation > 0.2))


def wait_for_page(url: str, proc: subprocess.Popen, timeout: float = 240) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert proc.poll() is None, f"the viewer process exited early:\n{proc.stdout.read()[-4000:] if proc.stdout else ''}"
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if b"<html" in resp.read().lower():
                    return
        except OSError:
            time.sleep(1)
    raise AssertionError(f"no page at {url} after {timeout} s")


def wait_for_scene(browser: Chromium, url: str, timeout: float = 240) -> Image.Image:
    """Open ``url`` and take screenshots until the canvas shows the scene; return the last one."""
    browser.call("Page.enable")
    browser.call("Page.navigate", url=url)
    deadline = time.time() + timeout
    best: Optional[Image.Image] = None
    best_fraction = 0.0
    while time.time() < deadline:
        time.sleep(3)
        shot = browser.screenshot()
        fraction = scene_fraction(shot)
        if fraction >= best_fraction:
            best, best_fraction = shot, fraction
        if fraction > 0.01:
            return shot
    path = Path(tempfile.gettempdir()) / "vnp-viewer-failed.png"
    if best is not None:
        best.save(path)
    raise AssertionError(f"the viewer showed no rendering of the scene in {timeout} s (best {best_fraction:.4f}; screenshot {path})")


@pytest.fixture()
def browser():
    chromium = Chromium()
    yield chromium
    chromium.close()


def test_viewer_shows_our_model_while_training_and_after(browser, tiny_scene, tmp_path):
    method = "vanilla-nerf-pe-fast"
    port = free_port()
    viewer_args = ["--viewer.websocket-port", str(port), "--viewer.websocket-host", "127.0.0.1",
                   "--viewer.max-num-display-images", "0"]
    train = subprocess.Popen(
        ["ns-train", method, "--machine.device-type", "cpu", "--max-num-iterations", "100000", "--steps-per-save", "300",
         *viewer_args, "--output-dir", str(tmp_path), "--experiment-name", "x", "--timestamp", "run",
         "blender-data", "--data", str(tiny_scene)],
        cwd=tmp_path, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_for_page(url, train)
        # Connect once the model has something to show: the checkpoint of step 300, after the
        # occupancy grid's warm-up. (Before it, every ray marches the whole box, and the viewer's
        # full-resolution render holds nerfstudio's training lock for minutes on a CPU.)
        models = tmp_path / "x" / method / "run" / "nerfstudio_models"
        deadline = time.time() + 300
        while not list(models.glob("*.ckpt")) and train.poll() is None and time.time() < deadline:
            time.sleep(1)
        assert list(models.glob("*.ckpt")), "training did not reach step 300"
        shot = wait_for_scene(browser, url)
        shot.save(tmp_path / "training.png")
        if os.environ.get("VNP_VIEWER_SCREENSHOT"):
            shot.save(os.environ["VNP_VIEWER_SCREENSHOT"])
        train.send_signal(signal.SIGINT)  # our guard saves a checkpoint of this step
        train.wait(timeout=120)
        assert train.returncode == 130, train.stdout.read()[-3000:] if train.stdout else ""
    finally:
        if train.poll() is None:
            train.kill()

    config = tmp_path / "x" / method / "run" / "config.yml"
    assert sorted((config.parent / "nerfstudio_models").glob("*.ckpt")), "Ctrl-C left no checkpoint"
    port = free_port()
    viewer = subprocess.Popen(
        ["ns-viewer", "--load-config", str(config), "--viewer.websocket-port", str(port),
         "--viewer.websocket-host", "127.0.0.1", "--viewer.max-num-display-images", "0"],
        cwd=tmp_path, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_for_page(url, viewer)
        wait_for_scene(browser, url).save(tmp_path / "ns-viewer.png")
    finally:
        stop(viewer)


def test_ctrl_c_while_the_viewer_renders_ends_training_with_a_checkpoint(browser, tiny_scene, tmp_path):
    """The bfloat16 hang of issue 15: the viewer's render thread held nerfstudio's training lock for
    the minutes a full-resolution frame of an untrained model takes, and Ctrl-C waited for it."""
    method = "vanilla-nerf-pe-fast"
    port = free_port()
    log = tmp_path / "ns-train.log"
    with open(log, "w") as out:
        train = subprocess.Popen(
            ["ns-train", method, "--machine.device-type", "cpu", "--max-num-iterations", "100000",
             "--pipeline.model.precision", "bfloat16", "--viewer.websocket-port", str(port),
             "--viewer.websocket-host", "127.0.0.1", "--viewer.max-num-display-images", "0",
             "--output-dir", str(tmp_path), "--experiment-name", "x", "--timestamp", "run",
             "blender-data", "--data", str(tiny_scene)],
            cwd=tmp_path, env=cli_env(), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_for_page(url, train)
        browser.call("Page.enable")
        browser.call("Page.navigate", url=url)
        deadline = time.time() + 120
        while "Connection opened" not in log.read_text() and time.time() < deadline:
            time.sleep(0.5)
        assert "Connection opened" in log.read_text(), log.read_text()[-3000:]
        time.sleep(10)  # the first frame (the viewer's "high" state, 512 pixels) is under way
        train.send_signal(signal.SIGINT)
        try:
            train.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail(f"ns-train was still running 60 s after Ctrl-C:\n{log.read_text()[-3000:]}")
        assert train.returncode == 130, log.read_text()[-3000:]
    finally:
        if train.poll() is None:
            train.kill()
    assert list((tmp_path / "x" / method / "run" / "nerfstudio_models").glob("*.ckpt")), "Ctrl-C left no checkpoint"
