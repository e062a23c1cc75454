"""Machine counts sent upstream: bucketed by default, as the real service does."""

# Lower bounds of the buckets: 1-49, 50-99, 100-499, 500-999, 1000-1999,
# 2000-4999, 5000-9999, 10000+.
BUCKETS = (10000, 5000, 2000, 1000, 500, 100, 50, 1)


def bucket(count):
    """The lower bound of the bucket holding `count` (0 stays 0)."""
    for bound in BUCKETS:
        if count >= bound:
            return bound
    return 0
