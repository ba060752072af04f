"""psy-agents: DSM-5 depression-symptom models on ReDSM5. `psy_agents.load_model(path)` loads a trained model."""


def __getattr__(name: str):
    # Lazy, so `import psy_agents.config` (every stage and test) does not pay for torch and transformers.
    if name == "load_model":
        from psy_agents.inference import load_model

        return load_model
    raise AttributeError(f"module 'psy_agents' has no attribute {name!r}")
