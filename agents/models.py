"""Agent, AgentVersion, Run and the rest of the run model live here (issue 3)."""
