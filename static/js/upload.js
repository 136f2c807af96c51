// Upload page: drag and drop with a progress bar, then the job page; job page: poll until done,
// then a player synced with the timeline (click to seek, a moving playhead, zoom for long media).
// Geometry comes from data-* attributes (no inline styles in the markup: strict CSP).
import { axisTicks, clock } from "./format.js";

function place(root = document) {
  for (const el of root.querySelectorAll("[data-left]")) {
    el.style.left = `${el.dataset.left}%`;
    if (el.dataset.width !== undefined) el.style.width = `${el.dataset.width}%`;
  }
  for (const el of root.querySelectorAll("[data-hue]")) {
    el.style.background = `hsl(${el.dataset.hue} 70% 50%)`;
  }
}
place();

const form = document.querySelector("[data-upload]");
if (form) {
  const zone = form.querySelector("[data-role=dropzone]");
  const input = form.querySelector("[data-role=file]");
  const prompt = form.querySelector("[data-role=prompt]");
  const bar = form.querySelector("[data-role=progress]");
  const error = form.querySelector("[data-role=error]");
  const maxBytes = Number(form.dataset.maxBytes) * 1024 * 1024;

  const show = (message) => { error.textContent = message; error.hidden = !message; };
  input.addEventListener("change", () => { prompt.textContent = input.files[0]?.name ?? ""; show(""); });
  for (const name of ["dragenter", "dragover"]) {
    zone.addEventListener(name, (e) => { e.preventDefault(); zone.classList.add("is-over"); });
  }
  for (const name of ["dragleave", "drop"]) {
    zone.addEventListener(name, () => zone.classList.remove("is-over"));
  }
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    if (e.dataTransfer.files.length !== 1) { show("Drop one file at a time."); return; }
    input.files = e.dataTransfer.files;
    input.dispatchEvent(new Event("change"));
  });

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const file = input.files[0];
    if (!file) { show("Choose a file first."); return; }
    if (file.size > maxBytes) { show(`The file is ${(file.size / 1048576).toFixed(0)} MiB; the limit is ${form.dataset.maxBytes} MiB.`); return; }
    const request = new XMLHttpRequest();
    request.open("POST", location.href);
    request.setRequestHeader("Accept", "application/json");
    request.upload.addEventListener("progress", (p) => { bar.hidden = false; bar.value = p.lengthComputable ? (100 * p.loaded) / p.total : 0; });
    request.addEventListener("load", () => {
      let body = {};
      try { body = JSON.parse(request.responseText); } catch { /* not JSON: an error page */ }
      if (request.status === 202 && body.url) { location.assign(body.url); return; }
      bar.hidden = true;
      show(body.error?.message ?? `The upload failed (${request.status}).`);
    });
    request.addEventListener("error", () => { bar.hidden = true; show("The connection was lost during the upload."); });
    request.send(new FormData(form));
  });
}

const job = document.querySelector("[data-job]");
if (job && ["pending", "running"].includes(job.dataset.status)) {
  const progress = job.querySelector("[data-role=progress]");
  const poll = async () => {
    try {
      const response = await fetch(job.dataset.statusUrl, { headers: { Accept: "application/json" } });
      const state = await response.json();
      if (state.status === "done" || state.status === "failed") { location.reload(); return; }
      if (progress) progress.value = state.progress;
    } catch { /* the next poll retries */ }
    setTimeout(poll, 1500);
  };
  setTimeout(poll, 1000);
}

