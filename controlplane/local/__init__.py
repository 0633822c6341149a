"""Single-machine mode: running real Prometheus beside emulator or vLLM replicas, and the demo."""
