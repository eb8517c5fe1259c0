"""Private helpers of ``zoo``: registries, argument checks, atomic file IO, torch contexts."""
