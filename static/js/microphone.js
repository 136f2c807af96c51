/**
 * The microphone as frames of 16-bit PCM at the engine rate, shared by the Listen page
 * (listen.js) and the venue device page (device.js). The Listen page may also play a recording
 * into it (`play`), heard through the speakers and mixed into the frames, or frame that
 * recording alone when there is no microphone (`start({microphone: false})`).
 *
 * How the worklet resamples: see README.md next to this file.
 */

export const MAX_MESSAGE_BYTES = 64 * 1024; // Server limit on one binary message.

export class Microphone {
  /**
   * Create the audio context at once: call this before any await in a click handler, so the
   * click still counts as the user gesture (Safari). `onFrame({pcm, rms})` gets each frame:
   * `pcm` an ArrayBuffer of `frameSamples` little-endian int16 samples, `rms` its level (0..1).
   */
  constructor({ engineRateHz = 8000, frameMs = 250, onFrame }) {
    this.engineRateHz = engineRateHz;
    // One frame per message: 2000 samples = 4000 bytes at 8 kHz / 250 ms, capped at 64 KiB.
    this.frameSamples = Math.min(Math.max(1, Math.round((engineRateHz * frameMs) / 1000)), MAX_MESSAGE_BYTES / 2);
    this.onFrame = onFrame;
    this.stopped = false;
    this.context = new AudioContext();
  }

  /**
   * Ask for the microphone (unless `microphone` is false) and start framing; resolve false if
   * `stop()` came first. A refused or missing microphone rejects with getUserMedia's error, and
   * leaves the object ready for another `start`.
   */
  async start({ microphone = true } = {}) {
    if (microphone) {
      this.stream = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false, channelCount: 1 },
      });
    }
    if (this.stopped) return this.stop();
    await this.context.audioWorklet.addModule(new URL('./pcm-worklet.js', import.meta.url));
    if (this.stopped) return this.stop();
    this.context.resume().catch(() => {}); // A no-op once running; never worth blocking on.
    this.node = new AudioWorkletNode(this.context, 'pcm-downsampler', {
      outputChannelCount: [1],
      processorOptions: { targetRateHz: this.engineRateHz, frameSamples: this.frameSamples },
    });
    this.node.port.onmessage = (event) => { if (!this.stopped) this.onFrame(event.data); };
    if (this.stream) this.context.createMediaStreamSource(this.stream).connect(this.node);
    this.node.connect(this.context.destination); // Silent, but keeps the node pulled in every browser.
    return true;
  }

  /**
   * Play a decoded recording (an AudioBuffer of this context) through the speakers and into the
   * frames, where the worklet sums it with the microphone. Call after `start` resolved true.
   */
  play(buffer) {
    const source = this.context.createBufferSource();
    source.buffer = buffer;
    source.connect(this.node);
    source.connect(this.context.destination);
    source.start();
    return source;
  }

  /** Release the microphone and the audio context (safe to call more than once); return false. */
  stop() {
    this.stopped = true;
    this.stream?.getTracks().forEach((track) => track.stop());
    if (this.node) this.node.port.onmessage = null;
    if (this.context.state !== 'closed') this.context.close().catch(() => {});
    return false;
  }
}

/** Explain a getUserMedia failure to a person. */
export function microphoneError(error, fallback) {
  const name = error && error.name;
  if (name === 'NotAllowedError' || name === 'SecurityError') {
    return "Earshot needs your microphone to listen. Allow it in your browser's site settings and try again.";
  }
  if (name === 'NotFoundError' || name === 'OverconstrainedError') return 'No microphone found.';
  if (name === 'NotReadableError') return 'Your microphone is in use by another app.';
  return fallback;
}
