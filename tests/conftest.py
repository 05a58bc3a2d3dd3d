from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared`` next to the checkout; tests that need it skip when it is absent."""
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent (licensed data are not part of the project)")
    return SHARED


@pytest.fixture(scope="session")
def h36m_poses(shared_dir):
    import numpy as np

    path = shared_dir / "data" / "h36m-poses" / "train_S1_S5_S6_S7_S8_every5.npz"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return np.load(path)
