// The browser side of portal/formatting.py: the same rules for times, confidences, durations,
// changes of speed or pitch and the ticks of a time axis.

export function clock(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "—";
  const sign = seconds < 0 ? "−" : "";
  const whole = Math.round(Math.abs(seconds));
  const hours = Math.floor(whole / 3600);
  const minutes = Math.floor((whole % 3600) / 60);
  const secs = String(whole % 60).padStart(2, "0");
  if (hours) return `${sign}${hours}:${String(minutes).padStart(2, "0")}:${secs}`;
  return `${sign}${minutes}:${secs}`;
}

export function percent(fraction) {
  if (fraction === null || fraction === undefined || !Number.isFinite(fraction)) return "—";
  const value = Math.max(0, Math.min(1, fraction)) * 100;
  if (value > 0 && value < 1) return "<1 %";
  return `${Math.floor(value + 0.5)} %`;
}

// When a match's speed or pitch change is reported: recognition/engine/matching/changes.py's rule
// (from 1 % and half a semitone, compared to a tenth of a percent and a hundredth of a semitone).
const MIN_SPEED_CHANGE = 0.01;
const MIN_PITCH_SEMITONES = 0.5;

function atLeast(value, minimum, steps) {
  return Math.floor(Math.abs(value) * steps + 0.5) >= Math.round(minimum * steps);
}

export function change(speed, pitchSemitones) {
  const parts = [];
  if (Number.isFinite(speed) && speed > 0 && atLeast(speed - 1, MIN_SPEED_CHANGE, 1000)) {
    parts.push(`played ${Math.floor(Math.abs(speed - 1) * 100 + 0.5)} % ${speed > 1 ? "fast" : "slow"}`);
  }
  if (Number.isFinite(pitchSemitones) && atLeast(pitchSemitones, MIN_PITCH_SEMITONES, 100)) {
    const amount = String(Math.floor(Math.abs(pitchSemitones) * 10 + 0.5) / 10);
    parts.push(`pitch ${pitchSemitones > 0 ? "up" : "down"} ${amount} semitone${amount === "1" ? "" : "s"}`);
  }
  return parts.join(", ");
}

const LABELS = [[0.9, "very high"], [0.7, "high"], [0.4, "good"], [0, "fair"]];

export function confidenceLabel(fraction) {
  if (fraction === null || fraction === undefined || !Number.isFinite(fraction)) return "—";
  return LABELS.find(([floor]) => fraction >= floor)[1];
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "—";
  if (seconds === 0) return "0 s";
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 10) return `${seconds.toFixed(1)} s`;
  if (seconds < 59.5) return `${Math.round(seconds)} s`;
  return clock(seconds);
}

export function totalDuration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 3599.5) return duration(seconds);
  const minutes = Math.round(seconds / 60);
  return `${Math.floor(minutes / 60).toLocaleString("en")} h ${String(minutes % 60).padStart(2, "0")} min`;
}

export const AXIS_STEPS_S = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1200, 1800, 3600, 7200];

export function axisTicks(durationS, maxTicks = 6) {
  if (!Number.isFinite(durationS) || durationS <= 0) return [0];
  const intervals = Math.max(1, maxTicks);
  let step = AXIS_STEPS_S.find((s) => durationS / s <= intervals);
  if (step === undefined) step = AXIS_STEPS_S.at(-1) * Math.ceil(durationS / AXIS_STEPS_S.at(-1) / intervals);
  const ticks = [];
  for (let i = 0; i * step <= durationS; i += 1) ticks.push(i * step);
  return ticks;
}
