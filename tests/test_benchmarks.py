"""Every benchmark runs in its smallest mode and prints figures of the path it claims to measure.

Benchmarks are not timed tests; these only keep them from rotting unseen (a bench that patched
a private method once measured an error fallback for every utterance, and nobody noticed).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from parakeet_desktop.engine.model import packed

ROOT = Path(__file__).resolve().parents[1]


def run_bench(name: str, *args: str, timeout: float = 1800) -> dict:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("DISPLAY", None)  # the desktop bench starts its own X server
    result = subprocess.run([sys.executable, str(ROOT / "bench" / name), *args], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def test_file_transcription_bench_compares_both_twins_with_nemo():
    report = run_bench("file_transcription.py", "--tiny", "--seconds", "8", "--repeats", "1")
    twins = [r["twin"] for r in report["results"]]
    assert len(twins) == 2 and any("blank" in t for t in twins)
    for result in report["results"]:
        assert result["ours"]["rtfx_median"] > 0 and result["nemo_transcribe"]["rtfx_median"] > 0
        assert result["rtfx_ratio_ours_over_nemo"] > 0
        assert result["onednn_products"] and result["onednn_text_identical_to_plain"]  # on the CPU
        assert result["ours_plain"]["rtfx_median"] > 0 and result["rtfx_ratio_onednn_over_plain"] > 0
    sparse = next(r for r in report["results"] if "blank" in r["twin"])
    dense = next(r for r in report["results"] if "blank" not in r["twin"])
    assert sparse["tokens_per_second"] < dense["tokens_per_second"]
    for result in report["results"]:  # onnx-asr beside ours, installed by the bench from the registry
        peer = result["onnx_asr"]
        assert "unavailable" not in peer, peer
        assert peer["seconds_median"] > 0 and peer["encoder_seconds_median"] > 0 and peer["decoding_seconds_median"] > 0
        assert peer["tokens_identical_to_nemo"] and result["ours"]["tokens_identical_to_nemo"]
        assert peer["rss_after_load_mb"] > 0 and result["time_ratio_ours_over_onnx_asr"] > 0


def test_int8_bench_gives_word_error_rates_both_ways():
    report = run_bench("int8.py", "--smoke")
    assert set(report["wer_float32"]) == set(report["wer_int8"]) == set(report["int8_minus_float32_points"])
    assert all(0 <= rate <= 0.3 for rate in report["wer_int8"].values()), report["wer_int8"]
    assert report["sets"]["recordings_12_to_30_s"]["audio_seconds"] >= 12


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the bench starts Xvfb")
def test_startup_bench_times_the_tray_and_the_model():
    report = run_bench("startup.py", "--runs", "1", "--device", "cpu")
    assert 0 < report["launch_to_tray_visible_seconds"] <= report["launch_to_model_ready_seconds"]
    assert report["app_main_to_model_ready_seconds"] > 0


def test_startup_bench_times_the_command_line_before_and_after():
    report = run_bench("startup.py", "--cli", "--runs", "1")
    assert report["transcribe_1s_clip_seconds"]["before"] > 0 and report["transcribe_1s_clip_seconds"]["after"] > 0
    stages = report["stages_seconds_and_memory"]
    assert stages["import_nemo"] > 0 and stages["restore"] > 0 and stages["prepare_ours"] > 0
    assert 0 < stages["rss_ready_gb"] < 10


def test_stress_bench_presses_and_checks_every_press():
    report = run_bench("stress.py", "--presses", "12", "--longest", "12")
    assert report["presses"] == 12 and report["presses_with_speech"] >= 1
    assert report["stuck"] == 0 and report["presses_not_as_expected"] == 0
    assert report["finals"] >= 12 and report["wer_of_speech_presses"] < 0.5
    assert set(report["rss_mb"]) == {"start", "middle", "end"}


@pytest.mark.xdist_group("ray")  # its own Ray clusters: in the lane of the session's, never beside it
def test_cluster_bench_loads_serve_and_the_cluster_alike():
    report = run_bench("cluster.py", "--smoke", "--clients", "4")
    runs = report["runs"]
    assert set(runs) == {"serve_one_thread", "serve_one_thread_no_batching", "cluster_1_replica", "cluster_2_replicas"}
    for run in runs.values():
        assert run["requests"] > 0 and run["failures"] == {} and run["latency_seconds"]["median"] > 0
    ratios = report["ratios"]
    assert ratios["scaling_1_to_2"] > 0 and ratios["proxy_overhead"]["throughput"] > 0 and ratios["batching_serve"] > 0


def test_vocabulary_bench_times_lists_and_shows_the_trade_off():
    report = run_bench("vocabulary.py", "--smoke")
    assert report["listed"] and set(report["timing"]) == {"none", "100", "1000"}
    assert report["timing"]["1000"]["phrases"] == 1000 and report["timing"]["1000"]["decode_ratio"] > 0
    assert set(report["strength"]) == {"none", "1", "3", "5", "7", "10"}
    assert all(0 <= row["recall"] <= 1 for row in report["strength"].values())


def test_the_gpu_command_runs_every_gpu_bench_in_smoke_mode(tmp_path):
    """bench/on-gpu.sh --smoke: what a lent GPU machine runs, at its smallest on the CPU, so
    that the GPU run is one command known to work. Each bench's figures are checked as a bench
    of its own would be."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OUT": str(tmp_path), "PYTHON": sys.executable}
    env.pop("DISPLAY", None)
    result = subprocess.run(["bash", str(ROOT / "bench" / "on-gpu.sh"), "--smoke"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=3600)
    assert result.returncode == 0, result.stderr[-3000:]
    figures = {name: json.loads((tmp_path / f"{name}.json").read_text()) for name in
               ("gpu", "wake", "streaming", "service", "diarization")}
    diarization = figures["diarization"]
    assert diarization["device"] == "cpu" and diarization["diarize_seconds_per_audio_minute"] > 0
    assert diarization["diarizing_adds"] > 0 and diarization["titanet_seconds_for_30s"] > 0
    assert len(diarization["diarizer_memory"]) == 2 and diarization["memory_bounded"]

    gpu = figures["gpu"]
    assert gpu["device"] == "cpu" and gpu["mode"].startswith("smoke")
    assert 2.5 <= gpu["twin_tokens_per_second"] <= 4.5
    assert gpu["load"]["ours_seconds_with_warm_up"] > 0
    assert all(row["best_rtfx_ratio_ours_over_nemo"] > 0 for row in gpu["files"])
    assert gpu["streaming"]["step_seconds"]["n"] > 0
    assert [row["utterance_seconds"] for row in gpu["release_to_final"]] == [2, 5]
    # Whether the request lands inside the batch depends on the machine's load: reported, not asserted.
    assert gpu["yield_to_dictation"]["cancel_outcome"] in ("cancelled", "finished before the request")
    # A half type runs on the CPU only where oneDNN has its products; the others say why not.
    variants, halves = gpu["dtypes_and_graphs"], {"bfloat16", "float16"}
    on_this_cpu = {dtype for dtype in halves if packed.available(getattr(torch, dtype))}
    assert set(variants) - {"skipped"} == {f"{dtype}, cuda graphs off" for dtype in {"float32"} | on_this_cpu}
    assert set(variants.get("skipped", {})) == halves - on_this_cpu
    assert all(gpu["cpu"]["model"] in why for why in variants.get("skipped", {}).values())

    wake = figures["wake"]
    assert wake["benchmark"] == "wake" and wake["device"] in ("cpu", "cuda")
    if wake["device"] == "cuda":
        assert wake["wake_seconds"] > 0 and wake["memory_while_resting"]["allocated_mb"] < \
            wake["memory_before_rest"]["allocated_mb"]
    else:
        assert wake["weights_mb"] > 1 and wake["cpu_copy_seconds"] > 0

    streaming = figures["streaming"]
    assert [r["model"].split(" ")[0] for r in streaming["results"]] == ["speech", "tiny", "tiny", "tiny", "tiny"]
    cache_aware = [r for r in streaming["results"] if "cache_aware_step" in r["streaming"]]
    assert [r["streaming"]["cache_aware_step"] for r in cache_aware] == [0.16, 0.56]
    assert all(r["against_buffered_sparse_twin"]["compute_per_audio_second"] > 0 for r in cache_aware)
    for result in streaming["results"]:
        assert result["errors"] == 0, result["first_error"]
        assert result["stop_to_final_seconds_streamed"]["median"] is not None
        assert result["stop_to_final_ratio_streamed_over_nemo"] > 0
        assert result["stop_to_final_ratio_auto_over_nemo"] > 0
        assert result["partial_lag_seconds"]["n"] > 0, "the tap saw the streaming steps"
    assert streaming["results"][0]["wer_streamed"] < 0.5, "the speech model's words came through"

    service = figures["service"]
    assert [r["model"].split(" ")[0] for r in service["results"]] == ["speech-tdt", "tiny"]
    for result in service["results"]:
        assert result["http_file"]["http_over_in_process"] > 0
        assert result["stream_compute"]["websocket_stop_to_final_seconds"]["n"] == 1
        assert [row["clients"] for row in result["latency_short_requests"]] == [1, 4]
        assert all(row["requests"] >= 4 for row in result["latency_short_requests"])
        assert result["real_time_streams"]["rows"][0]["streams"] == 1
        assert result["batching_streams"]["batched_over_one_by_one"] > 0
    attacks = service["attacks"]
    assert attacks["refused_bombs"]["statuses"] == [400, 400] and attacks["refused_bombs"]["peak_over_idle_mb"] >= 0
    behind = attacks["short_behind_long"]
    assert behind["short_status"] == behind["long_status"] == 200 and behind["short_alone_seconds"] > 0
