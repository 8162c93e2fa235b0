"""The checks of ``manuscript check``, one module per family, each returning Problems.

Every check reads the raw sources (``content/NN.*.md``, ``metadata.yaml``, the manual
references), because pandoc's Markdown reader keeps no source positions: a problem is
reported at the line and column (1-based, in characters) an author can jump to.
``markdown.scan`` finds what the checks need in the sections once.
"""
