"""On-policy multi-agent RL: AgentMixer and the baselines it is compared against."""
__version__ = "0.1.0"
