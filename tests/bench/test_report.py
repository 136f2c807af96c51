"""bench.report: the benchmark documents agree with bench/results, and blocks are filled in place."""

import json
import re
import shutil
from pathlib import Path

import pytest

from bench import RESULTS
from bench.report import BLOCKS, ReportError, differences, generate, main, rewrite_blocks
from bench.report.render import Page, Results

SAMPLE = """# A page

Text before, kept as it is.

<!-- report:headline -->
a stale table
<!-- /report:headline -->

## Growth

<!-- report:growth -->
<!-- /report:growth -->
<!-- report:growth_wide -->
<!-- /report:growth_wide -->

<!-- report:live -->
old
<!-- /report:live -->
<!-- report:faults -->
<!-- /report:faults -->
Between blocks.
<!-- report:abuse -->
<!-- /report:abuse -->
<!-- report:ingest -->
<!-- /report:ingest -->
<!-- report:monitor -->
<!-- /report:monitor -->
<!-- report:monitor_faults -->
<!-- /report:monitor_faults -->
<!-- report:reports -->
<!-- /report:reports -->
<!-- report:reports_pages -->
<!-- /report:reports_pages -->
<!-- report:retroactive -->
<!-- /report:retroactive -->
<!-- report:sandbox -->
<!-- /report:sandbox -->
<!-- report:latency -->
<!-- /report:latency -->
<!-- report:latency_followup -->
<!-- /report:latency_followup -->
<!-- report:latency_ingest -->
<!-- /report:latency_ingest -->
<!-- report:ingest_cpu -->
<!-- /report:ingest_cpu -->
<!-- report:api_profile -->
<!-- /report:api_profile -->
<!-- report:upload_progress -->
<!-- /report:upload_progress -->
<!-- report:voice -->
<!-- /report:voice -->

<!-- report:robustness -->
<!-- /report:robustness -->
<!-- report:robustness_cpu -->
<!-- /report:robustness_cpu -->
<!-- report:timeline_speeds -->
<!-- /report:timeline_speeds -->
<!-- report:room_onsets -->
<!-- /report:room_onsets -->
<!-- report:room_reference -->
<!-- /report:room_reference -->
<!-- report:dense_gate -->
<!-- /report:dense_gate -->
<!-- report:engine_ab_sorts -->
<!-- /report:engine_ab_sorts -->
<!-- report:engine_ab_sort_groups -->
<!-- /report:engine_ab_sort_groups -->
<!-- report:sort_runs -->
<!-- /report:sort_runs -->
<!-- report:catalog_search -->
<!-- /report:catalog_search -->
<!-- report:room -->
<!-- /report:room -->

Text after.
"""


@pytest.fixture
def repository(tmp_path):
    """A repository of its own: a copy of the results files, a README with every block, a page without."""
    shutil.copytree(RESULTS, tmp_path / "bench" / "results", ignore=shutil.ignore_patterns("studies", "*.png"))
    (tmp_path / "bench" / "results" / "studies").mkdir()
    shutil.copy(RESULTS / "studies" / "sort_runs.json", tmp_path / "bench" / "results" / "studies")
    (tmp_path / "docs").mkdir()
    (tmp_path / "README.md").write_text(SAMPLE)
    (tmp_path / "docs" / "other.md").write_text("# No blocks here\n")
    return tmp_path


def without_contents(text: str) -> str:
    """`text` with every block emptied: what the report must leave as it is."""
    return re.sub(r"(<!-- report:(\S+) -->\n).*?(<!-- /report:\2 -->)", r"\1\3", text, flags=re.DOTALL)


def page_at(root: Path, name: str = "README.md") -> Page:
    return Page(root / name, Results(root / "bench" / "results"), root)


def test_the_committed_documents_agree_with_the_results(capsys):
    """What CI runs: a results file changed without `make report` fails here, with the diff."""
    status = main(["--check"])
    assert status == 0, capsys.readouterr().out


