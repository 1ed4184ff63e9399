"""Benchmarks for rmbg: our pipeline against the RMBG-2.0 model card's snippet.

``python -m bench --help``; ``bench.run.main(argv)`` is the entry point.
"""
