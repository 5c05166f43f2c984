import numpy as np
from scipy import stats

from causality.simulate.rng import keyed_normal, keyed_uniform


def test_dense_grid_and_single_cells_give_the_same_draws():
    users, days = np.arange(50), np.arange(30)
    grid = keyed_uniform(7, "expose", users[:, None], days[None, :], "Email")
    u, d = np.meshgrid(users, days, indexing="ij")
    cells = keyed_uniform(7, "expose", u.ravel(), d.ravel(), "Email")
    np.testing.assert_array_equal(grid.ravel(), cells)


def test_draws_depend_on_every_key_and_nothing_else():
    base = keyed_uniform(1, "expose", np.arange(1000), 5, "Email")
    for other in (
        keyed_uniform(2, "expose", np.arange(1000), 5, "Email"),
        keyed_uniform(1, "convert", np.arange(1000), 5, "Email"),
        keyed_uniform(1, "expose", np.arange(1000), 6, "Email"),
        keyed_uniform(1, "expose", np.arange(1000), 5, "Display"),
        keyed_uniform(1, "expose", np.arange(1, 1001), 5, "Email"),
    ):
        assert not np.any(base == other)
    np.testing.assert_array_equal(base, keyed_uniform(1, "expose", np.arange(1000), 5, "Email"))


def test_uniforms_are_uniform_and_uncorrelated():
    u = keyed_uniform(0, "a", np.arange(200)[:, None], np.arange(500)[None, :])
    assert ((u > 0) & (u < 1)).all()
    assert stats.kstest(u.ravel(), "uniform").pvalue > 1e-3
    assert abs(np.corrcoef(u[:-1].ravel(), u[1:].ravel())[0, 1]) < 0.01
    assert abs(np.corrcoef(u[:, :-1].ravel(), u[:, 1:].ravel())[0, 1]) < 0.01
    f32 = keyed_uniform(0, "a", np.arange(10_000), dtype=np.float32)
    assert f32.dtype == np.float32 and f32.min() >= 0 and f32.max() < 1


def test_normals_are_standard():
    z = keyed_normal(0, "intent", np.arange(200_000))
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01
    assert np.isfinite(z).all()
