"""Load a local HTML file in headless Chromium and report its console errors, a checked value and a screenshot.

Tests of the self-contained HTML report use this to prove that the page renders and its scripts run without
errors. Standard library only: the DevTools protocol runs over two pipes (`--remote-debugging-pipe`), so no
websocket client, no port and no network are involved.
"""

import base64
import contextlib
import json
import os
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FLAGS = [
    "--headless",
    "--no-sandbox",  # tests may run as root, where the sandbox refuses to start
    "--disable-gpu",
    "--no-first-run",
    "--no-default-browser-check",
    "--remote-debugging-pipe",
    # Nothing in the background: no network, updates, extensions, crash reports or sound.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-extensions",
    "--disable-sync",
    "--disable-breakpad",
    "--disable-default-apps",
    "--mute-audio",
    "--hide-scrollbars",
]
# Chromium reads commands on fd 3 and writes on fd 4. pass_fds keeps the parent's fd numbers (any, even 3 and 4
# swapped) and preexec_fn is unsafe with threads, so our pipe ends go in as stdin and stdout and sh moves them there.
SHIM = 'exec "$@" 3<&0 4>&1 </dev/null >&2'


@dataclass
class PageResult:
    console_errors: list[str]  # console.error/assert, uncaught exceptions and error log entries, one line each
    value: Any  # what the check expression returned, as JSON
    screenshot: Path | None  # the PNG written, if one was asked for


def chromium_path() -> str | None:
    """The first Chromium-like browser on PATH, so tests can skip cleanly where there is none."""
    return next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)


def _arg(obj: dict) -> str:
    """A console argument as the console would show it (strings bare, objects by description)."""
    if "value" in obj:
        return obj["value"] if isinstance(obj["value"], str) else json.dumps(obj["value"])
    return obj.get("unserializableValue") or obj.get("description") or obj["type"]


