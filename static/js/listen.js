/**
 * The Listen page: stream the microphone to the server as 16-bit PCM and show its answer.
 *
 * "Play a demo song" plays a preview of the demo catalog through the speakers and mixes the same
 * audio into what is sent, so the attempt cannot miss; without a microphone it sends the song
 * alone. Wire protocol and resampling: see README.md next to this file; the microphone itself is
 * microphone.js (shared with the device page).
 */

import { change, clock, confidenceLabel, duration, percent } from './format.js';
import { Microphone, microphoneError } from './microphone.js';

const PENDING_LIMIT_MS = 2000; // Audio kept while the socket connects; older frames are dropped.
const ANSWER_GRACE_MS = 3000; // Wait this long past the listening limit before giving up.

const TEXT = {
  ready: 'Ready',
  listening: 'Listening…',
  demo: 'Playing a demo song… listening',
  demoAlone: 'Playing a demo song… listening to it without the microphone',
  demoFailed: 'Could not load the demo song — please try again.',
  matched: 'Matched',
  noMatch: 'No match',
  insecure: 'The microphone needs HTTPS (or localhost).',
  connectionLost: 'Connection lost — please try again.',
  failed: 'Could not start listening — please try again.',
};

// getUserMedia's errors that mean "no microphone to be had": a demo song then plays on alone.
const NO_MICROPHONE = new Set(['NotAllowedError', 'SecurityError', 'NotFoundError', 'OverconstrainedError',
  'NotReadableError', 'AbortError']);

// The server's refusals (close codes 4000-4999). Daphne 4.2 drops the close reason on the wire,
// so the codes recognition/consumers.py uses carry their text here as a fallback.
const CLOSE_REASONS = {
  4000: 'The server could not read the audio.',
  4003: 'Origin not allowed',
  4008: 'Too many messages',
  4009: 'Frame too large',
  4013: 'Frame too large',
  4029: 'Too many listening sessions open; close another tab.',
  4080: 'Listening time is over.',
};

const root = globalThis.document?.querySelector('[data-listen]'); // Absent when imported by tests.
if (root) setUp(root);

