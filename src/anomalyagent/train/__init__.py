"""Training the agent: our own SFT + GRPO for the embedded policy, and TRL for language models.

``sft`` / ``grpo`` / ``rollout`` / ``prompts`` train and measure ``policy_net``;
``recipe`` chains them (``anomalyagent train policy``); ``environment`` is the ToolBox as a
TRL ``environment_factory``; ``trl_run`` runs TRL's SFT and GRPO trainers
(``anomalyagent train sft|grpo``). Rewards: ``anomalyagent.rewards``.
"""
