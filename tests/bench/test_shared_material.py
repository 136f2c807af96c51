"""bench/monitor/shared.py: a detection naming audio the file on air holds is told from chance."""

import pytest

from bench import corpus
from bench.monitor import shared
from tests import media


@pytest.fixture
def files(tmp_path, monkeypatch):
    monkeypatch.setattr(corpus, "DECODED_CACHE", tmp_path / "cache")
    shared._identifier.cache_clear()
    a, b = media.synth_song(101, 60), media.synth_song(102, 60)
    rate = media.FILE_RATE
    borrowed = a.copy()
    # B's 20-35 s under A's own music at 30-45 s: a loop one soundtrack track takes from another.
    borrowed[30 * rate : 45 * rate] = 0.5 * borrowed[30 * rate : 45 * rate] + 0.5 * b[20 * rate : 35 * rate]
    return {
        "a": str(media.write_wav(tmp_path / "a.wav", a)),
        "b": str(media.write_wav(tmp_path / "b.wav", b)),
        "borrowed": str(media.write_wav(tmp_path / "borrowed.wav", borrowed)),
    }


def test_audio_another_file_holds_is_found_where_it_is(files):
    found = shared.shared_material(files["borrowed"], 31.0, 12.0, files["b"])
    assert found is not None
    assert 30.0 - 2.5 <= found["playing_s"] <= 45.0
    assert found["detected_s"] - found["playing_s"] == pytest.approx(20.0 - 30.0, abs=0.3)
    assert found["log10_p"] < -7


def test_a_file_without_the_named_audio_is_not_excused(files):
    assert shared.shared_material(files["a"], 31.0, 12.0, files["b"]) is None


def test_the_screen_leaves_out_never_indexed_files_that_hold_catalog_audio(files, tmp_path, monkeypatch):
    monkeypatch.setattr("bench.OUT", tmp_path)
    never = [{"path": files["borrowed"], "sha256": "1"}, {"path": files["a"], "sha256": "2"}]
    held = shared.screen(never, [{"path": files["b"], "sha256": "3"}])
    assert list(held) == [files["borrowed"]]
    assert held[files["borrowed"]]["track"] == files["b"]
    assert (tmp_path / "monitor" / "shared_screen.json").exists()  # cached for the next run