def test_every_block_is_rewritten_and_the_text_around_it_kept(repository):
    page = page_at(repository)
    rewritten = rewrite_blocks(SAMPLE, page)
    assert "a stale table" not in rewritten
    assert "\nold\n" not in rewritten
    for name, render in BLOCKS.items():
        opening, closing = f"<!-- report:{name} -->\n", f"\n<!-- /report:{name} -->"
        assert opening + render(page).strip("\n") + closing in rewritten
    assert without_contents(rewritten) == without_contents(SAMPLE)
    assert rewritten.startswith("# A page\n\nText before, kept as it is.\n\n<!-- report:headline -->\n")
    assert rewritten.endswith("<!-- /report:room -->\n\nText after.\n")
    assert rewrite_blocks(rewritten, page) == rewritten


def test_blocks_quote_their_file_and_its_run(repository):
    page = page_at(repository)
    growth = BLOCKS["growth"](page)
    assert "[`bench/results/growth.json`](bench/results/growth.json)" in growth
    assert "measured 2026-12-07" in growth
    assert "71.4 / 148.1 ms" in growth
    headline = BLOCKS["headline"](page)
    assert "run of 2026-12-03 21:57" in headline
    assert "[docs/benchmarks.md](docs/benchmarks.md)" in headline


def test_the_timeline_speeds_block_quotes_its_three_runs(repository):
    block = BLOCKS["timeline_speeds"](page_at(repository))
    data = json.loads((repository / "bench" / "results" / "timeline_speeds.json").read_text())
    for part in ("clips", "sweep", "timelines"):
        assert f"run of {data[part]['when']}" in block
    assert block.count("[`bench/results/timeline_speeds.json`](bench/results/timeline_speeds.json)") == 3
    first = data["sweep"]["by_setting"][0]
    assert f"| {first['min_drift_votes']} votes, {100 * first['max_speed_error']:.2f} % |" in block


def test_links_are_relative_to_the_page(repository):
    growth = BLOCKS["growth"](page_at(repository, "docs/scaling.md"))
    assert "(../bench/results/growth.json)" in growth
    assert "(../bench/results/growth.png)" in growth


def test_an_unknown_block_name_fails(repository):
    text = "# Page\n\n<!-- report:headlines -->\n<!-- /report:headlines -->\n"
    with pytest.raises(ReportError, match=r"README.md:3: unknown report block 'headlines'"):
        rewrite_blocks(text, page_at(repository))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<!-- report:growth -->\nno end\n", "block 'growth' is never closed"),
        ("<!-- /report:growth -->\n", "block 'growth' closes without being opened"),
        ("<!-- report:growth -->\n<!-- report:live -->\n", "block 'live' opens inside block 'growth'"),
        ("<!-- report:growth -->\n<!-- /report:live -->\n", "block 'live' closes without being opened"),
    ],
)
def test_a_malformed_block_fails(repository, text, message):
    with pytest.raises(ReportError, match=message):
        rewrite_blocks(text, page_at(repository))


def test_a_missing_results_file_fails_clearly(repository):
    (repository / "bench" / "results" / "growth.json").unlink()
    with pytest.raises(ReportError, match=r"bench/results/growth\.json is missing: `make growth` writes it"):
        rewrite_blocks("<!-- report:growth -->\n<!-- /report:growth -->\n", page_at(repository))
    with pytest.raises(ReportError, match=r"growth\.json is missing"):
        generate(repository, repository / "bench" / "results")


def test_generate_writes_the_pages_and_only_files_with_blocks(repository):
    results = repository / "bench" / "results"
    texts = generate(repository, results)
    assert set(texts) == {repository / "docs" / "benchmarks.md", results / "results.md", repository / "README.md"}
    assert texts[results / "results.md"] == (RESULTS / "results.md").read_text()
    assert texts[repository / "docs" / "benchmarks.md"].count("_From [`bench/results/") >= 10


