"""The service against the servers a user would pick instead (Triton, LitServe, Ray Serve, mosec,
BentoML): same models, cores, batching limits and load. `python -m bench.peers` / `make bench-peers`.
"""
