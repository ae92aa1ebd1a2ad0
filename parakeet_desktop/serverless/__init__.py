"""Serverless workers around the engine (RunPod's): no service, one job at a time."""
