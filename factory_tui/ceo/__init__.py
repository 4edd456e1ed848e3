"""The CEO: the orchestration above the agents and the eval.

`run.Pipeline` is a run's lifecycle, `cycle.Cycle` one cycle's steps, `policy` what each mode
changes, `decide` the verdict and the approval gate, `build` build mode's first step,
`playbooks` what meta mode curates, `agent_calls` how an agent is called.
"""
