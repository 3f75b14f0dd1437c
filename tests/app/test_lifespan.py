"""What the service does with its process as it starts and stops (app/main.py, the lifespan)."""

from __future__ import annotations

import gc
from pathlib import Path

from app.config import Settings
from app.main import create_app
from app.migrate import upgrade_async


async def test_what_starting_made_is_kept_out_of_the_collectors_passes_while_serving(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'teamwell.db'}"
    await upgrade_async(url)
    app = create_app(Settings(data_dir=tmp_path, database_url=url, jobs_in_service=False))
    gc.unfreeze()  # whatever an earlier test left
    async with app.router.lifespan_context(app):
        # The application's own objects among the frozen: the collector no longer walks them.
        assert gc.get_freeze_count() > 0
        assert not any(o is app for o in gc.get_objects())
    assert gc.get_freeze_count() == 0
