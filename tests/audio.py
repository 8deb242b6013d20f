"""A real Ogg/Opus voice note (silence), as Telegram records them, for tests that play one."""

from __future__ import annotations

import struct


def _crc(data: bytes) -> int:
    """Ogg's CRC-32 (polynomial 0x04C11DB7, not reflected, no final xor)."""
    crc = 0
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
            crc &= 0xFFFFFFFF
    return crc


def _page(packets: list[bytes], granule: int, sequence: int, flags: int) -> bytes:
    lacing = b"".join(bytes([255] * (len(p) // 255) + [len(p) % 255]) for p in packets)
    header = struct.pack("<4sBBqIIIB", b"OggS", 0, flags, granule, 0x48_4C_50_4E, sequence, 0, len(lacing))
    page = header + lacing + b"".join(packets)
    return page[:22] + struct.pack("<I", _crc(page)) + page[26:]


def ogg_opus(seconds: int) -> bytes:
    """Ogg/Opus mono 48 kHz of `seconds` seconds of silence (20 ms CELT frames)."""
    head = struct.pack("<8sBBHIhB", b"OpusHead", 1, 1, 312, 48000, 0, 0)
    tags = struct.pack("<8sI8sI", b"OpusTags", 8, b"helpline", 0)
    frames = seconds * 50
    silence = bytes([0xF8, 0xFF, 0xFE])  # TOC: CELT fullband 20 ms, one frame, then a silent frame
    pages = [_page([head], 0, 0, 2), _page([tags], 0, 1, 0)]
    per_page = 50
    for n, start in enumerate(range(0, frames, per_page)):
        count = min(per_page, frames - start)
        last = start + count == frames
        pages.append(_page([silence] * count, 312 + (start + count) * 960, n + 2, 4 if last else 0))
    return b"".join(pages)
