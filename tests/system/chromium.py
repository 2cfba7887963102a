"""A screenshot of a web page in headless Chromium, after the page has run for a while.

``chromium --headless --screenshot`` shoots as soon as the page has loaded, before a single-page
application such as Yamcs's web interface has fetched and shown anything (and with a virtual time
budget it never hears from its web socket). So this drives Chromium over its DevTools protocol
on a pipe (``--remote-debugging-pipe``: file descriptors 3 and 4, JSON messages ended by a NUL;
no web socket library needed): open the page, let it run ``settle`` wall seconds, capture it.
Chromium comes from the system (``make system-tools`` installs the Debian package).
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

MAX_MESSAGE = 64 << 20
"""The longest DevTools message read (a full-page PNG in base64 is well under it)."""


def chromium() -> str | None:
    """The Chromium on this machine's path, or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def screenshot(url: str, out: Path, *, settle: float = 8.0, size: tuple[int, int] = (1400, 900),
               timeout: float = 60.0) -> Path:  # fmt: skip
    """Open ``url`` in headless Chromium, wait ``settle`` seconds, write a PNG to ``out``."""
    binary = chromium()
    if binary is None:
        raise RuntimeError("no chromium on the path (make system-tools installs it)")
    to_chrome = os.pipe()  # Chromium reads fd 3
    from_chrome = os.pipe()  # Chromium writes fd 4

    def descriptors() -> None:  # in the child: its ends as 3 and 4, whatever their numbers
        read, write = os.dup(to_chrome[0]), os.dup(from_chrome[1])
        os.dup2(read, 3)
        os.dup2(write, 4)

    proc = subprocess.Popen(
        [binary, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         f"--window-size={size[0]},{size[1]}", "--remote-debugging-pipe", "about:blank"],
        pass_fds=(3, 4, to_chrome[0], from_chrome[1]), preexec_fn=descriptors,
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    os.close(to_chrome[0])
    os.close(from_chrome[1])
    devtools = _DevTools(to_chrome[1], from_chrome[0], time.monotonic() + timeout)
    try:
        target = devtools.call("Target.createTarget", url="about:blank")["targetId"]
        session = devtools.call("Target.attachToTarget", targetId=target, flatten=True)
        sid = session["sessionId"]
        devtools.call("Emulation.setDeviceMetricsOverride", sid, width=size[0], height=size[1],
                      deviceScaleFactor=1, mobile=False)  # fmt: skip
        devtools.call("Page.navigate", sid, url=url)
        time.sleep(settle)  # the page's own time to fetch and draw: what is being waited for
        png = base64.b64decode(devtools.call("Page.captureScreenshot", sid, format="png")["data"])
        out.write_bytes(png)
        return out
    finally:
        try:
            devtools.call("Browser.close")
        except (RuntimeError, OSError):
            proc.kill()
        proc.wait(timeout=30)
        os.close(to_chrome[1])
        os.close(from_chrome[0])


class _DevTools:
    """Requests and their answers over Chromium's DevTools pipe (events are skipped)."""

    def __init__(self, write: int, read: int, deadline: float) -> None:
        self.write, self.read, self.deadline = write, read, deadline
        self.buffer = b""
        self.last = 0

    def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        self.last += 1
        message: dict[str, Any] = {"id": self.last, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self.write, json.dumps(message).encode("utf-8") + b"\0")
        while True:
            while b"\0" not in self.buffer:
                left = self.deadline - time.monotonic()
                ready, _, _ = select.select([self.read], [], [], max(left, 0))
                if not ready or len(self.buffer) > MAX_MESSAGE:
                    raise RuntimeError(f"chromium: no answer to {method}")
                chunk = os.read(self.read, 1 << 20)
                if not chunk:
                    raise RuntimeError(f"chromium closed its pipe (at {method})")
                self.buffer += chunk
            line, _, self.buffer = self.buffer.partition(b"\0")
            answer = json.loads(line)
            if answer.get("id") == self.last:
                if "error" in answer:
                    raise RuntimeError(f"chromium: {method}: {answer['error']}")
                return dict(answer.get("result", {}))
