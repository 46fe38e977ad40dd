"""A toy task plugin so config and registry tests do not depend on the real models."""

from __future__ import annotations

import types

from pydantic import BaseModel, ConfigDict, Field

from satchel import hookimpl
from satchel.plugin.records import BackendSpec, FeaturizerSpec, KeyProviderSpec, ModelTaskSpec, StoreSpec


class ToyModelOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    hidden: int = Field(8, ge=1)


def _factory(options, **context):
    return options


def make_toy_plugin(model: str = "toy", featurizer: str = "toy_features", backend: str = "toy_backend"):
    plugin = types.SimpleNamespace()

    @hookimpl
    def satchel_models():
        yield ModelTaskSpec(
            name=model,
            factory=_factory,
            options=ToyModelOptions,
            featurizer=featurizer,
            purposes=("toy_purpose", "other_purpose"),
            description="a toy task",
        )

    @hookimpl
    def satchel_featurizers():
        yield FeaturizerSpec(name=featurizer, factory=_factory, reads=("toy_event",))

    @hookimpl
    def satchel_trainer_backends():
        yield BackendSpec(name=backend, factory=_factory)

    @hookimpl
    def satchel_checkpoint_stores():
        yield StoreSpec(name="toy_store", factory=_factory)

    @hookimpl
    def satchel_key_providers():
        yield KeyProviderSpec(name="toy_keys", factory=_factory)

    plugin.satchel_key_providers = satchel_key_providers
    plugin.satchel_models = satchel_models
    plugin.satchel_featurizers = satchel_featurizers
    plugin.satchel_trainer_backends = satchel_trainer_backends
    plugin.satchel_checkpoint_stores = satchel_checkpoint_stores
    return plugin


TOY_CONFIG = """
[app]
id = "toy-app"
data_dir = "data"
key_dir = "keys"

[privacy]
key_provider = "toy_keys"

[pipelines.main]
model = { name = "toy", options = { hidden = 4 } }
purposes = ["toy_purpose"]
backend = "toy_backend"
scheduler = { name = "conditions", options = { min_interval = "2h", quiet_hours = "22:00-07:00" } }
store = "toy_store"
"""
