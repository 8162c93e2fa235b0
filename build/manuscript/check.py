"""``manuscript check``: run process and cite in memory and report; write nothing."""

from __future__ import annotations

import logging

from . import cite, pandoc, process
from .config import Config

logger = logging.getLogger(__name__)


def check(config: Config) -> None:
    processed = process.process(config)
    ast = pandoc.markdown_to_ast(processed.markdown)
    bibliography = cite.cite(config, *cite.collect_citekeys(ast), processed.variables["pandoc"])
    logger.info("%d sections, %d references", len(processed.sections),
                len(bibliography.csl_items))
