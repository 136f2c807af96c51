/**
 * The venue device page: the microphone streams to a device monitor for as long as the page is
 * open, and reconnects by itself (capped backoff) after network drops.
 *
 * The token comes once, in the URL fragment (`#token=…`, never sent to the server) or pasted,
 * and is kept in localStorage. Wire protocol: docs/api.md, "Device socket".
 */

import { Microphone, microphoneError } from './microphone.js';

const PENDING_LIMIT_MS = 2000; // Audio kept while reconnecting; older frames are dropped.
const BACKOFF_MS = [1000, 2000, 4000, 8000, 15000, 30000]; // Then 30 s between attempts.
const STATES = {
  starting: 'starting', running: 'listening', reconnecting: 'reconnecting', waiting: 'waiting for audio',
  failed: 'failed', paused: 'paused by the owner',
};

const root = document.querySelector('[data-device]');
if (root) setUp(root);

function setUp(root) {
  const config = {
    socketPath: root.dataset.socketPath,
    engineRateHz: Number(root.dataset.engineRateHz) || 8000,
    frameMs: Number(root.dataset.frameMs) || 250,
  };
  const storageKey = `earshot-device-token:${config.socketPath}`;
  const find = (role) => root.querySelector(`[data-role="${role}"]`);
  const ui = {
    form: find('token-form'), input: find('token'), start: find('start'), stop: find('stop'),
    status: find('status'), name: find('name'), details: find('details'), forget: find('forget'),
  };
  let token = tokenFromFragment() || localStorage.getItem(storageKey) || '';
  let run = null; // {mic, socket, pending, attempt, timer}; null when stopped

  function tokenFromFragment() {
    const match = /(?:^#|&)token=([^&]+)/.exec(location.hash);
    if (!match) return '';
    const value = decodeURIComponent(match[1]);
    localStorage.setItem(storageKey, value);
    history.replaceState(null, '', location.pathname + location.search); // Out of history and bookmarks.
    return value;
  }

  const setStatus = (text, isError = false) => {
    ui.status.textContent = text;
    ui.status.classList.toggle('is-error', isError);
  };

  function showToken() {
    ui.form.hidden = Boolean(token);
    ui.start.hidden = !token || Boolean(run);
    ui.stop.hidden = !run;
    ui.forget.hidden = !token || Boolean(run);
  }

  async function start() {
    if (run || !token) return;
    if (!navigator.mediaDevices || !window.AudioWorkletNode) return setStatus('The microphone needs HTTPS (or localhost).', true);
    const r = { pending: [], attempt: 0, socket: null, timer: 0 };
    run = r;
    showToken();
    setStatus('Starting the microphone…');
    try {
      r.mic = new Microphone({ ...config, onFrame: (frame) => onFrame(r, frame) });
      if (!(await r.mic.start())) return;
    } catch (error) {
      stop(microphoneError(error, 'Could not start the microphone.'), true);
      return;
    }
    if ('wakeLock' in navigator) navigator.wakeLock.request('screen').then((lock) => { r.wakeLock = lock; }, () => {});
    connect(r);
  }

  function connect(r) {
    if (run !== r) return;
    setStatus(r.attempt ? 'Reconnecting…' : 'Connecting…');
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const socket = new WebSocket(`${scheme}//${location.host}${config.socketPath}`);
    r.socket = socket;
    r.ready = false;
    socket.binaryType = 'arraybuffer';
    socket.onopen = () => socket.send(JSON.stringify({ type: 'hello', token }));
    socket.onmessage = (event) => onMessage(r, socket, event.data);
    socket.onclose = (event) => onClose(r, socket, event);
  }

  function onFrame(r, { pcm }) {
    if (run !== r) return;
    r.pending.push(pcm);
    const limit = Math.ceil(PENDING_LIMIT_MS / config.frameMs);
    if (r.pending.length > limit) r.pending.splice(0, r.pending.length - limit);
    if (r.ready) flush(r);
  }

  function flush(r) {
    for (const pcm of r.pending) r.socket.send(pcm);
    r.pending = [];
  }

  function onMessage(r, socket, data) {
    if (run !== r || socket !== r.socket || typeof data !== 'string') return;
    let message;
    try { message = JSON.parse(data); } catch { return; }
    if (message.type === 'ok') {
      r.ready = true;
      r.attempt = 0;
      ui.name.textContent = message.monitor?.name || '';
      setStatus('Streaming');
      flush(r);
    } else if (message.type === 'status') {
      const state = STATES[message.state] || message.state;
      const heard = Math.round(Number(message.heard_last_minute_s) || 0);
      ui.details.textContent = `Monitor ${state}; ${heard} s heard in the last minute; ${message.detections_today} detections today.`;
      if (message.state === 'failed' && message.state_reason) ui.details.textContent += ` ${message.state_reason}`;
    } else if (message.type === 'error') {
      r.lastError = message;
    }
  }

  function onClose(r, socket, event) {
    if (run !== r || socket !== r.socket) return;
    r.ready = false;
    const error = r.lastError;
    r.lastError = null;
    if (event.code === 4401) {
      localStorage.removeItem(storageKey);
      token = '';
      stop(error?.message || 'The device token was not accepted; paste the current one.', true);
      return;
    }
    if (event.code === 4409) {
      stop(error?.message || 'Another device is now streaming to this monitor.', true);
      return;
    }
    const delay = BACKOFF_MS[Math.min(r.attempt, BACKOFF_MS.length - 1)] * (0.8 + 0.4 * Math.random());
    r.attempt += 1;
    setStatus(`Connection lost; reconnecting in ${Math.round(delay / 1000)} s…`, true);
    r.timer = setTimeout(() => connect(r), delay);
  }

  function stop(text = 'Stopped', isError = false) {
    const r = run;
    run = null;
    if (r) {
      clearTimeout(r.timer);
      r.mic?.stop();
      r.wakeLock?.release().catch(() => {});
      if (r.socket && r.socket.readyState <= WebSocket.OPEN) r.socket.close(1000);
    }
    setStatus(text, isError);
    showToken();
  }

  ui.form.addEventListener('submit', (event) => {
    event.preventDefault();
    token = ui.input.value.trim();
    ui.input.value = '';
    if (token) localStorage.setItem(storageKey, token);
    showToken();
    start();
  });
  ui.start.addEventListener('click', () => start());
  ui.stop.addEventListener('click', () => stop());
  ui.forget.addEventListener('click', () => { localStorage.removeItem(storageKey); token = ''; showToken(); });
  window.addEventListener('online', () => { // Back on the network: retry now rather than at the backoff's end.
    if (run && !run.ready && run.socket?.readyState === WebSocket.CLOSED) { clearTimeout(run.timer); connect(run); }
  });
  showToken();
  setStatus(token ? 'Ready' : 'Paste the device token to start.');
  if (token && root.dataset.autostart !== undefined) start();
}
