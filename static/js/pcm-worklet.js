/**
 * AudioWorklet that turns the microphone into frames for the recognition engine.
 *
 * Input: any number of channels at the context's `sampleRate` (whatever the hardware runs at).
 * Output: `port.postMessage({pcm, rms})` once per frame, where `pcm` is a transferred ArrayBuffer
 * of exactly `frameSamples` 16-bit signed little-endian mono samples at `targetRateHz` and `rms`
 * is the frame's level (0..1 of full scale) for the meter. The audio outputs stay silent.
 */

// Fractional delays tabulated per input sample. Output between two tables is blended linearly;
// at 32 the blend errs below -100 dB for 3.4 kHz at 44.1 kHz (plain linear interpolation of the
// samples measured 41 dB SNR there in the harness, 28 dB at 22.05 kHz).
const PHASES = 32;

/**
 * Return PHASES + 1 tables of a Blackman-windowed sinc low-pass, `tapCount` taps each: table p
 * reads the filtered signal p / PHASES of an input sample later than table 0. Each has unit gain
 * at DC.
 */
function kernelTables(cutoffHz, sampleRateHz, tapCount) {
  const half = (tapCount - 1) / 2;
  const fc = cutoffHz / sampleRateHz;
  const tables = [];
  for (let p = 0; p <= PHASES; p++) {
    const taps = new Float32Array(tapCount);
    let sum = 0;
    for (let k = 0; k < tapCount; k++) {
      const t = k - half + p / PHASES; // Distance from the kernel's centre, in input samples.
      if (Math.abs(t) > half) continue;
      const sinc = t === 0 ? 2 * fc : Math.sin(2 * Math.PI * fc * t) / (Math.PI * t);
      const u = (2 * Math.PI * (t + half)) / (2 * half);
      taps[k] = sinc * (0.42 - 0.5 * Math.cos(u) + 0.08 * Math.cos(2 * u));
      sum += taps[k];
    }
    for (let k = 0; k < tapCount; k++) taps[k] /= sum;
    tables.push(taps);
  }
  return tables;
}

class PcmDownsampler extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const { targetRateHz = 8000, frameSamples = 2000 } = options.processorOptions || {};
    this.frame = new Float32Array(frameSamples);
    this.frameFill = 0;
    // Input samples advanced per output sample; 6 for 48 kHz -> 8 kHz, 5.5125 for 44.1 kHz.
    this.step = sampleRate / targetRateHz;

    // Pass 0-0.45 of the target rate flat (the engine's peaks stop at 3.6 kHz of 8 kHz) and stop
    // from 0.5 on, so nothing aliases back into that band: -76 dB at 4.1 kHz, less above.
    // Blackman needs 5.5 / taps of the input rate for that transition: 661 taps at 48 kHz. The
    // cap keeps 192 kHz+ hardware affordable at the price of a wider transition. When the input
    // is slower than the target, the same kernel band-limits the interpolation instead.
    const bandRateHz = Math.min(sampleRate, targetRateHz);
    const wanted = Math.ceil((5.5 * sampleRate) / (0.05 * bandRateHz)) | 1;
    this.tapCount = Math.min(wanted, 2047);
    this.tables = kernelTables(0.475 * bandRateHz, sampleRate, this.tapCount);

    // History of mono input: the filter needs taps - 1 samples before the current one. It starts
    // as silence so the first output comes at once; `position` is the next output's time in
    // input samples, relative to history[0], and carries its fraction across process() calls.
    this.history = new Float32Array(this.tapCount + 1024);
    this.historyFill = this.tapCount - 1;
    this.position = this.tapCount - 1;
  }

  /** Return the low-passed input at history time `i + fraction` (0 <= fraction < 1). */
  filtered(i, fraction) {
    const phase = fraction * PHASES;
    const p = Math.floor(phase);
    const blend = phase - p;
    const a = this.dot(this.tables[p], i);
    return blend === 0 ? a : a + (this.dot(this.tables[p + 1], i) - a) * blend;
  }

  dot(taps, i) {
    const history = this.history;
    let sum = 0;
    for (let k = 0; k < taps.length; k++) sum += taps[k] * history[i - k];
    return sum;
  }

  append(channels) {
    const count = channels[0].length;
    if (this.historyFill + count > this.history.length) {
      const grown = new Float32Array((this.historyFill + count) * 2);
      grown.set(this.history.subarray(0, this.historyFill));
      this.history = grown;
    }
    const scale = 1 / channels.length;
    for (let n = 0; n < count; n++) {
      let sum = 0;
      for (let c = 0; c < channels.length; c++) sum += channels[c][n];
      this.history[this.historyFill + n] = sum * scale;
    }
    this.historyFill += count;
  }

  emit(sample) {
    this.frame[this.frameFill++] = sample;
    if (this.frameFill < this.frame.length) return;
    const pcm = new ArrayBuffer(this.frame.length * 2);
    const view = new DataView(pcm);
    let energy = 0;
    for (let n = 0; n < this.frame.length; n++) {
      const s = Math.max(-1, Math.min(1, this.frame[n]));
      energy += s * s;
      view.setInt16(n * 2, Math.round(s < 0 ? s * 32768 : s * 32767), true);
    }
    this.port.postMessage({ pcm, rms: Math.sqrt(energy / this.frame.length) }, [pcm]);
    this.frameFill = 0;
  }

  process(inputs) {
    const channels = inputs[0];
    if (!channels || channels.length === 0) return true; // No source connected (yet).
    this.append(channels);

    // Each output is the band-limited input evaluated at `position` (minus the filter's fixed
    // delay of (taps - 1) / 2 input samples), so any ratio of rates steps exactly.
    while (this.position < this.historyFill) {
      const i = Math.floor(this.position);
      this.emit(this.filtered(i, this.position - i));
      this.position += this.step;
    }

    // Drop input no future output needs; subtracting a whole number keeps the fraction exact.
    const drop = Math.min(Math.floor(this.position) - (this.tapCount - 1), this.historyFill);
    if (drop > 0) {
      this.history.copyWithin(0, drop, this.historyFill);
      this.historyFill -= drop;
      this.position -= drop;
    }
    return true;
  }
}

registerProcessor('pcm-downsampler', PcmDownsampler);
