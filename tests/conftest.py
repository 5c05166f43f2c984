import os
from pathlib import Path

import pandas as pd
import pytest

# Scripts and packages that are not test modules (imported only by name, or by pip).
collect_ignore_glob = ["reference/*.py", "plugins/toy_plugin/*"]

SHARED_DATA = Path(
    os.environ.get("CAUSALITY_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.fail(
            f"the shared sample data is expected at {SHARED_DATA} (the folder shared/data "
            "beside this clone); set CAUSALITY_SHARED_DATA=/path/to/shared/data to use another"
        )
    return SHARED_DATA


@pytest.fixture(scope="session")
def data_csv(shared_data) -> pd.DataFrame:
    return pd.read_csv(shared_data / "channelattribution" / "Data.csv", sep=";")
