"""The server's Prometheus metrics, named as vLLM names them (under ``hal:`` instead of
``vllm:``, https://docs.vllm.ai/en/latest/design/metrics.html) so that dashboards
made for vLLM work. Labels carry the model's name only: prompts and outputs never
reach the metrics."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# vLLM's buckets (seconds).
TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
                20.0, 40.0, 80.0, 160.0, 640.0, 2560.0)
ITL_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0,
               40.0, 80.0)
REQUEST_BUCKETS = (0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0,
                   240.0, 480.0, 960.0, 1920.0, 7680.0)


class Metrics:
    """One registry per server (several servers can live in one process)."""

    def __init__(self, model_name: str):
        self.registry = CollectorRegistry()
        self.model_name = model_name

        def labelled(kind, name, doc, **kw):
            return kind(f"hal:{name}", doc, ["model_name"], registry=self.registry, **kw).labels(model_name)

        self.first_token = labelled(Histogram, "time_to_first_token_seconds", "Time to first token.",
                                    buckets=TTFT_BUCKETS)
        self.inter_token = labelled(Histogram, "inter_token_latency_seconds", "Time between two tokens.",
                                    buckets=ITL_BUCKETS)
        self.e2e = labelled(Histogram, "e2e_request_latency_seconds", "Arrival to last token.",
                            buckets=REQUEST_BUCKETS)
        self.queue_time = labelled(Histogram, "request_queue_time_seconds", "Time spent waiting for a KV cache.",
                                   buckets=REQUEST_BUCKETS)
        self.prompt_tokens = labelled(Counter, "prompt_tokens", "Prompt tokens read.")
        self.generation_tokens = labelled(Counter, "generation_tokens", "Tokens generated.")
        self.prefix_queries = labelled(Counter, "prefix_cache_queries", "Prompt tokens looked up in the prefix cache.")
        self.prefix_hits = labelled(Counter, "prefix_cache_hits", "Prompt tokens found in the prefix cache.")
        self.running = labelled(Gauge, "num_requests_running", "Requests in the running set.")
        self.waiting = labelled(Gauge, "num_requests_waiting", "Requests waiting for a KV cache.")
        self.kv_usage = labelled(Gauge, "kv_cache_usage_perc", "KV-cache usage: 1 means 100 percent.")
        self._success = Counter("hal:request_success", "Requests finished, by why they ended.",
                                ["model_name", "finished_reason"], registry=self.registry)

    def finished(self, reason: str) -> None:
        self._success.labels(self.model_name, reason).inc()

    def exposition(self) -> bytes:
        """The Prometheus text format."""
        return generate_latest(self.registry)