class _Browser:
    """One Chromium process and its DevTools pipe (JSON messages, each ended by a NUL byte)."""

    def __init__(self, exe: str, tmp: Path, deadline: float) -> None:
        self.deadline, self.log = deadline, tmp / "stderr.log"
        self.errors: list[str] = []
        self.loaded = False
        self.inbox: queue.Queue[dict | None] = queue.Queue()
        self.last_id = 0
        to_r, to_w = os.pipe()
        from_r, from_w = os.pipe()
        argv = ["/bin/sh", "-c", SHIM, "sh", exe, *FLAGS, f"--user-data-dir={tmp / 'profile'}", "about:blank"]
        with self.log.open("wb") as log:
            # A session of its own, so cleanup can kill the renderer and helper processes too.
            self.proc = subprocess.Popen(argv, stdin=to_r, stdout=from_w, stderr=log, start_new_session=True)
        os.close(to_r)
        os.close(from_w)
        self.out = open(to_w, "wb")  # noqa: SIM115 (closed in close())
        # A reader thread, so that a hung browser only ever costs the deadline of the queue wait.
        threading.Thread(target=self._read, args=(from_r,), daemon=True).start()

    def _read(self, fd: int) -> None:
        buf = b""
        with open(fd, "rb", buffering=0) as pipe:
            while chunk := pipe.read(1 << 16):
                *messages, buf = (buf + chunk).split(b"\0")
                for message in messages:
                    self.inbox.put(json.loads(message))
        self.inbox.put(None)  # end of file: Chromium has gone

    def failure(self, what: str) -> RuntimeError:
        # Without a D-Bus (containers, CI) Chromium logs dozens of harmless dbus/ errors that would hide the cause.
        lines = [line for line in self.log.read_text(errors="replace").splitlines() if ":ERROR:dbus/" not in line]
        return RuntimeError(f"chromium {what}; last lines of its stderr:\n" + "\n".join(lines[-20:]))

    def died(self) -> RuntimeError:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)
        return self.failure(f"exited early (status {self.proc.returncode})")

    def _next(self) -> dict:
        try:
            message = self.inbox.get(timeout=max(0.0, self.deadline - time.monotonic()))
        except queue.Empty:
            raise self.failure("timed out") from None
        if message is None:
            raise self.died()
        self._event(message.get("method"), message.get("params", {}))
        return message

    def _event(self, method: str | None, p: dict) -> None:
        if method == "Page.loadEventFired":
            self.loaded = True
        elif method == "Runtime.consoleAPICalled" and p["type"] in ("error", "assert"):
            frames = p.get("stackTrace", {}).get("callFrames")
            where = f" ({frames[0]['url']}:{frames[0]['lineNumber'] + 1})" if frames else ""
            self.errors.append(f"console.{p['type']}: {' '.join(map(_arg, p['args']))}{where}")
        elif method == "Runtime.exceptionThrown":
            d = p["exceptionDetails"]
            text = d.get("exception", {}).get("description", "").split("\n")[0]
            self.errors.append(f"{d['text']} {text} ({d.get('url', '')}:{d['lineNumber'] + 1})")
        elif method == "Log.entryAdded" and p["entry"]["level"] == "error":
            e = p["entry"]
            self.errors.append(f"{e['source']}: {e['text']}" + (f" ({e['url']})" if e.get("url") else ""))

    def call(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        """Send one command (to the page when session is given) and return its result, handling events meanwhile."""
        self.last_id += 1
        message = {"id": self.last_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        try:
            self.out.write(json.dumps(message).encode() + b"\0")
            self.out.flush()
        except BrokenPipeError:
            raise self.died() from None
        while (reply := self._next()).get("id") != self.last_id:
            pass
        if "error" in reply:
            raise RuntimeError(f"{method} failed: {reply['error']}")
        return reply["result"]

    def wait_load(self) -> None:
        while not self.loaded:
            self._next()

    def evaluate(self, expression: str, session: str) -> Any:
        params = {"expression": expression, "returnByValue": True, "awaitPromise": True}
        r = self.call("Runtime.evaluate", params, session)
        if "exceptionDetails" in r:
            d = r["exceptionDetails"]
            raise RuntimeError(f"{expression!r} threw {d.get('exception', {}).get('description', d['text'])}")
        return r["result"].get("value")

    def close(self) -> None:
        """Ask politely, then kill the whole process group: no browser outlives the test."""
        if self.proc.poll() is None:
            with contextlib.suppress(OSError, RuntimeError):
                self.call("Browser.close")
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(5)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        with contextlib.suppress(OSError):
            self.out.close()


def open_page(
    html: Path, check: str, screenshot: Path | None = None, width: int = 1280, timeout_s: float = 60
) -> PageResult:
    """Load html (file://) at the given width, evaluate check after the load event, and optionally screenshot it all.

    Raises RuntimeError if Chromium is missing, fails or exceeds timeout_s (stopping a hung one takes up to 5 s more),
    if the file does not load, or if the check expression throws.
    """
    exe = chromium_path()
    if exe is None:
        raise RuntimeError("no chromium, chromium-browser or google-chrome on PATH")
    tmp = Path(tempfile.mkdtemp(prefix="browser-"))
    browser = None
    try:
        browser = _Browser(exe, tmp, time.monotonic() + timeout_s)
        target = browser.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        s = browser.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Runtime", "Log", "Page"):
            browser.call(f"{domain}.enable", session=s)
        metrics = {"width": width, "height": 800, "deviceScaleFactor": 1, "mobile": False}
        browser.call("Emulation.setDeviceMetricsOverride", metrics, s)  # lay out at the final width from the start
        nav = browser.call("Page.navigate", {"url": html.resolve().as_uri()}, s)
        if "errorText" in nav:
            raise RuntimeError(f"could not load {html}: {nav['errorText']}")
        browser.wait_load()
        value = browser.evaluate(check, s)
        if screenshot is not None:
            metrics["height"] = min(browser.evaluate("document.documentElement.scrollHeight", s), 16000)
            browser.call("Emulation.setDeviceMetricsOverride", metrics, s)
            shot = browser.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, s)
            screenshot.write_bytes(base64.b64decode(shot["data"]))
        return PageResult(list(browser.errors), value, screenshot)
    finally:
        if browser is not None:
            browser.close()
        shutil.rmtree(tmp, ignore_errors=True)