def test_check_shows_a_changed_results_file(repository):
    results = repository / "bench" / "results"
    for path, text in generate(repository, results).items():
        path.write_text(text)
    assert differences(generate(repository, results), repository) == ""
    points = json.loads((results / "growth.json").read_text())
    points[-1]["p95_ms"] = 149.9
    (results / "growth.json").write_text(json.dumps(points))
    diff = differences(generate(repository, results), repository)
    assert "+| 299,998,280 | 99,999,827 | 9.08 GB | 71.4 / 149.9 ms" in diff
    assert "a/README.md" in diff and "a/docs/benchmarks.md" in diff


def test_monitor_blocks_name_their_files_and_goals(repository):
    page = page_at(repository, "docs/benchmarks.md")
    monitor = BLOCKS["monitor"](page)
    assert "(../bench/results/monitor.json) (`make bench-monitor`)" in monitor
    assert "| song start → detection visible, p50 / p95 |" in monitor
    assert "≤ 3 / ≤ 6 s" in monitor
    faults = BLOCKS["monitor_faults"](page)
    assert "(../bench/results/monitor_faults.json) (`make faults-monitor`)" in faults
    assert "SIGKILL the worker mid-play" in faults


def test_the_robustness_block_gives_each_arm_its_goal_and_its_false_matches(repository):
    page = page_at(repository)
    block = BLOCKS["robustness"](page)
    assert "| speed+5 | 5 s | " in block and "≥ 95 %" in block and "| room-dr0 | 1 s | " in block
    assert "`today`" in block and "unknown clips matched" in block
    assert "[`bench/results/robustness.json`](bench/results/robustness.json)" in block


def test_the_robustness_cpu_block_sets_the_engines_side_by_side_and_counts_differing_answers(repository):
    block = BLOCKS["robustness_cpu"](page_at(repository))
    assert "| never-indexed | 5 s | " in block and "before (607cdab)" in block and "with the denser look" in block
    assert "answers that differ between before and now: 0 of " in block
    assert "| hashing the speed retries (near, wide screen, wide decided) | " in block
    assert "[`bench/results/robustness_cpu.json`](bench/results/robustness_cpu.json)" in block


def test_the_voice_block_gives_the_cells_their_goals_and_the_uploads_their_cost(repository):
    block = BLOCKS["voice"](page_at(repository))
    assert "| voice+10 | 5 s | " in block and "≥ 75 %" in block and "unknown clips matched" in block
    assert "| never-indexed | " in block and "with it (`window_dense_params`)" in block
    assert block.count("[`bench/results/voice.json`](bench/results/voice.json)") >= 2


def test_an_engine_ab_block_lists_each_round_the_medians_and_the_answers_that_differ(repository):
    def run(round_, arm, every, unknown, cpu):
        return {"round": round_, "arm": arm, "p50_p95_ms": every, "unknown_p50_p95_ms": unknown, "unknown_cpu_ms": cpu}

    data = {
        "when": "2026-12-07 23:20",
        "command": "python -m bench.studies.engine_ab --base abc1234 --rounds 2",
        "base": "abc1234",
        "this": "def5678",
        "db": "earshot_growth",
        "runs": [
            run(1, "base", [90.0, 230.0], [180.0, 250.0], 150.0),
            run(1, "this", [75.0, 220.0], [160.0, 240.0], 125.5),
        ],
        "median_p50_p95_ms": {"base": [90.0, 230.0], "this": [75.0, 220.0]},
        "median_unknown_p50_p95_ms": {"base": [180.0, 250.0], "this": [160.0, 240.0]},
        "median_unknown_cpu_ms": {"base": 150.0, "this": 125.5},
        "queries": 100,
        "answers_differ": ["q7"],
    }
    (repository / "bench" / "results" / "engine_ab_sorts.json").write_text(json.dumps(data))
    block = BLOCKS["engine_ab_sorts"](page_at(repository))
    assert "| 1 | this (def5678) | 75.0 / 220.0 ms | 160.0 / 240.0 ms | 125.5 ms |" in block
    assert "| median | base (abc1234) | 90.0 / 230.0 ms | 180.0 / 250.0 ms | 150.0 ms |" in block
    assert "100 queries, answers differing: 1 (q7)" in block and "run of 2026-12-07 23:20" in block


