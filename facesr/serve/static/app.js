// facesr serve: the page's logic. Plain JavaScript, no libraries, nothing fetched from elsewhere.
"use strict";
const $ = (s, el = document) => el.querySelector(s);
const state = { models: [], maxBytes: 0, jobs: [] };

async function init() {
  const r = await fetch("/api/models");
  const info = await r.json();
  state.models = info.models;
  state.maxBytes = info.max_upload_mb * 1024 * 1024;
  const sel = $("#model");
  for (const m of info.models) {
    const o = document.createElement("option");
    o.value = m.name;
    o.textContent = m.name + (m.default ? " (default)" : "") + (m.kind === "sr" ? "  x8" : "");
    sel.appendChild(o);
  }
  sel.addEventListener("change", showUse);
  showUse();
  $("#limits").textContent = `Up to ${info.max_upload_mb} MB per file: ${info.extensions.join(" ")}`;
  for (const id of ["upscale", "weight"]) {
    const el = $("#" + id);
    const out = $("#" + id + "-value");
    el.addEventListener("input", () => { out.textContent = id === "weight" ? Number(el.value).toFixed(2) : el.value; });
  }
  const drop = $("#drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); addFiles([...e.dataTransfer.files]); });
  $("#files").addEventListener("change", (e) => { addFiles([...e.target.files]); e.target.value = ""; });
}

function showUse() {
  const m = state.models.find((x) => x.name === $("#model").value);
  $("#model-use").textContent = m ? `${m.name}: ${m.use}` : "";
}

function card(name) {
  const el = $("#job-template").content.firstElementChild.cloneNode(true);
  $(".name", el).textContent = name;
  $("#jobs").prepend(el);
  return el;
}

function setStatus(el, status, message) {
  $(".status", el).textContent = status;
  el.classList.toggle("error", status === "error");
  if (message !== undefined) $(".message", el).textContent = message;
}

function overall() {
  const done = state.jobs.filter((j) => j.status === "done" || j.status === "error").length;
  $("#overall").textContent = state.jobs.length ? `${done} of ${state.jobs.length} file(s) finished` : "";
}

async function addFiles(files) {
  const opts = { model: $("#model").value, upscale: $("#upscale").value, weight: $("#weight").value };
  for (const file of files) {
    const el = card(file.name);
    const job = { el, status: "uploading" };
    state.jobs.push(job);
    overall();
    if (file.size > state.maxBytes) {
      job.status = "error";
      setStatus(el, "error", `'${file.name}' is larger than the upload limit`);
      overall();
      continue;
    }
    setStatus(el, "uploading", "");
    const q = new URLSearchParams({ name: file.name, ...opts });
    let r;
    try {
      r = await fetch("/api/jobs?" + q.toString(), { method: "POST", body: file });
    } catch (e) {
      job.status = "error";
      setStatus(el, "error", "the upload failed: " + e);
      overall();
      continue;
    }
    const data = await r.json();
    if (!r.ok) {
      job.status = "error";
      setStatus(el, "error", data.error);
      overall();
      continue;
    }
    job.id = data.id;
    poll(job);
  }
}

async function poll(job) {
  const r = await fetch(`/api/jobs/${job.id}`);
  const d = await r.json();
  job.status = d.status;
  const el = job.el;
  if (d.status === "queued") setStatus(el, d.queue_position ? `waiting (${d.queue_position} ahead)` : "waiting");
  else if (d.status === "running") setStatus(el, d.kind === "video" ? `restoring frames ${Math.round(100 * d.progress)}%` : "restoring");
  $("progress", el).value = d.status === "running" && d.kind === "image" ? null : d.progress;
  if (d.status === "running" && d.kind === "image") $("progress", el).removeAttribute("value");
  overall();
  if (d.status === "done") { show(job, d); return; }
  if (d.status === "error") { setStatus(el, "error", d.message); $("progress", el).value = 0; return; }
  setTimeout(() => poll(job), 400);
}

function fileUrl(d, rel) { return `/api/jobs/${d.id}/file/${rel.split("/").map(encodeURIComponent).join("/")}`; }

function show(job, d) {
  const el = job.el;
  setStatus(el, `done in ${d.seconds.toFixed(1)} s (${d.options.model}, x${d.options.upscale}, strength ${d.options.weight})`, d.message);
  $("progress", el).value = 1;
  $(".result", el).hidden = false;
  const final = (d.files.final || [])[0];
  if (d.kind === "video") {
    $(".compare", el).hidden = true;
    $(".videos", el).hidden = false;
    $(".video-before", el).src = fileUrl(d, `input/${d.name}`);
    $(".video-after", el).src = fileUrl(d, final);
  } else {
    const before = $(".before", el), after = $(".after", el);
    after.addEventListener("load", () => { before.style.width = after.naturalWidth + "px"; });
    before.src = fileUrl(d, `input/${d.name}`);
    after.src = fileUrl(d, final);
    const slider = $(".slider", el);
    slider.addEventListener("input", () => { $(".after-clip", el).style.clipPath = `inset(0 0 0 ${slider.value}%)`; });
  }
  const faces = $(".faces", el);
  const crops = d.files.cropped_faces || [], restored = d.files.restored_faces || [];
  crops.forEach((c, i) => {
    for (const [rel, cap, tid] of [[c, `face ${i + 1}: before`, "face-before"], [restored[i], `face ${i + 1}: after`, "face-after"]]) {
      if (!rel) continue;
      const fig = document.createElement("figure");
      const img = document.createElement("img");
      img.src = fileUrl(d, rel);
      img.alt = cap;
      img.dataset.testid = tid;
      img.dataset.rel = rel;
      const fc = document.createElement("figcaption");
      fc.textContent = cap;
      fig.append(img, fc);
      faces.appendChild(fig);
    }
  });
  const dl = $(".download-final", el);
  dl.href = fileUrl(d, final);
  dl.setAttribute("download", final.split("/").pop());
  dl.dataset.rel = final;
  $(".download-zip", el).href = `/api/jobs/${d.id}/zip`;
}

init();
