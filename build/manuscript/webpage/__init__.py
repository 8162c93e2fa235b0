"""The versioned website: version list, small pages, content-addressed store, the stage."""

from .pages import redirect_page, removed_page, versions_index
from .site import Site, add_assets, build_webpage, finish, published_files
from .store import STORE
from .versions import (
    RESERVED_ROOT,
    RESERVED_VERSIONS,
    VERSIONS_JSON,
    merge_versions,
    read_versions,
    sort_versions,
    validate_version,
    versions_json,
)

__all__ = [
    "RESERVED_ROOT", "RESERVED_VERSIONS", "STORE", "VERSIONS_JSON", "Site", "add_assets",
    "build_webpage", "finish", "merge_versions", "published_files", "read_versions",
    "redirect_page", "removed_page", "sort_versions", "validate_version", "versions_index",
    "versions_json",
]