def test_the_sort_runs_block_shows_each_run_with_simd_as_found_and_off(repository):
    def sorts(figures, merges):
        return {"rows": [["30,000 sorted", *figures[0]], ["8,000 sorted but for groups", *figures[1]]],
                "merges_small_groups": merges}  # fmt: skip

    def run(when, dispatch, regimes):
        return {
            "when": when, "command": "python -m bench.studies.sort_runs --repeats 9", "numpy": "2.5.5",
            "machine": "x86_64, a CPU", "dispatch": dispatch, "sorts": regimes,
            "memo": {"rows": 60000, "values": 2941, "new_rows": 20000, "each_row_tested_us": 1203,
                     "each_value_searched_us": 116, "new_rows_merged_us": 228},
            "pair_lists": {"lists": 5, "pairs_each": 12000, "hashes": 7462, "in_table_us": 179, "searched_us": 1233},
        }  # fmt: skip

    data = {
        "runs": [
            run("2026-12-08 00:01", None, {"as found": sorts([(912, 14, 17), (467, 74, 76)], None)}),
            run("2026-12-08 01:30", ["X86_V3", "X86_V4"], {
                "as found": sorts([(225, 29, 46), (93, 291, 103)], False),
                "SIMD dispatch off": sorts([(268, 17, 30), (1100, 291, 325)], True),
            }),
        ]
    }  # fmt: skip
    (repository / "bench" / "results" / "studies" / "sort_runs.json").write_text(json.dumps(data))
    block = BLOCKS["sort_runs"](page_at(repository))
    assert "| 2026-12-08 00:01, SIMD as found: not recorded | 912 / 14 / 17 µs | 467 / 74 / 76 µs | merged" in block
    assert (
        "| 2026-12-08 01:30, SIMD as found: X86_V3, X86_V4 | 225 / 29 / 46 µs | 93 / 291 / 103 µs | default |" in block
    )
    assert "| 2026-12-08 01:30, SIMD off | 268 / 17 / 30 µs | 1,100 / 291 / 325 µs | merged |" in block
    assert "60,000 rows asked 2,941 values: 1,203 / 116 µs | 228 µs | 5 × 12,000 pairs asked 7,462 hashes" in block
    assert "[`bench/results/studies/sort_runs.json`](bench/results/studies/sort_runs.json)" in block
    assert "runs of 2026-12-08 00:01, 2026-12-08 01:30 UTC (2026-12-08 00:01: x86_64, a CPU, numpy 2.5.5;" in block


def test_the_dense_gate_block_answers_each_clip_as_its_gate_would(repository):
    """A clip takes the look's answer when its nearness is at or below the gate, the answer
    without the look otherwise; only cells where the two differ are shown."""

    def clip(condition, nearest, always, never):
        return {"condition": condition, "length": 5, "nearest": nearest, "always": always, "never": never,
                "always_ms": 10.0, "never_ms": 5.0}  # fmt: skip

    data = {
        "when": "2026-12-07 21:02",
        "gates": [0.0],
        "clips": [
            clip("voice+10", -1.0, "right", "none"),  # near as heard: a gate at 0 keeps it
            clip("voice+10", 1.5, "right", "none"),  # far: lost
            clip("clean", 2.0, "right", "right"),  # the look changes nothing in its cell
            clip("unknown", -0.5, "none", "none"),
            clip("unknown", 0.5, "none", "none"),
            clip("unknown", 3.0, "none", "none"),
        ],
    }
    (repository / "bench" / "results" / "dense_gate.json").write_text(json.dumps(data))
    block = BLOCKS["dense_gate"](page_at(repository))
    assert "| voice+10 5 s |" in block and "clean" not in block.split("\n")[0]
    assert "| always (today) | 100 % | 2 of 2 | 3 of 3 | 0 |" in block
    assert "| ≤ 0.0 | 50 % | 1 of 2 | 1 of 3 | 0 |" in block
    assert "| never | 0 % | 0 of 2 | 0 of 3 | 0 |" in block
    assert "p5 / p50 / p95 -0.50 / 0.50 / 3.00" in block  # nearest-rank percentiles
