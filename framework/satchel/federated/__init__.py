"""Federated learning of a pipeline's shared model on Flower, with differential privacy.

A pipeline declares ``[pipelines.X.federated]``; each app is a Flower ``ClientApp`` that trains the
shared :class:`~satchel.model.spec.ModelSpec` on the learner's own data with the pipeline's backend
and sends only a clipped weights delta (:func:`satchel.federated.client.contribute`, behind the
core consent gate and the learner's sealed privacy budget). The ``ServerApp`` averages the deltas
inside Flower's DP wrapper, under SecAgg+. The new global model is sealed on each device and
becomes the starting point (and shrinkage target) of safe personal training.

Nothing here imports Flower at module level except :mod:`satchel.federated.flower`.
"""
