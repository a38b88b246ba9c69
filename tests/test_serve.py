"""`facesr serve`: the job store, the HTTP API (a real uvicorn server on loopback) and the page in a real
headless Chromium (Debian's, driven by Playwright; skipped where either is missing, installed by .ci/run).

The results the app gives are compared byte for byte with the files `facesr enhance` writes for the same
photo and settings."""
from __future__ import annotations

import json
import shutil
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
pytest.importorskip("dlib")

from facesr.cli.common import SAMPLE_PHOTO  # noqa: E402
from facesr.serve.jobs import JobStore, safe_name, shipped_models  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A running app (uvicorn in a thread) with a 2 MB upload limit: (base URL, store)."""
    import uvicorn

    from facesr.serve import create_app

    store = JobStore(root=tmp_path_factory.mktemp("serve-jobs"))
    app = create_app(store, max_upload_mb=2)
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    t = threading.Thread(target=srv.run, daemon=True)
    t.start()
    for _ in range(200):
        if srv.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", store
    srv.should_exit = True
    t.join(timeout=10)
    store.close()


def _req(url, data=None, method=None):
    r = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(r, timeout=60) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def _post(base, name, data, **opts):
    q = urllib.parse.urlencode({"name": name, **opts})
    status, body = _req(f"{base}/api/jobs?{q}", data=data, method="POST")
    return status, json.loads(body)


def _wait(base, jid, timeout=120):
    t0 = time.time()
    while time.time() - t0 < timeout:
        d = json.loads(_req(f"{base}/api/jobs/{jid}")[1])
        if d["status"] in ("done", "error"):
            return d
        time.sleep(0.2)
    raise AssertionError(f"job {jid} did not finish")


@pytest.fixture(scope="module")
def cli_outputs(tmp_path_factory):
    """What `facesr enhance` writes for the bundled photo (as `photo.png`) under two settings."""
    from facesr.cli import main

    root = tmp_path_factory.mktemp("cli")
    shutil.copy(SAMPLE_PHOTO, root / "photo.png")
    outs = {}
    for key, args in {"default": [], "tiny": ["-m", "sparnet-tiny", "-s", "3", "-w", "0.5"]}.items():
        out = root / key
        assert main(["enhance", "-i", str(root / "photo.png"), "-o", str(out), "-q", *args]) == 0
        outs[key] = out
    return outs


def test_safe_name_stays_in_its_folder():
    assert safe_name("../../etc/passwd") == "passwd"
    assert safe_name("C:\\Users\\me\\photo 1.JPG") == "photo_1.JPG"
    assert safe_name("..") == "upload" and safe_name("") == "upload" and safe_name(".hidden.png") == "hidden.png"
    long = safe_name("a" * 300 + ".jpeg")
    assert len(long) <= 100 and long.endswith(".jpeg")
    assert safe_name("ok-name_1.png") == "ok-name_1.png"


def test_models_listed_are_the_shipped_photo_models():
    from facesr.enhance import DEFAULT_MODEL
    from facesr.registry import list_presets, weights_path

    names = [m.name for m in shipped_models()]
    assert names[0] == DEFAULT_MODEL
    assert {"sparnethd-lite", "sparnet-tiny", "pfsr-lite", "pkdn-lite", "san-lite"} <= set(names)
    # no teacher, landmark network, discriminator or degradation model
    assert not {"pkdn-teacher-lite", "fan-distilled", "stylevae-x8"} & set(names)
    for m in shipped_models():
        assert m.use and weights_path(next(p for p in list_presets() if p.name == m.name)).is_file()


def test_two_uploads_at_once_each_match_the_cli(server, cli_outputs):
    """The second upload arrives while the first runs; each result is the CLI's, byte for byte."""
    base, _ = server
    data = SAMPLE_PHOTO.read_bytes()
    s1, j1 = _post(base, "photo.png", data)
    s2, j2 = _post(base, "photo.png", data, model="sparnet-tiny", upscale=3, weight=0.5)
    assert s1 == s2 == 202 and j1["id"] != j2["id"]
    assert j2["status"] == "queued"
    for job, key in ((j1, "default"), (j2, "tiny")):
        d = _wait(base, job["id"])
        assert d["status"] == "done", d
        cli = cli_outputs[key]
        expected = sorted(p.relative_to(cli).as_posix() for p in cli.rglob("*.png"))
        got = sorted(r[len("out/"):] for v in d["files"].values() for r in v)
        assert got == expected
        for rel in expected:
            status, body = _req(f"{base}/api/jobs/{d['id']}/file/out/{rel}")
            assert status == 200 and body == (cli / rel).read_bytes(), rel


