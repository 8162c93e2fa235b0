"""``manuscript check``: run process and cite in memory and report; write nothing."""

from __future__ import annotations

import logging

from . import cite, pandoc, process
from .config import Config

logger = logging.getLogger(__name__)


def check(config: Config) -> None:
    processed = process.process(config)
    ast = pandoc.markdown_to_ast(processed.markdown)
    input_ids, aliases = cite.collect_citekeys(ast)
    settings = processed.variables["pandoc"]
    aliases = {**(settings.get("citekey-aliases") or {}), **aliases}
    bibliography_files = [config.root / p for p in settings.get("bibliography", [])]
    manual = cite.load_manual_references(bibliography_files, settings.get("references") or [])
    prior = cite.load_prior_build(config.output_dir)
    bibliography = cite.resolve(config, input_ids, aliases, manual, prior)
    logger.info("%d sections, %d references", len(processed.sections),
                len(bibliography.csl_items))
