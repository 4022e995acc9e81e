"""labelport: import existing annotations into a training-data project, checked and fast."""

from typing import Any

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # Lazy: `import labelport` stays cheap for the CLI and the server; the SDK pulls in httpx.
    if name == "Project":
        from labelport.sdk import Project

        return Project
    raise AttributeError(f"module 'labelport' has no attribute {name!r}")
