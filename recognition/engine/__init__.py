"""The recognition engine: numpy, scipy and a sandboxed ffmpeg; no Django."""
