"""satchel's built-in plugins: the habit, language and rubric tasks, the LiteRT and ONNX Runtime
backends, key providers, the encrypted checkpoint store, the conditions scheduler, consent and
device state."""

import satchel  # noqa: F401  (keeps the old module paths of this package importable for one release)
