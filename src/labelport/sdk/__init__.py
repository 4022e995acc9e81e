"""labelport's Python client of the native API (`labelport.Project`)."""

from labelport.sdk.client import DEFAULT_HOST
from labelport.sdk.errors import LabelportHTTPError, PacketRejected, Problem
from labelport.sdk.project import BatchFile, BatchImport, Directory, File, Import, Project

__all__ = [
    "DEFAULT_HOST",
    "BatchFile",
    "BatchImport",
    "Directory",
    "File",
    "Import",
    "LabelportHTTPError",
    "PacketRejected",
    "Problem",
    "Project",
]
