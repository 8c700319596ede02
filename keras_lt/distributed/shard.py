"""Which part of a global batch a rank takes."""


def shard_bounds(size, rank, world_size):
    """`(start, stop)` of rank `rank`'s contiguous share of `size` items, as `numpy.array_split`.

    The first `size % world_size` ranks take one item more, so shards differ by at most one and
    their concatenation in rank order is the whole batch.

    Args:
        size: items in the global batch.
        rank: this rank.
        world_size: number of ranks.

    Returns:
        `(start, stop)` indices into the global batch.

    Example:
    >>> shard_bounds(10, 1, 4)
    (3, 6)
    """
    base, extra = divmod(size, world_size)
    start = rank * base + min(rank, extra)
    return start, start + base + (rank < extra)
