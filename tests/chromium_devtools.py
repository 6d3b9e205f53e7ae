"""Headless Chromium driven over the DevTools protocol, for the browser tests.

Chromium runs with `--remote-debugging-pipe`: JSON messages separated by NUL bytes
on file descriptors 3 (commands in) and 4 (replies out), so no websocket client
or extra package is needed. Started with the flags the workplace requires:
no background networking, a fresh profile folder.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
)


class DevToolsPipe:
    """A headless Chromium and its DevTools protocol over fds 3 (commands in) and 4 (replies out)."""

    def __init__(self, user_data_dir: Path) -> None:
        to_browser_r, to_browser_w = os.pipe()
        from_browser_r, from_browser_w = os.pipe()
        # Move our ends above fd 10 so the child's dup2 into 3 and 4 cannot clobber them.
        to_browser_r, to_browser_w, from_browser_r, from_browser_w = (
            self._above_10(fd) for fd in (to_browser_r, to_browser_w, from_browser_r, from_browser_w)
        )

        def child_fds() -> None:
            os.dup2(to_browser_r, 3)
            os.dup2(from_browser_w, 4)

        self.proc = subprocess.Popen(
            [
                CHROMIUM,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={user_data_dir}",
                "--remote-debugging-pipe",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(3, 4),
            preexec_fn=child_fds,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self.write_fd, self.read_fd = to_browser_w, from_browser_r
        self.buffer = b""
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    @staticmethod
    def _above_10(fd: int) -> int:
        new = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(fd)
        return new

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("Chromium did not answer in time")
            ready, _, _ = select.select([self.read_fd], [], [], left)
            if ready:
                chunk = os.read(self.read_fd, 1 << 20)
                if not chunk:
                    raise RuntimeError("Chromium closed the DevTools pipe (did it crash?)")
                self.buffer += chunk
        raw, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(raw)

    def send(
        self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 30
    ) -> dict:
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self.write_fd, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method} failed: {reply['error']}")
                return reply["result"]
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float = 30) -> dict:
        for event in self.events:
            if event.get("method") == method:
                return event
        deadline = time.monotonic() + timeout
        while True:
            event = self._read_message(deadline)
            self.events.append(event)
            if event.get("method") == method:
                return event

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=5)
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self.write_fd)
        os.close(self.read_fd)


def open_page(browser: DevToolsPipe, url: str, width: int = 1280, height: int = 1000) -> str:
    """Open `url` in a new tab with network and page events on; return the session id."""
    target = browser.send("Target.createTarget", {"url": "about:blank"})
    session = browser.send("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True})[
        "sessionId"
    ]
    browser.send("Network.enable", session=session)
    browser.send("Page.enable", session=session)
    browser.send(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        session=session,
    )
    browser.send("Page.navigate", {"url": url}, session=session)
    browser.wait_for("Page.loadEventFired", timeout=60)
    return session


def evaluate(browser: DevToolsPipe, session: str, expression: str) -> Any:
    """The JSON value of a JavaScript expression that returns `JSON.stringify(...)`."""
    result = browser.send(
        "Runtime.evaluate", {"expression": expression, "returnByValue": True}, session=session
    )
    return json.loads(result["result"]["value"])


def screenshot(browser: DevToolsPipe, session: str, path: Path, width: int, full_page: bool = True) -> bytes:
    """Write a PNG of the page (the whole page, or the viewport) to `path`; return its bytes."""
    params: dict[str, Any] = {"format": "png"}
    if full_page:
        height = browser.send("Page.getLayoutMetrics", session=session)["cssContentSize"]["height"]
        params |= {"captureBeyondViewport": True,
                   "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}}
    shot = browser.send("Page.captureScreenshot", params, session=session, timeout=60)
    png = base64.b64decode(shot["data"])
    path.write_bytes(png)
    return png
