"""Tests of Kubernetes actuation: the actuator, leader election and the API server stand-in."""