def test_zip_holds_the_enhance_layout(server, cli_outputs):
    import io
    import zipfile

    base, _ = server
    _, j = _post(base, "photo.png", SAMPLE_PHOTO.read_bytes())
    _wait(base, j["id"])
    status, body = _req(f"{base}/api/jobs/{j['id']}/zip")
    assert status == 200
    z = zipfile.ZipFile(io.BytesIO(body))
    assert z.read("final/photo.png") == (cli_outputs["default"] / "final/photo.png").read_bytes()
    assert sorted(z.namelist()) == ["cmp/photo_00.png", "cropped_faces/photo_00.png", "final/photo.png",
                                    "restored_faces/photo_00.png"]


def test_bad_file_gets_the_cli_line_and_others_go_on(server, tmp_path):
    from facesr.enhance import enhance_paths

    base, _ = server
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"this is not a JPEG" * 20)
    cli = enhance_paths([bad], tmp_path / "out", progress=False, quiet=True)
    _, jb = _post(base, "broken.jpg", bad.read_bytes())
    _, jg = _post(base, "photo.png", SAMPLE_PHOTO.read_bytes())
    db, dg = _wait(base, jb["id"]), _wait(base, jg["id"])
    assert db["status"] == "error" and db["message"] == cli.failed[0][1].replace(str(bad), "broken.jpg")
    assert dg["status"] == "done"


def test_refusals_are_one_line(server):
    base, store = server
    n = len(list(store.root.iterdir()))
    status, d = _post(base, "big.png", b"\0" * (2 * 1024 * 1024 + 1))
    assert status == 413 and "upload limit" in d["error"]
    status, d = _post(base, "e.png", b"")
    assert status == 400 and "empty" in d["error"]
    for bad in ({"model": "pkdn-teacher-lite"}, {"upscale": "0"}, {"upscale": "nan"}, {"weight": "2"}):
        status, d = _post(base, "x.png", b"123", **bad)
        assert status == 400 and "\n" not in d["error"], bad
    assert len(list(store.root.iterdir())) == n  # nothing kept from refused uploads
    assert _req(f"{base}/api/jobs/nope")[0] == 404


def test_files_are_looked_up_not_joined(server):
    base, store = server
    _, j = _post(base, "../../photo.png", SAMPLE_PHOTO.read_bytes())
    d = _wait(base, j["id"])
    assert d["name"] == "photo.png" and (store.root / j["id"] / "input" / "photo.png").is_file()
    for rel in ("../../../etc/passwd", "out/../input/photo.png", "input/../../x", "out/final"):
        assert _req(f"{base}/api/jobs/{j['id']}/file/{rel}")[0] == 404
    assert _req(f"{base}/api/jobs/{j['id']}/file/input/photo.png")[1] == SAMPLE_PHOTO.read_bytes()
    assert _req(f"{base}/api/jobs/{j['id']}", method="DELETE")[0] == 200
    assert not (store.root / j["id"]).exists()