const timeline = document.querySelector("[data-role=timeline]");
if (timeline) {
  const durationS = Number(timeline.dataset.durationS);
  const scroller = document.querySelector("[data-role=timeline-scroll]");
  const axis = timeline.querySelector("[data-role=axis]");
  const track = timeline.querySelector(".timeline");
  const playhead = timeline.querySelector("[data-role=playhead]");
  const player = document.querySelector("[data-role=player]");
  const zoomBar = document.querySelector("[data-role=zoom]");
  const segments = [...document.querySelectorAll("[data-testid=segment]")];
  const bars = [...timeline.querySelectorAll(".timeline-bar")];
  // Zoom so that a second is at most ~12 px wide: enough to see a 10 s segment in a 2 h video.
  const maxZoom = Math.max(1, 2 ** Math.ceil(Math.log2((durationS * 12) / Math.max(scroller.clientWidth, 1))));
  let zoom = 1;

  const drawAxis = () => {
    // One label per ~80 px, so m:ss or h:mm:ss labels never collide, whatever the zoom and screen.
    const ticks = axisTicks(durationS, Math.max(1, Math.floor(timeline.clientWidth / 80)));
    axis.replaceChildren(...ticks.map((t) => {
      const tick = document.createElement("span");
      tick.className = "tick";
      tick.style.left = `${(100 * t) / durationS}%`;
      tick.textContent = clock(t);
      return tick;
    }));
    alignEnd();
  };
  // A label centred on a tick near the end would stick out of the timeline: end it at its tick.
  const alignEnd = () => {
    const last = axis.lastElementChild;
    if (last && last !== axis.firstElementChild && last.offsetLeft + last.offsetWidth / 2 > axis.clientWidth) {
      last.classList.add("tick-end");
    }
  };
  const setZoom = (next, centreS) => {
    const keepS = centreS ?? ((scroller.scrollLeft + scroller.clientWidth / 2) / timeline.clientWidth) * durationS;
    zoom = Math.min(maxZoom, Math.max(1, next));
    timeline.style.width = `${zoom * 100}%`;
    drawAxis();
    scroller.scrollLeft = (keepS / durationS) * timeline.clientWidth - scroller.clientWidth / 2;
    zoomBar.querySelector("[data-zoom=in]").disabled = zoom >= maxZoom;
    zoomBar.querySelector("[data-zoom=out]").disabled = zoom <= 1;
    zoomBar.querySelector("[data-zoom=fit]").disabled = zoom <= 1;
  };
  if (maxZoom > 1) {
    zoomBar.hidden = false;
    zoomBar.addEventListener("click", (event) => {
      const button = event.target.closest("[data-zoom]");
      if (!button) return;
      const how = button.dataset.zoom;
      setZoom(how === "in" ? zoom * 2 : how === "out" ? zoom / 2 : 1, player ? player.currentTime : undefined);
    });
    setZoom(1);
  }
  drawAxis();
  new ResizeObserver(drawAxis).observe(scroller);

  const highlight = (index) => {
    for (const el of [...segments, ...bars]) el.classList.toggle("is-playing", el.dataset.segment === index);
  };

  if (player) {
    playhead.hidden = false;
    const seek = (seconds) => {
      player.currentTime = Math.max(0, Math.min(seconds, durationS));
      player.play().catch(() => { /* the browser wants a gesture first: the position is set */ });
    };
    track.addEventListener("click", (event) => {
      event.preventDefault();
      const bar = event.target.closest(".timeline-bar");
      if (bar) { seek(Number(bar.dataset.startS)); return; }
      const box = track.getBoundingClientRect();
      seek(((event.clientX - box.left) / box.width) * durationS);
    });
    for (const button of document.querySelectorAll("[data-seek]")) {
      button.addEventListener("click", () => {
        seek(Number(button.dataset.seek));
        player.scrollIntoView({ block: "nearest", behavior: "smooth" });
      });
    }
    let frame = 0;
    const follow = () => {
      const at = player.currentTime;
      playhead.style.left = `${(100 * Math.min(at, durationS)) / durationS}%`;
      const current = segments.find((li) => at >= Number(li.dataset.startS) && at < Number(li.dataset.endS));
      highlight(current ? current.dataset.segment : null);
      if (zoom > 1 && !player.paused) {  // keep the playhead in view while zoomed in
        const x = (at / durationS) * timeline.clientWidth;
        if (x < scroller.scrollLeft || x > scroller.scrollLeft + scroller.clientWidth) scroller.scrollLeft = x - 24;
      }
      frame = player.paused ? 0 : requestAnimationFrame(follow);
    };
    player.addEventListener("play", () => { if (!frame) frame = requestAnimationFrame(follow); });
    for (const name of ["timeupdate", "seeked", "loadedmetadata"]) player.addEventListener(name, () => { if (!frame) follow(); });
    follow();
  }
}
