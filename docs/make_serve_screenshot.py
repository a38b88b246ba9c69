"""The screenshot of `facesr serve` in docs/serve.md: the page after the bundled public-domain photo was
restored (headless Chromium driven by Playwright; needs facesr[serve,faces,test] and a chromium on PATH).

    python docs/make_serve_screenshot.py [-o docs/serve_screenshot.png]
"""
from __future__ import annotations

import argparse
import shutil
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-o", "--output", default=str(ROOT / "docs" / "serve_screenshot.png"))
    args = ap.parse_args(argv)
    import uvicorn
    from playwright.sync_api import sync_playwright

    from facesr.cli.common import SAMPLE_PHOTO
    from facesr.serve import create_app
    from facesr.serve.jobs import JobStore

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("skipped: no chromium on PATH (apt-get install chromium)")
        return 0
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = JobStore()
    srv = uvicorn.Server(uvicorn.Config(create_app(store), host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=srv.run, daemon=True).start()
    while not srv.started:
        time.sleep(0.05)
    tmp = Path(tempfile.mkdtemp())
    photo = tmp / "astronaut.png"
    shutil.copy(SAMPLE_PHOTO, photo)
    try:
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu",
                                                                  "--disable-background-networking"])
            page = b.new_page(viewport={"width": 1000, "height": 900})
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_selector("[data-testid=model] option", state="attached")
            page.set_input_files("[data-testid=files]", [str(photo)])
            page.wait_for_function("[...document.querySelectorAll('[data-testid=final]')]"
                                   ".some(i => i.complete && i.naturalWidth > 0)", timeout=120_000)
            page.wait_for_timeout(300)
            page.screenshot(path=args.output, full_page=True)
            b.close()
    finally:
        srv.should_exit = True
        store.close()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
