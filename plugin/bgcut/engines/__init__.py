"""The engines that turn a source into a Cutout: the BackgroundCut service (cloud) and the
offline model (local), both behind the Engine protocol (protocol).

Nothing is imported here, so `bgcut.engines.local` loads without `requests` and
`bgcut.engines.cloud` without onnxruntime.
"""
