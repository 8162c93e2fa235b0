"""Browser tests (a package, so its test modules may share base names with tests/)."""
