import numpy as np
import pytest
import torch

torch.set_default_dtype(torch.float64)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def quadratic_phase_matrix(h, A, mu, c, m=1.0, curl=True, magnetic=True, friction=True):
    """Independent numpy construction of eq. 36's linear phase-space matrix
    for z = [x, y, vx, vy] (charge factor c multiplies the mixed block)."""
    n = A.shape[0]
    I, Z = np.eye(n), np.zeros((n, n))
    acc_x = np.hstack([-h * I if curl else Z, -A if curl else Z,
                       -mu * I if friction else Z, -c * A if magnetic else Z]) / m
    acc_y = np.hstack([A.T if curl else Z, -h * I if curl else Z,
                       c * A.T if magnetic else Z, -mu * I if friction else Z]) / m
    pos = np.hstack([np.zeros((2 * n, 2 * n)), np.eye(2 * n)])
    return np.vstack([pos, acc_x, acc_y])
