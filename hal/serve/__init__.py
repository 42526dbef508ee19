"""hal.serve: an OpenAI-compatible server with continuous batching (``python -m hal serve``).

    from hal.serve.app import Options, create_app
    app = create_app(model, Options(model_id="SmolLM2"))      # an ASGI app; its lifespan runs the engine
    uvicorn.run(app, host="127.0.0.1", port=8080)

Modules: engine (the scheduler thread, continuous batching), kvpool (the bounded KV
memory), protocol (OpenAI's request bodies and errors), app (the routes), metrics
(Prometheus, vLLM's names under ``hal:``), cli (the command; it imports the server's
libraries only when it runs, so ``python -m hal`` works without the ``serve`` extra),
replicas (an engine per device behind one router: ``--devices``), distributed (Ray Serve).
"""