def test_store_serves_a_clip(tmp_path):
    """A short clip goes through the same store: the result is an MP4 of the clip's frame count."""
    pytest.importorskip("av")
    import numpy as np

    from facesr.data.io import read_image
    from facesr.enhance.video import video_info, write_clip

    img = read_image(SAMPLE_PHOTO)
    clip = write_clip(tmp_path / "c.mp4", [img] * 4, fps=10, audio_hz=330)
    store = JobStore(root=tmp_path / "jobs")
    try:
        job = store.new_job("c.mp4", {"model": "sparnethd-lite", "upscale": 1.0, "weight": 1.0})
        job.input_path.write_bytes(clip.read_bytes())
        store.submit(job)
        for _ in range(600):
            if job.status in ("done", "error"):
                break
            time.sleep(0.1)
        assert job.status == "done", job.message
        assert job.kind == "video" and job.progress == 1.0
        info = video_info(store.file(job, job.files["final"][0]))
        assert (info.frames, info.width, info.audio) == (4, img.shape[1], "aac")
        assert np.isclose(float(info.fps), 10)
    finally:
        store.close()


def test_page_in_a_real_browser(server, cli_outputs, tmp_path):
    """Headless Chromium: upload the bundled photo and a corrupt file through the page's file input;
    the restored photo and both face crops arrive and equal what `facesr enhance` writes; the corrupt
    file shows the CLI's one-line message. Skipped without Chromium or Playwright, except in CI
    (FACESR_REQUIRE_BROWSER=1, set by .ci/run, which installs Debian's chromium), where it must run."""
    import os

    if os.environ.get("FACESR_REQUIRE_BROWSER") != "1":
        if CHROMIUM is None:
            pytest.skip("no Chromium (.ci/run installs Debian's chromium)")
        pytest.importorskip("playwright.sync_api")
    assert CHROMIUM is not None, "FACESR_REQUIRE_BROWSER=1 but no chromium on PATH"
    from playwright import sync_api
    base, _ = server
    photo = tmp_path / "photo.png"
    shutil.copy(SAMPLE_PHOTO, photo)
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"this is not a JPEG" * 20)
    cli = cli_outputs["default"]
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        try:
            page = browser.new_page()
            page.goto(base + "/")
            page.wait_for_selector("[data-testid=model] option", state="attached")
            assert page.input_value("[data-testid=model]") == "sparnethd-lite"
            page.set_input_files("[data-testid=files]", [str(photo), str(bad)])
            page.wait_for_function("document.querySelectorAll('[data-testid=job]').length == 2")
            page.wait_for_function(
                "[...document.querySelectorAll('[data-testid=job-status]')].every("
                "s => s.textContent.startsWith('done') || s.textContent == 'error')", timeout=120_000)
            jobs = {page.locator("[data-testid=job-name]").nth(i).inner_text(): page.locator("[data-testid=job]").nth(i)
                    for i in range(2)}
            err = jobs["broken.jpg"]
            assert err.locator("[data-testid=job-status]").inner_text() == "error"
            assert err.locator("[data-testid=job-message]").inner_text() == \
                "cannot read image 'broken.jpg': not an image file (unrecognised format)"
            ok = jobs["photo.png"]
            ok.locator("[data-testid=final]").wait_for()
            page.wait_for_function("[...document.querySelectorAll('[data-testid=final]')].some(i => i.complete && i.naturalWidth > 0)")
            final_src = ok.locator("[data-testid=final]").get_attribute("src")
            assert page.request.get(base + final_src).body() == (cli / "final/photo.png").read_bytes()
            for tid, folder in (("face-before", "cropped_faces"), ("face-after", "restored_faces")):
                img = ok.locator(f"[data-testid={tid}]")
                assert img.count() == 1
                assert page.request.get(base + img.get_attribute("src")).body() == (cli / folder / "photo_00.png").read_bytes()
            href = ok.locator("[data-testid=download-final]").get_attribute("href")
            assert page.request.get(base + href).body() == (cli / "final/photo.png").read_bytes()
            assert ok.locator("[data-testid=final]").evaluate("i => i.naturalWidth") == 224  # the 112 px photo at the default upscale 2
        finally:
            browser.close()
