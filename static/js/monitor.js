// A monitor's page: poll its status every few seconds and add or update detections in place,
// so new plays appear without a reload. Rows are built with textContent (no HTML from data).
import { change, clock, confidenceLabel, duration, percent } from './format.js';

const POLL_MS = 3000;

for (const form of document.querySelectorAll('form[data-confirm]')) {
  form.addEventListener('submit', (event) => { if (!confirm(form.dataset.confirm)) event.preventDefault(); });
}

const root = document.querySelector('[data-monitor]');
if (root) {
  const body = root.querySelector('[data-role=detections]');
  // On a phone each cell is a labelled line (table.stack): the labels are the column headers.
  const headers = [...root.querySelectorAll('table.detections thead th')].map((th) => th.textContent);
  const field = (role) => root.querySelector(`[data-role=${role}]`);
  let since = '';
  for (const row of body.querySelectorAll('tr[data-updated-at]')) {
    if (row.dataset.updatedAt > since) since = row.dataset.updatedAt;
  }

  const cell = (name, text) => {
    const td = document.createElement('td');
    td.dataset.field = name;
    td.textContent = text;
    return td;
  };

  function render(row, d) {
    const cells = [
      cell('started_at', d.started_at.slice(0, 19).replace('T', ' ')), cell('ended_at', d.ended_at.slice(11, 19)),
      cell('title', d.title), cell('artist', d.artist),
      cell('offsets', [`${clock(d.offset_start_s)}–${clock(d.offset_end_s)}`, change(d.speed, d.pitch_semitones)].filter(Boolean).join(' · ')),
      cell('confidence', confidenceLabel(d.confidence)),
    ];
    cells[5].title = percent(d.confidence);
    cells[2].dataset.testid = 'detection-title';
    const link = document.createElement('a');
    link.href = `/detections/${Number(d.id)}/`;
    link.textContent = d.title;
    cells[2].replaceChildren(link);
    if (d.disputed) {
      const mark = document.createElement('span');
      mark.className = 'detection-mark mark-disputed';
      mark.dataset.testid = 'detection-disputed';
      mark.title = 'Marked not this track: left out of the play log and reports';
      mark.textContent = 'not this track';
      cells[2].append(' ', mark);
    }
    if (d.retroactive) {
      const badge = document.createElement('span');
      badge.className = 'badge';
      badge.dataset.testid = 'detection-retroactive';
      badge.title = 'Found later in what this monitor kept, when the track was added to the catalog';
      badge.textContent = 'found later';
      cells[2].append(' ', badge);
    }
    const evidence = document.createElement('td');
    evidence.dataset.field = 'evidence';
    const old = row.querySelector('audio');
    if (old && old.getAttribute('src') === d.evidence_url) {
      evidence.append(old); // Keep a player that is playing.
    } else if (d.evidence_url && d.evidence_url.startsWith('/')) {
      const audio = document.createElement('audio');
      audio.controls = true;
      audio.preload = 'none';
      audio.src = d.evidence_url;
      evidence.append(audio);
    }
    [...cells, evidence].forEach((td, i) => { if (i !== 2) td.dataset.label = headers[i]; });
    row.replaceChildren(...cells, evidence);
    row.dataset.id = d.id;
    row.dataset.updatedAt = d.updated_at;
    row.dataset.startedAt = d.started_at;
    row.dataset.testid = 'detection';
    row.classList.toggle('detection-open', d.open);
    row.classList.toggle('detection-disputed', Boolean(d.disputed));
  }

  function place(row) {
    // Newest first: before the first row that started earlier.
    const later = [...body.children].find((other) => other !== row && other.dataset.startedAt < row.dataset.startedAt);
    body.insertBefore(row, later || null);
  }

  async function poll() {
    try {
      const url = since ? `${root.dataset.statusUrl}?since=${encodeURIComponent(since)}` : root.dataset.statusUrl;
      const response = await fetch(url, { headers: { Accept: 'application/json' }, credentials: 'same-origin' });
      if (!response.ok) return;
      const { monitor, detections } = await response.json();
      const state = field('state');
      state.textContent = monitor.state.charAt(0).toUpperCase() + monitor.state.slice(1);
      state.className = `monitor-state state-${monitor.state}`;
      field('reason').textContent = monitor.state_reason;
      field('heard').textContent = duration(monitor.heard_last_minute_s);
      field('today').textContent = String(monitor.detections_today);
      for (const d of detections) {
        let row = body.querySelector(`tr[data-id="${Number(d.id)}"]`);
        if (!row) {
          row = document.createElement('tr');
          row.classList.add('detection-new');
        }
        render(row, d);
        place(row);
        if (d.updated_at > since) since = d.updated_at;
      }
      field('empty').hidden = body.children.length > 0;
    } catch {
      // Offline for a moment: the next poll catches up.
    } finally {
      setTimeout(poll, POLL_MS);
    }
  }
  setTimeout(poll, POLL_MS);
}
