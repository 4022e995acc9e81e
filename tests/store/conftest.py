"""The `ctx` fixture: a project with labels "cat" and "dog" and a video, on each database."""

from __future__ import annotations

import pytest
from store_helpers import Ctx, add_file

from labelport.store import Store


@pytest.fixture
def ctx(store: Store) -> Ctx:
    project = store.create_project("proj", "Project")
    cat, dog = store.create_labels(project.id, ["cat", "dog"])
    video = add_file(store, project.id, "video", width=640, height=480, frame_count=1000)
    return Ctx(store, project.id, cat.id, dog.id, video.id)
