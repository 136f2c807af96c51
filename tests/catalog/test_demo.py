"""The demo catalog: what load_demo loads is what the README and docs/demo.md say, file by file."""

from pathlib import Path

from catalog.artwork import artwork_from_bytes
from catalog.demo import DEMO_ALBUMS, demo_cover

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
DEMO_DOC = (ROOT / "docs" / "demo.md").read_text()


def test_the_readme_says_which_folders_are_the_demo_catalog():
    total = sum(len(album.songs) for album in DEMO_ALBUMS)
    assert f"holds {total} tracks" in README and f"holds {total} tracks" in DEMO_DOC
    for album in DEMO_ALBUMS:
        files = [song.path for song in album.songs if song.path is not None]
        if files:  # every file of the package's folder
            assert f"all {len(files)}" in README and f"`{files[0].parent}/`" in README, album.title
            assert f"`{album.package}`" in README, album.title


def test_docs_demo_names_every_file_and_title():
    for album in DEMO_ALBUMS:
        assert album.title in DEMO_DOC and album.artist in DEMO_DOC, album.title
        files = [song.path for song in album.songs if song.path is not None]
        titles = [f'"{song.title}"' for song in album.songs]
        if not files:
            assert all(title in DEMO_DOC for title in titles), album.title
            continue
        assert f"`{files[0].parent}/`" in DEMO_DOC and f"`{album.package}`" in DEMO_DOC, album.title
        names = [f"`{path.name}`" for path in files]
        as_a_range = f"all {len(names)} files" in DEMO_DOC and f"{names[0]} to {names[-1]}" in DEMO_DOC
        assert all(name in DEMO_DOC for name in names) or as_a_range, album.title
        assert all(title in DEMO_DOC for title in titles) or f"{titles[0]} to {titles[-1]}" in DEMO_DOC


def test_every_demo_album_has_a_cover_that_passes_as_artwork():
    for album in DEMO_ALBUMS:
        assert artwork_from_bytes(demo_cover(album))[:3] == b"\xff\xd8\xff"
