"""AI orchestration: which model serves a generation, what happens when it fails, and what it costs.

- `routing.ModelRouter` — routes per tier, the character's model, the chat's pick, creative mode.
- `service.Orchestrator` — runs a generation along its route: fallback (mid-stream included), timeouts,
  the memory budget (`residency`), one usage record per attempt, and the accounting policy.
- `accounting` — prices, `Usage`, and the `AccountingPolicy` protocol payments implements (the contract).
- `store` — the `ai_usage` table and its aggregates; the default model chosen by command.
- `catalog`, `gguf`, `hub` — the model list with GGUF metadata and state; downloads from a hub.

HTTP lives elsewhere: `bostonia.ai_api` (the `/api/v1/ai` and OpenAI-compatible `/v1` routes) sits above
chat, which uses this package.
"""
