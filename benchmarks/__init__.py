"""aegrad's benchmark harness: side-by-side speed and quality against its peers.

``python -m benchmarks`` (``make bench``) runs the reference task RT1 and writes
bench.json; ``python -m benchmarks --render bench.json`` prints its Markdown
tables again. See benchmarks/README.md.
"""
