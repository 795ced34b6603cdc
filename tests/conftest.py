"""Shared fixtures: the real EPEX data lives beside the repository in ../shared/data (never copied here)."""

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"{SHARED_DATA} is missing: tests need ../shared/data beside the repository")
    return SHARED_DATA


@pytest.fixture(scope="session")
def epex_h00(shared_data) -> Path:
    return shared_data / "epex_de_2015_h00.csv"


@pytest.fixture(scope="session")
def epex_hourly(shared_data) -> Path:
    return shared_data / "epex_de_2015_hourly.csv"


@pytest.fixture(scope="session")
def epftoolbox_csv(shared_data) -> Path:
    return shared_data / "epftoolbox_DE_2015.csv"
