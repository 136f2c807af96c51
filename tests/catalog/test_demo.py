"""The demo catalog: what load_demo loads is what the README says, file by file."""

from pathlib import Path

from catalog.artwork import artwork_from_bytes
from catalog.demo import DEMO_ALBUMS, demo_cover

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_the_readme_names_every_file_of_the_demo_catalog():
    total = sum(len(album.songs) for album in DEMO_ALBUMS)
    assert f"holds {total} tracks" in README
    for album in DEMO_ALBUMS:
        files = [song.path for song in album.songs if song.path is not None]
        if not files:  # synthesised: named by title
            assert all(f'"{song.title}"' in README for song in album.songs), album.title
            continue
        assert f"`{files[0].parent}/`" in README and f"`{album.package}`" in README, album.title
        names = [f"`{path.name}`" for path in files]
        listed = all(name in README for name in names)
        as_a_range = f"all {len(names)} files" in README and f"{names[0]} to {names[-1]}" in README
        assert listed or as_a_range, album.title


def test_every_demo_album_has_a_cover_that_passes_as_artwork():
    for album in DEMO_ALBUMS:
        assert artwork_from_bytes(demo_cover(album))[:3] == b"\xff\xd8\xff"
