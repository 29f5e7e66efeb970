"""Benchmarks the product runs (the web UI's Benchmark page, `jobs.benchmark`) and `make bench`
builds on: the HTTP load generator, the statistics of its runs and the training comparison."""