function setUp(root) {
  const config = {
    wsPath: root.dataset.wsPath || '/ws/listen/',
    maxListenS: Number(root.dataset.maxListenS) || 15,
    engineRateHz: Number(root.dataset.engineRateHz) || 8000,
    frameMs: Number(root.dataset.frameMs) || 250,
  };
  const find = (role) => root.querySelector(`[data-role="${role}"]`);
  const ui = {
    button: find('button'), label: find('label'), status: find('status'), progress: find('progress'),
    result: find('result'), noMatch: find('no-match'), demo: find('demo'), retry: find('retry'),
    preview: find('preview'), noArtwork: find('no-artwork'),
  };
  const field = (name) => root.querySelector(`[data-field="${name}"]`);
  const demoSongs = readDemoSongs();
  let session = null; // The current attempt; replaced on every click so stale awaits can tell.
  let level = 0; // Smoothed meter level, 0..1.
  let targetLevel = 0;
  let frameRequest = 0; // One animation loop at most, across attempts.

  const setStatus = (text, isError = false) => {
    ui.status.textContent = text;
    ui.status.classList.toggle('is-error', isError);
  };

  /** Start an attempt: the microphone, or with `demo` ({track_id, preview_url}) a demo song too. */
  function start(demo = null) {
    ui.result.hidden = true;
    ui.noMatch.hidden = true;
    ui.progress.textContent = '';
    field('preview').pause();
    delete root.dataset.demoTrackId;
    if (!navigator.mediaDevices || !window.AudioWorkletNode) return setStatus(TEXT.insecure, true);
    const s = { pending: [], sentSamples: 0, maxS: config.maxListenS, demo };
    session = s;
    setListening(true);
    setStatus(TEXT.listening);
    run(s).catch((error) => finish(s, messageFor(error), true));
  }

  async function run(s) {
    // Created before the first await so the click still counts as the user gesture (Safari).
    s.mic = new Microphone({
      engineRateHz: config.engineRateHz, frameMs: config.frameMs, onFrame: (frame) => onFrame(s, frame),
    });
    const excerpt = s.demo ? download(s.demo.preview_url) : null; // While the browser asks for the mic.
    excerpt?.catch(() => {}); // Awaited below; a failure before then is not "unhandled".
    if (!(await startMicrophone(s))) return;
    if (session !== s) return stopAudio(s);
    if (s.demo) {
      let buffer;
      try {
        buffer = await s.mic.context.decodeAudioData(await excerpt);
      } catch {
        return finish(s, TEXT.demoFailed, true);
      }
      if (session !== s) return stopAudio(s);
      s.mic.play(buffer);
      root.dataset.demoTrackId = String(s.demo.track_id); // Which song plays (tests read it).
      setStatus(s.withoutMicrophone ? TEXT.demoAlone : TEXT.demo);
    }

    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    s.socket = new WebSocket(`${scheme}//${location.host}${config.wsPath}`);
    s.socket.binaryType = 'arraybuffer';
    s.socket.onopen = () => flush(s);
    s.socket.onmessage = (event) => onMessage(s, event.data);
    s.socket.onclose = (event) => onClose(s, event);
    armTimeout(s, config.maxListenS);
    animateSoon();
  }

  /** Start the microphone; for a demo song without one, start framing the song alone. */
  async function startMicrophone(s) {
    try {
      return await s.mic.start();
    } catch (error) {
      if (!s.demo || !NO_MICROPHONE.has(error?.name)) throw error;
      if (session !== s) return false;
      s.withoutMicrophone = true;
      return s.mic.start({ microphone: false });
    }
  }

  async function download(url) {
    const response = await fetch(url, { credentials: 'same-origin' });
    if (!response.ok) throw new Error(`demo song: HTTP ${response.status}`);
    return response.arrayBuffer();
  }

  function onFrame(s, { pcm, rms }) {
    if (session !== s || !s.socket) return;
    const frameSamples = s.mic.frameSamples;
    targetLevel = rmsToLevel(rms);
    // Never send more audio than the server listens to: it answers by then.
    if (s.sentSamples + s.pending.length * frameSamples >= s.maxS * config.engineRateHz) return;
    s.pending.push(pcm);
    const limit = Math.ceil(PENDING_LIMIT_MS / config.frameMs);
    if (s.pending.length > limit) s.pending.splice(0, s.pending.length - limit);
    if (s.socket.readyState === WebSocket.OPEN) flush(s);
  }

  function flush(s) {
    for (const pcm of s.pending) {
      s.socket.send(pcm);
      s.sentSamples += pcm.byteLength / 2;
    }
    s.pending = [];
  }

  function onMessage(s, data) {
    if (session !== s || typeof data !== 'string') return;
    let message;
    try { message = JSON.parse(data); } catch { return; }
    if (message.type === 'listening') {
      if (message.max_seconds > 0) s.maxS = message.max_seconds;
      armTimeout(s, s.maxS);
    } else if (message.type === 'progress') {
      ui.progress.textContent = `${duration(Number(message.heard_s) || 0)} of ${duration(Number(s.maxS) || 0)}`;
    } else if (message.type === 'match') {
      showMatch(message);
      finish(s, TEXT.matched);
    } else if (message.type === 'no_match') {
      showNoMatch();
      finish(s, TEXT.noMatch);
    } else if (message.type === 'error') {
      finish(s, message.message || message.code || TEXT.connectionLost, true);
    }
  }

  function onClose(s, event) {
    if (session !== s) return;
    if (event.code >= 4000 && event.code <= 4999) {
      const reason = event.reason || CLOSE_REASONS[event.code] || `The server ended the session (${event.code}).`;
      finish(s, reason, true);
    } else {
      finish(s, TEXT.connectionLost, true);
    }
  }

  function armTimeout(s, seconds) {
    clearTimeout(s.timer);
    s.timer = setTimeout(() => {
      showNoMatch();
      finish(s, TEXT.noMatch);
    }, seconds * 1000 + ANSWER_GRACE_MS);
  }

  /** End the attempt `s` (if still current) and show `text` as the outcome. */
  function finish(s, text, isError = false) {
    if (session !== s) return;
    session = null;
    stopAudio(s);
    setListening(false);
    setStatus(text, isError);
    ui.progress.textContent = '';
  }

  function stopAudio(s) {
    clearTimeout(s.timer);
    s.mic?.stop();
    if (s.socket && s.socket.readyState <= WebSocket.OPEN) s.socket.close(1000);
  }

  function setListening(listening) {
    ui.label.textContent = listening ? 'Stop' : 'Listen';
    ui.button.setAttribute('aria-pressed', String(listening));
    root.classList.toggle('is-listening', listening);
    if (ui.demo && demoSongs.length) ui.demo.disabled = listening;
    if (!listening) targetLevel = 0;
  }

  function showNoMatch() {
    ui.noMatch.hidden = false;
  }

  function showMatch({ match, heard_s: heardS, latency_ms: latencyMs }) {
    const set = (name, text) => { field(name).textContent = text; };
    set('title', match.title || 'Unknown title');
    set('artist', match.artist || '');
    set('album', match.album || '');
    set('year', Number.isInteger(match.year) ? String(match.year) : '');
    set('offset', Number.isFinite(match.offset_s) ? `at ${clock(match.offset_s)}` : '');
    set('change', change(match.speed, match.pitch_semitones));
    set('confidence-label', confidenceLabel(match.confidence));
    set('confidence', percent(match.confidence));
    set('timing', `heard ${duration(Number(heardS) || 0)}, answered in ${duration((latencyMs || 0) / 1000)}`);

    const artwork = field('artwork');
    const artworkUrl = sameOrigin(match.artwork_url);
    artwork.hidden = !artworkUrl;
    ui.noArtwork.hidden = Boolean(artworkUrl);
    if (artworkUrl) {
      artwork.src = artworkUrl;
      artwork.alt = `Artwork of ${match.album || match.title || 'the track'}`;
    } else {
      artwork.removeAttribute('src');
    }

    const preview = field('preview');
    const previewUrl = sameOrigin(match.preview_url);
    ui.preview.hidden = !previewUrl;
    if (previewUrl) preview.src = previewUrl;
    else preview.removeAttribute('src');

    const links = field('links');
    links.replaceChildren(...(Array.isArray(match.links) ? match.links : []).flatMap((link) => {
      const href = web(link?.url);
      if (!href) return [];
      const item = document.createElement('li');
      const anchor = document.createElement('a');
      anchor.href = href;
      anchor.textContent = String(link.name || new URL(href).host);
      anchor.target = '_blank';
      anchor.rel = 'noopener noreferrer';
      item.append(anchor);
      return [item];
    }));
    links.hidden = links.childElementCount === 0;

    const link = field('url');
    const href = web(match.url);
    link.hidden = !href;
    if (href) link.href = href;
    ui.result.hidden = false;
  }

  function readDemoSongs() {
    const data = document.getElementById('listen-demo-songs');
    try {
      const songs = data ? JSON.parse(data.textContent) : [];
      return Array.isArray(songs) ? songs.filter((song) => sameOrigin(song?.preview_url)) : [];
    } catch {
      return [];
    }
  }

  function animateSoon() {
    if (!frameRequest) frameRequest = requestAnimationFrame(animate);
  }

  function animate() {
    // Ease toward the latest frame level: frames come only every frame_ms, the screen at 60 Hz.
    frameRequest = 0;
    level += (targetLevel - level) * 0.15;
    if (!session && level < 0.005) level = 0;
    root.style.setProperty('--level', level.toFixed(3));
    if (session || level > 0) animateSoon();
  }

  ui.button.addEventListener('click', () => (session ? finish(session, TEXT.ready) : start()));
  ui.retry.addEventListener('click', () => session || start());
  if (ui.demo && demoSongs.length) {
    ui.demo.addEventListener('click', () => {
      if (session) finish(session, TEXT.ready);
      start(demoSongs[Math.floor(Math.random() * demoSongs.length)]);
    });
    ui.demo.disabled = false;
  }
  window.addEventListener('pagehide', () => session && finish(session, TEXT.ready));
  if (!navigator.mediaDevices) setStatus(TEXT.insecure, true);
  ui.button.disabled = false;
}

function messageFor(error) {
  return microphoneError(error, TEXT.failed);
}

/** Map RMS (0..1 of full scale) to 0..1 over -60..0 dBFS, the range a room mic covers. */
function rmsToLevel(rms) {
  const db = 20 * Math.log10(Math.max(rms, 1e-6));
  return Math.min(1, Math.max(0, (db + 60) / 60));
}

/** `url` if it is an http(s) address, else '' (no javascript: links from data). */
function web(url) {
  if (!url) return '';
  try {
    return /^https?:$/.test(new URL(url, location.href).protocol) ? String(url) : '';
  } catch {
    return '';
  }
}

/** `url` if it points at this site (artwork, previews), else ''. */
function sameOrigin(url) {
  if (!url) return '';
  try {
    return new URL(url, location.href).origin === location.origin ? String(url) : '';
  } catch {
    return '';
  }
}
