// Upload page: drag and drop with a progress bar, then the job page; job page: poll until done.
// Bars and swatches get their geometry from data-* attributes (no inline styles: strict CSP).

for (const el of document.querySelectorAll("[data-left][data-width]")) {
  el.style.left = `${el.dataset.left}%`;
  el.style.width = `${el.dataset.width}%`;
}
for (const el of document.querySelectorAll("[data-hue]")) {
  el.style.background = `hsl(${el.dataset.hue} 70% 50%)`;
}

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
