r"""Initial responsibilities for EM on Gaussian mixtures, in PyTorch (no scikit-learn).

Methods:
    "kmeans": k-means++ seeds [1], then Lloyd iterations [2] until no assignment changes
        or the centers move less than scikit-learn's KMeans tolerance (at most
        ``KMEANS_MAX_ITER``); r_ik = 1[x_i in cluster k]. A cluster that empties keeps its
        previous center.
    "kmeans++": the k-means++ seeds alone; each point is assigned to its nearest seed.
        (scikit-learn's "k-means++" gives each component only its seed point instead.)
    "random": r_ik uniform on [0, 1], normalized over k (as scikit-learn's "random").

The seeding is the greedy variant [3]: at each step 2 + floor(log K) candidates are drawn
with probability proportional to D(x)^2, the squared distance to the nearest chosen seed,
and the one that most reduces sum_i D(x_i)^2 is kept. When every point already coincides
with a seed (fewer distinct points than K), candidates are drawn uniformly.

References:
    [1] Arthur, Vassilvitskii. k-means++: the advantages of careful seeding. SODA 2007
    [2] Lloyd. Least squares quantization in PCM. IEEE Trans. Inf. Theory 1982
    [3] Grunau, Ozudogru, Rozhon, Tetek. A nearly tight analysis of greedy k-means++.
        SODA 2023
"""
import math

import torch

INIT_METHODS = ("kmeans", "kmeans++", "random")
KMEANS_MAX_ITER, KMEANS_TOL = 300, 1e-4  # scikit-learn's KMeans defaults


def _squared_distances(x: torch.Tensor, centers: torch.Tensor, x_sq: torch.Tensor) -> torch.Tensor:
    """||x_i - c_j||^2, shape (N, C), by the expansion |x|^2 - 2 x.c + |c|^2 (clamped at 0)."""
    return (x_sq[:, None] - 2 * x @ centers.T + centers.square().sum(1)).clamp_min_(0)


def kmeans_plusplus(x: torch.Tensor, n_clusters: int, generator: torch.Generator) -> torch.Tensor:
    """Indices (n_clusters,) of greedy k-means++ seeds among the rows of ``x``."""
    n = x.shape[0]
    trials = 2 + int(math.log(n_clusters))
    x_sq = x.square().sum(1)
    chosen = torch.randint(n, (1,), generator=generator, device=x.device)
    closest = _squared_distances(x, x[chosen], x_sq)[:, 0]
    for _ in range(1, n_clusters):
        if closest.sum() > 0:
            candidates = torch.multinomial(closest, trials, replacement=True, generator=generator)
        else:
            candidates = torch.randint(n, (trials,), generator=generator, device=x.device)
        d2 = torch.minimum(closest[:, None], _squared_distances(x, x[candidates], x_sq))
        best = int(d2.sum(0).argmin())
        closest = d2[:, best]
        chosen = torch.cat([chosen, candidates[best:best + 1]])
    return chosen


def kmeans_labels(x: torch.Tensor, n_clusters: int, generator: torch.Generator,
                  max_iter: int = KMEANS_MAX_ITER, tol: float = KMEANS_TOL) -> torch.Tensor:
    """Cluster labels (N,) of Lloyd's algorithm from k-means++ seeds; it stops when no label
    changes or when the centers move by sum_k ||c_k' - c_k||^2 <= tol * mean_j var(x_j)."""
    centers = x[kmeans_plusplus(x, n_clusters, generator)]
    x_sq = x.square().sum(1)
    threshold = tol * x.var(0, correction=0).mean()
    labels = _squared_distances(x, centers, x_sq).argmin(1)
    for _ in range(max_iter):
        counts = torch.bincount(labels, minlength=n_clusters)
        sums = torch.zeros_like(centers).index_add_(0, labels, x)
        moved = torch.where(counts[:, None] > 0, sums / counts.clamp_min(1)[:, None], centers)
        shift, centers = (moved - centers).square().sum(), moved
        new = _squared_distances(x, centers, x_sq).argmin(1)
        if torch.equal(new, labels) or shift <= threshold:
            return new
        labels = new
    return labels


def initial_responsibilities(x: torch.Tensor, n_components: int, method: str,
                             generator: torch.Generator) -> torch.Tensor:
    """Responsibilities (N, K) to start EM from (see the module docstring for ``method``)."""
    if method == "random":
        resp = torch.rand(x.shape[0], n_components, generator=generator, dtype=x.dtype, device=x.device)
        return resp / resp.sum(1, keepdim=True)
    if method == "kmeans":
        labels = kmeans_labels(x, n_components, generator)
    elif method == "kmeans++":
        seeds = x[kmeans_plusplus(x, n_components, generator)]
        labels = _squared_distances(x, seeds, x.square().sum(1)).argmin(1)
    else:
        raise ValueError(f"unknown init {method!r}; choose from {', '.join(INIT_METHODS)}, "
                         "or pass weights_init, means_init and precisions_init")
    return torch.nn.functional.one_hot(labels, n_components).to(x.dtype)
