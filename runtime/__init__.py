"""The ALI model runtime: what the server and training share, with no web dependency.

- `manifest`: the model manifest schema, the one contract between training and serving.
- `model`, `options`: onnxruntime sessions for a model folder (providers, session options,
  warm-up), opened with a plain `RuntimeOptions`.
- `samplers`: GET /sample's samplers (ancestral, DRS, Gibbs) in numpy over any three networks.
- `grid`: the PNG grid writer (numpy + zlib).
- `cores`: core tokens, the CPU budget all worker processes' model calls share.

Training may import this package and nothing of `service` (pyproject.toml's import contracts).
"""
