import logging
import types
from datetime import datetime, timezone

import pytest
from toy_plugin import make_toy_plugin

from satchel import hookimpl
from satchel.errors import PluginError
from satchel.plugin.records import BackendSpec, EventTypeSpec, NoOptions, SchedulerSpec
from satchel.plugin.registry import Registry
from satchel.testing import isolated_registry


def _plugin(**hooks):
    ns = types.SimpleNamespace()
    for name, fn in hooks.items():
        setattr(ns, name, hookimpl(fn))
    return ns


def test_builtins_come_from_the_satchel_distribution():
    reg = Registry().load()
    origin = reg.origin("scheduler", "conditions")
    assert origin.distribution == "satchel" and origin.builtin


def test_conflict_names_both_plugins():
    reg = isolated_registry({"one": make_toy_plugin(), "two": make_toy_plugin()}, builtins=False)
    with pytest.raises(PluginError) as e:
        reg.all("model")
    assert "is registered twice" in str(e.value)
    assert "plugin 'one'" in str(e.value) and "plugin 'two'" in str(e.value)


def test_failed_lookup_lists_choices(toy_registry):
    with pytest.raises(
        PluginError, match=r"unknown backend 'toybackend'; choose one of: .*toy_backend.*did you mean"
    ):
        toy_registry.get("backend", "toybackend")


def test_records_are_validated_once_at_the_choke_point():
    bad_type = _plugin(satchel_schedulers=lambda: [BackendSpec(name="x", factory=object)])
    with pytest.raises(PluginError, match="expected SchedulerSpec"):
        isolated_registry({"bad": bad_type}, builtins=False).all("scheduler")
    bad_name = _plugin(satchel_schedulers=lambda: [SchedulerSpec(name="Bad Name", factory=object)])
    with pytest.raises(PluginError, match="invalid name"):
        isolated_registry({"bad": bad_name}, builtins=False).all("scheduler")

    class Loose(NoOptions.__base__):  # a BaseModel that allows extra fields
        pass

    loose = _plugin(satchel_schedulers=lambda: [SchedulerSpec(name="loose", factory=object, options=Loose)])
    with pytest.raises(PluginError, match="must forbid extra fields"):
        isolated_registry({"bad": loose}, builtins=False).all("scheduler")
    no_category = _plugin(satchel_event_types=lambda: [EventTypeSpec("x", NoOptions, ())])
    with pytest.raises(PluginError, match="needs data categories"):
        isolated_registry({"bad": no_category}, builtins=False).all("event_type")


def test_a_crashing_plugin_is_named():
    def boom():
        raise RuntimeError("kaput")

    with pytest.raises(PluginError, match="plugin 'crashy'.*kaput"):
        isolated_registry({"crashy": _plugin(satchel_schedulers=boom)}, builtins=False).all("scheduler")


def test_check_pending_catches_misspelled_hooks():
    typo = types.SimpleNamespace(satchel_schedulerz=hookimpl(lambda: []))
    reg = isolated_registry({"typo": typo}, builtins=False)
    with pytest.raises(PluginError, match="satchel_schedulerz"):
        reg.check_pending()


def test_env_switches_select_and_disable_plugins():
    plugins = {"toy": make_toy_plugin(), "other": make_toy_plugin("other", "f2", "b2")}
    only = Registry(plugins, entry_points=False, env={"SATCHEL_PLUGINS": "other"})
    assert set(only.all("model")) == {"other"}
    off = Registry(plugins, entry_points=True, env={"SATCHEL_DISABLE_PLUGINS": "toy,schedulers"})
    assert "toy" not in off.all("model") and "conditions" not in off.all("scheduler")


def test_tracing_logs_every_hook_call(caplog):
    reg = Registry({"toy": make_toy_plugin()}, entry_points=False, env={"SATCHEL_TRACE": "1"})
    with caplog.at_level(logging.INFO, logger="satchel.hooks"):
        reg.all("model")
    assert any("satchel_models" in r.message for r in caplog.records)


def test_runtime_hooks_consent_none_is_not_an_answer():
    from satchel.plugin.records import ConsentRequest, ConsentVerdict

    silent = _plugin(satchel_consent_verdict=lambda request: None)
    deny = _plugin(satchel_consent_verdict=lambda request: ConsentVerdict(False, "no", "deny"))
    req = ConsentRequest("app", "s", ("p",), "record", datetime.now(timezone.utc))
    assert isolated_registry({"silent": silent}, builtins=False).consent_verdicts(req) == []
    verdicts = isolated_registry({"silent": silent, "deny": deny}, builtins=False).consent_verdicts(req)
    assert [v.allow for v in verdicts] == [False]


def test_progress_callback_is_free_without_listeners():
    assert isolated_registry(builtins=False).progress_callback() is None
    seen = []
    listener = _plugin(satchel_training_progress=lambda progress: seen.append(progress))
    cb = isolated_registry({"l": listener}, builtins=False).progress_callback()
    cb("tick")
    assert seen == ["tick"]


def test_kinds_are_collected_independently_and_on_first_use():
    calls = []

    def models():
        calls.append("models")
        raise RuntimeError("kaput")

    def schedulers():
        calls.append("schedulers")
        return [SchedulerSpec(name="s", factory=object)]

    reg = isolated_registry(
        {"p": _plugin(satchel_models=models, satchel_schedulers=schedulers)}, builtins=False
    )
    assert set(reg.all("scheduler")) == {"s"} and calls == ["schedulers"]  # models not asked for yet
    reg.all("scheduler")
    assert calls == ["schedulers"]  # collected once
    with pytest.raises(PluginError, match="plugin 'p'.*satchel_models.*kaput"):
        reg.all("model")
    with pytest.raises(PluginError, match="unknown plugin kind 'modle'"):
        reg.get("modle", "x")


def test_a_plugin_missing_a_dependency_in_its_hook_says_how_to_get_past_it():
    def schedulers():
        import satchel_no_such_module  # noqa: F401 - a component module whose dependency is missing

    reg = isolated_registry({"needy": _plugin(satchel_schedulers=schedulers)}, builtins=False)
    with pytest.raises(PluginError) as e:
        reg.all("scheduler")
    message = str(e.value)
    assert "plugin 'needy'" in message and "satchel_no_such_module" in message
    assert "SATCHEL_DISABLE_PLUGINS=needy" in message
