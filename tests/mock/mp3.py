"""A tiny MP3 frame walker for tests: the bytes must be whole MPEG audio Layer III frames, back to back.

Written from the frame header layout (ISO 11172-3 / 13818-3), not from the mock's code, so a test
that counts frames checks the audio is real MP3 that any decoder can play from the first byte.
"""

from __future__ import annotations

# kbit/s by bitrate index, for MPEG-1 and for MPEG-2/2.5 Layer III
BITRATES = {
    1: [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320],
    2: [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
}
SAMPLE_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def mp3_frames(data: bytes) -> int:
    """The number of Layer III frames `data` consists of; AssertionError when it is anything else."""
    count = offset = 0
    assert data, "no audio"
    while offset < len(data):
        assert offset + 4 <= len(data), f"a truncated frame header at byte {offset}"
        header = int.from_bytes(data[offset : offset + 4], "big")
        assert header >> 21 == 0x7FF, f"no frame sync at byte {offset}"
        version, layer = (header >> 19) & 3, (header >> 17) & 3
        bitrate_index, rate_index, padding = (header >> 12) & 15, (header >> 10) & 3, (header >> 9) & 1
        assert version in SAMPLE_RATES and layer == 1, f"not MPEG Layer III at byte {offset}"
        assert 0 < bitrate_index < 15 and rate_index < 3, f"a bad frame header at byte {offset}"
        kbps = BITRATES[1 if version == 3 else 2][bitrate_index]
        rate = SAMPLE_RATES[version][rate_index]
        size = (144 if version == 3 else 72) * kbps * 1000 // rate + padding
        assert offset + size <= len(data), f"the last frame is cut at byte {len(data)}"
        offset += size
        count += 1
    return count
