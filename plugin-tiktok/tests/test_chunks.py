"""Chunk planning follows TikTok's documented rules."""

from __future__ import annotations

import pytest
from pellacia.errors import Rejected
from pellacia_tiktok.upload import MAX_CHUNK, MB, MIN_CHUNK, plan_chunks


def test_documentation_example() -> None:
    plan = plan_chunks(50_000_123, 10_000_000)
    assert (plan.chunk_size, plan.total_chunk_count) == (10_000_000, 5)
    assert plan.chunk(4) == (40_000_000, 10_000_123)
    assert plan.chunk(0) == (0, 10_000_000)


def test_under_five_megabytes_goes_whole() -> None:
    plan = plan_chunks(3 * MB, 10_000_000)
    assert (plan.chunk_size, plan.total_chunk_count) == (3 * MB, 1)
    assert plan.chunk(0) == (0, 3 * MB)


def test_a_file_that_fits_one_chunk_goes_whole() -> None:
    plan = plan_chunks(8 * MB, 10_000_000)
    assert (plan.chunk_size, plan.total_chunk_count) == (8 * MB, 1)


def test_over_64_megabytes_is_chunked_within_limits() -> None:
    size = 200 * MB + 7
    plan = plan_chunks(size, 10_000_000)
    assert plan.total_chunk_count == size // 10_000_000
    first, last = plan.chunk(plan.total_chunk_count - 1)
    assert first + last == size
    assert MIN_CHUNK <= plan.chunk_size <= MAX_CHUNK
    assert plan.chunk_size <= last < 2 * plan.chunk_size


def test_preferred_size_is_clamped_to_the_rules() -> None:
    assert plan_chunks(300 * MB, 1 * MB).chunk_size == MIN_CHUNK
    assert plan_chunks(300 * MB, 500 * MB).chunk_size == MAX_CHUNK


def test_thousand_chunk_limit_grows_the_chunk() -> None:
    size = 6 * 1024**3  # 1228 chunks at 5 MiB: over the limit
    plan = plan_chunks(size, MIN_CHUNK)
    assert plan.chunk_size == -(-size // 1000)
    assert plan.total_chunk_count == size // plan.chunk_size <= 1000
    first, last = plan.chunk(plan.total_chunk_count - 1)
    assert first + last == size and last < 2 * plan.chunk_size


def test_too_big_for_a_thousand_chunks_is_rejected() -> None:
    with pytest.raises(Rejected, match="1000 chunks"):
        plan_chunks(1000 * MAX_CHUNK + 10 * MAX_CHUNK, 10_000_000)


def test_empty_file_is_rejected() -> None:
    with pytest.raises(Rejected):
        plan_chunks(0)
