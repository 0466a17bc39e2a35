"""posting.sending.probe: what the server says about an uploaded file, with real videos
made by PyAV."""

from __future__ import annotations

import shutil

import pytest

from posting.sending import probe
from tests.posting.upload_fixtures import *  # noqa: F403 (fixtures)
from tests.videos import make_noise_file


def facts_of(path, name=None):
    return probe.probe_video(path, name=name or path.name, size=path.stat().st_size)


def refusal(path, name=None) -> probe.VideoRejected:
    with pytest.raises(probe.VideoRejected) as caught:
        facts_of(path, name)
    return caught.value


@pytest.mark.parametrize("container", ["mp4", "mov", "mkv", "webm", "avi"])
def test_it_accepts_a_vertical_video_in_each_container(video_file, container):
    facts = facts_of(video_file(f"ok.{container}", seconds=4))
    assert (facts.width, facts.height) == (180, 320)
    assert facts.duration == pytest.approx(4, abs=0.2)


def test_it_rejects_landscape_video_and_says_what_it_is(video_file):
    error = refusal(video_file("wide.mp4", width=320, height=180))
    assert error.code == "not_vertical"
    assert "320×180, landscape" in error.message
    assert "9:16" in error.message


def test_it_accepts_a_few_pixels_off_9_16_but_not_a_square(video_file):
    assert facts_of(video_file("nearly.mp4", width=180, height=322)).height == 322
    assert "square" in refusal(video_file("square.mp4", width=320, height=320)).message


def test_it_rejects_too_short_and_too_long_videos(video_file):
    short = refusal(video_file("short.mp4", seconds=2))
    assert short.code == "too_short" and "2.0 seconds" in short.message
    long = refusal(video_file("long.mp4", seconds=95, fps=2))
    assert long.code == "too_long" and "at most 90 seconds" in long.message


def test_it_rejects_a_file_that_is_not_a_video(tmp_path):
    error = refusal(make_noise_file(tmp_path / "noise.mp4", 0.2))
    assert error.code == "not_video"
    assert "is not a video that can be read" in error.message


def test_it_rejects_a_truncated_video(video_file, tmp_path):
    whole = video_file("whole.mp4", seconds=4).read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole[: len(whole) // 2])
    error = refusal(cut)
    assert error.code == "truncated"
    assert "cut short" in error.message


def test_it_rejects_a_file_whose_extension_lies(video_file, tmp_path):
    liar = tmp_path / "really-mkv.mp4"
    shutil.copy(video_file("real.mkv"), liar)
    error = refusal(liar)
    assert error.code == "extension_mismatch"
    assert "named like a MP4 file but is really MKV" in error.message


def test_it_rejects_an_unknown_extension_before_reading_it(tmp_path):
    error = refusal(make_noise_file(tmp_path / "clip.gif", 0.01))
    assert error.code == "extension"


def test_it_rejects_a_file_over_the_limit_by_size_alone(settings, tmp_path):
    settings.POST_VIDEO_MAX_MB = 0.05
    error = refusal(make_noise_file(tmp_path / "big.mp4", 0.1))
    assert error.code == "too_large"
    assert "up to 0.05 MB" in error.message


def test_the_default_limit_is_500_mb():
    from django.conf import settings

    assert settings.POST_VIDEO_MAX_MB == 500
    assert probe.max_video_bytes() == 500 * 1024 * 1024


def test_a_rotation_flag_swaps_width_and_height(monkeypatch, video_file):
    # Portrait phone video is often landscape pixels with a 90° flag: the flag decides.
    path = video_file("wide-rotated.mp4", width=320, height=180)
    real_parse = probe.MediaInfo.parse

    def parse_with_rotation(*args, **kwargs):
        info = real_parse(*args, **kwargs)
        info.video_tracks[0].rotation = "90.000"
        return info

    monkeypatch.setattr(probe.MediaInfo, "parse", parse_with_rotation)
    facts = facts_of(path)
    assert (facts.width, facts.height) == (180, 320)
